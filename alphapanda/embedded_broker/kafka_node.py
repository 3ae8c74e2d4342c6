"""One Apache Kafka node in KRaft mode (combined broker and controller): one JVM on this machine.

Its files live under its own folder (``DATA_DIR/broker/node-I``): the rendered
``server.properties``, the pid and log files, and ``data/`` (``log.dirs``), formatted on the
first start and kept after that, so topics, offsets, groups, changelogs and dead letters survive
a stop, a crash and a SIGKILL. Kafka's own scripts are not needed: the JVM is started on the jars
that :mod:`alphapanda.embedded_broker.install` laid out. :mod:`.kafka` puts nodes together into
a cluster and says what each one's configuration holds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from alphapanda.embedded_broker import install
from alphapanda.embedded_broker.errors import BrokerError
from alphapanda.embedded_broker.logging_config import log_config_flag
from alphapanda.embedded_broker.process import BrokerProcess, alive
from alphapanda.kafka_probe import is_listening

__all__ = ["KafkaNode", "READY_LINE", "class_archive", "class_data_sharing", "free_port"]

#: Logged once the broker is unfenced and serves clients (KAFKA.md).
READY_LINE = b"Kafka Server started"
BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


def class_archive(libs: Path) -> Path:
    """Where the shared class archive of these jars and this JVM lives."""
    java = hashlib.sha1(os.path.realpath(install.java()).encode()).hexdigest()[:10]
    return libs.parent / f"broker-classes-{java}.jsa"


def class_data_sharing(libs: Path) -> list[str]:
    """JVM flags that load Kafka's classes from the archive ``build_class_archive`` made.

    Class loading is most of a start (measured: 2.7 s without it, 1.7 s with it).
    """
    archive = class_archive(libs)
    return [f"-XX:SharedArchiveFile={archive}"] if archive.exists() else []


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class KafkaNode(BrokerProcess):
    """Node ``node_id`` of a local cluster: its client listener at ``host:port``, files in ``node_dir``.

    Responsibilities: keep its extra ports (chosen free once, then kept: they are in every node's
    configuration), format its storage once, start its JVM, wait until it serves, and say whether
    it runs. What its configuration holds is the cluster's business (:mod:`.kafka`).
    """

    node_id: int
    host: str
    port: int
    node_dir: Path
    heap_mb: int = 256
    version: str = install.KAFKA_VERSION
    extra_jvm_flags: tuple[str, ...] = ()

    kind = "kafka"
    stop_timeout = 60.0
    _log_offset = 0

    @property
    def log_dirs(self) -> Path:
        return self.node_dir / "data"

    @property
    def pid_file(self) -> Path:
        return self.node_dir / "kafka.pid"

    @property
    def log_file(self) -> Path:
        return self.node_dir / "kafka.log"

    @property
    def properties_file(self) -> Path:
        return self.node_dir / "server.properties"

    @property
    def pid_marker(self) -> bytes:
        return str(self.properties_file).encode()

    @property
    def is_formatted(self) -> bool:
        return (self.log_dirs / "meta.properties").exists()

    def kept_port(self, name: str) -> int:
        """A port of this node besides the client one (``controller``, ``internal``): chosen free
        once, then kept in ``NAME.port``."""
        self.node_dir.mkdir(parents=True, exist_ok=True)
        path = self.node_dir / f"{name}.port"
        try:
            return int(path.read_text())
        except (FileNotFoundError, ValueError):
            port = free_port(self.host)
            path.write_text(str(port))
            return port

    def check_ports_free(self, ports: list[int]) -> None:
        if is_listening(self.host, self.port):
            raise BrokerError(
                f"{self.address} is in use by another program, not node {self.node_id} of the embedded "
                f"broker in {self.node_dir.parent.parent}: stop it, or point KAFKA_URL at another port"
            )
        for port in ports:
            if is_listening(self.host, port):
                raise BrokerError(f"port {self.host}:{port} of embedded broker node {self.node_id} ({self.node_dir}) "
                                  "is in use by another program")

    # Format -----------------------------------------------------------------------------

    def format_command(self, libs: Path, cluster_id: str, extra: list[str]) -> list[str]:
        return [
            install.java(), "-Xmx128m", log_config_flag(self.node_dir, install.major(self.version), tool=True),
            "-cp", f"{libs}/*", STORAGE_TOOL, "format", "-t", cluster_id, "-c", str(self.properties_file), *extra,
        ]

    def copy_format(self, template: Path) -> None:
        shutil.copytree(template, self.log_dirs, dirs_exist_ok=True)

    # Start ------------------------------------------------------------------------------

    def launch(self, libs: Path) -> int:
        """Start the JVM in its own session (it outlives this process); ``wait_ready`` waits for it."""
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        command = [
            install.java(), f"-Xmx{self.heap_mb}m", f"-Xms{min(self.heap_mb, 128)}m",
            "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
            # The quick compiler only. A fresh broker's optimising (C2) compiler took 30-50 % of a
            # core for its first ten seconds of real traffic, beside the workers on two cores (the
            # bench's first seconds had 3x the later p99); C1's code relayed as fast here.
            "-XX:TieredStopAtLevel=1",
            *(self.extra_jvm_flags or class_data_sharing(libs)),
            log_config_flag(self.node_dir, install.major(self.version), tool=False),
            "-cp", f"{libs}/*", BROKER_MAIN, str(self.properties_file),
        ]
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        self._process = process
        self.pid_file.write_text(str(process.pid))
        return process.pid

    def wait_ready(self, deadline: float) -> None:
        """Return once the node logged that it serves and its port answers (by ``deadline``)."""
        process, offset = self._process, self._log_offset
        timeout = deadline - time.monotonic()
        seen, ready = offset, False
        while time.monotonic() < deadline:
            if process.poll() is not None or not alive(process.pid):
                self.pid_file.unlink(missing_ok=True)
                raise BrokerError(f"Kafka node {self.node_id} exited with {process.returncode} while starting:\n{self._log_tail(offset)}")
            if not ready:
                # Read on from where the last look stopped (less the line's length, in case it was cut).
                start = max(offset, seen - len(READY_LINE))
                chunk = self._log_since(start)
                seen = start + len(chunk)
                ready = READY_LINE in chunk
            if ready and is_listening(self.host, self.port, timeout=0.2):
                return
            time.sleep(0.05)
        raise BrokerError(f"Kafka node {self.node_id} did not serve at {self.address} within {max(timeout, 0):.0f} s; "
                          f"see {self.log_file}")

    def _log_since(self, offset: int) -> bytes:
        try:
            with open(self.log_file, "rb") as log:
                log.seek(offset)
                return log.read()
        except OSError:
            return b""

    def _log_tail(self, offset: int, lines: int = 20) -> str:
        text = self._log_since(offset).decode(errors="replace").splitlines()
        return "\n".join(text[-lines:]) or f"(nothing logged; see {self.log_file})"
