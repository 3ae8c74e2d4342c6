"""One Apache Kafka node in KRaft mode (combined broker and controller) on this machine.

Its files live under ``DATA_DIR/broker/node-1``: the rendered ``server.properties``, the pid and
log files, and ``data/`` (``log.dirs``), which is formatted on the first start and kept after
that, so topics, offsets, groups, changelogs and dead letters survive a stop, a crash and a
SIGKILL. Kafka's own scripts are not needed: the JVM is started on the jars that
:mod:`alphapanda.embedded_broker.install` laid out.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from alphapanda.embedded_broker import install
from alphapanda.embedded_broker.errors import BrokerError
from alphapanda.embedded_broker.logging_config import log_config_flag
from alphapanda.embedded_broker.process import BrokerProcess, alive
from alphapanda.kafka_probe import is_listening

__all__ = ["KafkaBroker", "READY_LINE", "build_class_archive", "new_cluster_id"]

#: Logged once the broker is unfenced and serves clients (KAFKA.md).
READY_LINE = b"Kafka Server started"
BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
NODE_ID = 1


def new_cluster_id() -> str:
    """16 random bytes, base64url without padding, never starting with ``-`` (StorageTool's rule)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def class_archive(libs: Path) -> Path:
    """Where the shared class archive of these jars and this JVM lives."""
    java = hashlib.sha1(os.path.realpath(install.java()).encode()).hexdigest()[:10]
    return libs.parent / f"broker-classes-{java}.jsa"


def class_data_sharing(libs: Path) -> list[str]:
    """JVM flags that load Kafka's classes from the archive :func:`build_class_archive` made.

    Class loading is most of a start (measured: 2.7 s without it, 1.7 s with it).
    """
    archive = class_archive(libs)
    return [f"-XX:SharedArchiveFile={archive}"] if archive.exists() else []


def build_class_archive(version: str = install.KAFKA_VERSION) -> Path:
    """Start and cleanly stop a throwaway node once, so that the JVM archives the classes it
    loaded (``make install`` does this after Maven)."""
    libs = install.require(version)
    archive = class_archive(libs)
    if archive.exists():
        return archive
    with tempfile.TemporaryDirectory(prefix="alphapanda-kafka-cds-") as work:
        partial = Path(work) / "classes.jsa"
        node = KafkaBroker("127.0.0.1", _free_port("127.0.0.1"), Path(work), version=version,
                           extra_jvm_flags=(f"-XX:ArchiveClassesAtExit={partial}",))
        node.start()
        node.stop()
        if partial.exists() and partial.stat().st_size > 0:
            shutil.move(partial, archive)
    return archive


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class KafkaBroker(BrokerProcess):
    """A single-node Kafka cluster at ``host:port`` with its state under ``data_dir/broker``.

    Responsibilities: render the node's configuration, format its storage once, start the JVM
    and wait until it serves, stop it cleanly (SIGTERM: a controlled shutdown), and tell whether
    it runs. ``heap_mb`` is the JVM heap (``EMBEDDED_BROKER_HEAP_MB``).
    """

    host: str
    port: int
    data_dir: Path
    heap_mb: int = 256
    version: str = install.KAFKA_VERSION
    #: A formatted, never started ``data/`` to copy instead of running StorageTool (tests start
    #: many brokers; a copy takes milliseconds, a format a JVM start). Made on first use.
    format_template: Path | None = None
    extra_jvm_flags: tuple[str, ...] = ()

    kind = "kafka"
    stop_timeout = 60.0

    # Files ------------------------------------------------------------------------------

    @property
    def node_dir(self) -> Path:
        return self.data_dir / "broker" / f"node-{NODE_ID}"

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

    # State ------------------------------------------------------------------------------

    @property
    def pid_marker(self) -> bytes:
        return str(self.properties_file).encode()

    # Start and stop ---------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> int:
        """Start the node in its own session (it outlives this process); return once it serves.

        A running node is left as it is. A port held by another program is an error.
        """
        if (pid := self.pid()) is not None:
            return pid
        libs = install.require(self.version)
        if is_listening(self.host, self.port):
            raise BrokerError(
                f"{self.address} is in use by another program, not the embedded broker of "
                f"{self.data_dir}: stop it, or point KAFKA_URL at another port"
            )
        self.node_dir.mkdir(parents=True, exist_ok=True)
        controller_port = self._controller_port()
        self.properties_file.write_text(self._properties(controller_port))
        if not (self.log_dirs / "meta.properties").exists():
            self._format(libs)
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        command = [
            install.java(), f"-Xmx{self.heap_mb}m", f"-Xms{min(self.heap_mb, 128)}m",
            "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
            *(self.extra_jvm_flags or class_data_sharing(libs)),
            log_config_flag(self.node_dir, install.major(self.version), tool=False),
            "-cp", f"{libs}/*", BROKER_MAIN, str(self.properties_file),
        ]
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        self._process = process
        self.pid_file.write_text(str(process.pid))
        self._wait_ready(process, offset, timeout)
        return process.pid

    # Internals --------------------------------------------------------------------------

    def _controller_port(self) -> int:
        """The KRaft controller's port: chosen free once, then kept (it is in the quorum config)."""
        path = self.node_dir / "controller.port"
        try:
            port = int(path.read_text())
        except (FileNotFoundError, ValueError):
            port = _free_port(self.host)
            path.write_text(str(port))
        if is_listening(self.host, port):
            raise BrokerError(f"the embedded broker's controller port {self.host}:{port} ({path}) is in use by another program")
        return port

    def _properties(self, controller_port: int) -> str:
        host = self.host
        settings = {
            "process.roles": "broker,controller",
            "node.id": NODE_ID,
            "controller.quorum.voters": f"{NODE_ID}@{host}:{controller_port}",
            "listeners": f"PLAINTEXT://{host}:{self.port},CONTROLLER://{host}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": self.log_dirs,
            # One node: the internal topics cannot have 3 replicas; a few partitions suit it.
            "offsets.topic.replication.factor": 1,
            "offsets.topic.num.partitions": 8,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "transaction.state.log.num.partitions": 4,
            "default.replication.factor": 1,
            "min.insync.replicas": 1,
            # After a crash the restarted controller holds the node's new registration until the
            # old one's session ends (9 s by default): a start after a SIGKILL took 15 s.
            "broker.heartbeat.interval.ms": 500,
            "broker.session.timeout.ms": 2500,
            # Faust's first group join would otherwise wait 3 s.
            "group.initial.rebalance.delay.ms": 0,
            # The cleaner compacts the changelogs; its default 128 MiB buffer is most of a small heap.
            "log.cleaner.dedupe.buffer.size": 8 * 1024 * 1024,
            "num.network.threads": 2,
            "num.io.threads": 4,
            "background.threads": 4,
            "num.recovery.threads.per.data.dir": 2,
        }
        if install.major(self.version) >= 4:
            settings["share.coordinator.state.topic.replication.factor"] = 1
            settings["share.coordinator.state.topic.min.isr"] = 1
        lines = ["# Rendered by alphapanda broker start on every start; edits are overwritten."]
        lines += [f"{key}={value}" for key, value in settings.items()]
        return "\n".join(lines) + "\n"

    def _format(self, libs: Path) -> None:
        template = self.format_template
        if template is not None and (template / "meta.properties").exists():
            shutil.copytree(template, self.log_dirs, dirs_exist_ok=True)
            return
        command = [
            install.java(), "-Xmx128m", log_config_flag(self.node_dir, install.major(self.version), tool=True),
            "-cp", f"{libs}/*", STORAGE_TOOL, "format", "-t", new_cluster_id(), "-c", str(self.properties_file),
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise BrokerError(f"formatting {self.log_dirs} failed: {(result.stdout + result.stderr).strip()[-2000:]}")
        if template is not None and not template.exists():
            shutil.copytree(self.log_dirs, template)

    def _wait_ready(self, process: subprocess.Popen, offset: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        seen, ready = offset, False
        while time.monotonic() < deadline:
            if process.poll() is not None or not alive(process.pid):
                self.pid_file.unlink(missing_ok=True)
                raise BrokerError(f"Kafka exited with {process.returncode} while starting:\n{self._log_tail(offset)}")
            if not ready:
                # Read on from where the last look stopped (less the line's length, in case it was cut).
                start = max(offset, seen - len(READY_LINE))
                chunk = self._log_since(start)
                seen = start + len(chunk)
                ready = READY_LINE in chunk
            if ready and is_listening(self.host, self.port, timeout=0.2):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"Kafka did not serve at {self.address} within {timeout:.0f} s; see {self.log_file}")

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
