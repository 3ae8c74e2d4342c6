"""The process side of an embedded broker: pid files that are checked, and stopping a pid."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from alphapanda.kafka_probe import is_listening

__all__ = ["BrokerProcess", "alive", "await_exit", "read_pid", "stop_pid"]


def read_pid(pid_file: Path, marker: bytes) -> int | None:
    """The pid in ``pid_file`` when that process is alive and its command line holds ``marker``.

    A stale pid file (the process is gone, or the pid was reused by another program) is removed.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    if marker not in cmdline or not alive(pid):
        pid_file.unlink(missing_ok=True)
        return None
    return pid


def alive(pid: int) -> bool:
    try:
        # Reap it if it is our child (run and the tests start it), so it does not linger as a zombie.
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


def stop_pid(pid: int, timeout: float, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` and wait for the process to end; SIGKILL it after ``timeout`` seconds."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    await_exit(pid, time.monotonic() + timeout)


def await_exit(pid: int, deadline: float) -> None:
    """Wait until the process has ended; SIGKILL it at ``deadline`` (a ``time.monotonic()``)."""
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        while alive(pid):
            time.sleep(0.02)


class BrokerProcess:
    """What every embedded broker does with its process: find it, say whether it runs, stop it.

    A subclass names ``host``, ``port``, ``node_id``, ``pid_file`` and ``pid_marker`` (bytes its
    command line holds).
    ``_process`` is the process this object started, so that it can stop it even without the
    pid file (a temporary data dir removed under it); another process stops it through the file.
    """

    _process: subprocess.Popen | None = None
    pid_file: Path
    host: str
    port: int
    pid_marker: bytes
    stop_timeout: float = 30.0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def pid(self) -> int | None:
        """The pid of this broker's running process, or None (a stale pid file is removed)."""
        return read_pid(self.pid_file, self.pid_marker)

    def is_running(self) -> bool:
        return self.pid() is not None

    def status_line(self) -> str:
        pid = self.pid()
        return f"node {self.node_id} at {self.address} {f'pid {pid} running' if pid is not None else 'stopped'}"

    def status_lines(self) -> list[str]:
        return [self.status_line()]

    def stop(self, timeout: float | None = None) -> bool:
        """A clean shutdown (SIGTERM, then SIGKILL after ``timeout``); True when it was running."""
        return self._signal(signal.SIGTERM, self.stop_timeout if timeout is None else timeout)

    def kill(self) -> bool:
        """SIGKILL, as a crash would."""
        return self._signal(signal.SIGKILL, 10.0)

    def _signal(self, sig: int, timeout: float) -> bool:
        pid = self.send_signal(sig)
        if pid is None:
            return False
        self.await_stopped(pid, time.monotonic() + timeout)
        return True

    def send_signal(self, sig: int) -> int | None:
        """Send ``sig`` to this broker's process without waiting; its pid, or None when it was not
        running. :meth:`await_stopped` waits for it (a cluster signals all its nodes first)."""
        pid = self.pid()
        if pid is None and self._process is not None and self._process.poll() is None:
            pid = self._process.pid
        if pid is None:
            return None
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        return pid

    def await_stopped(self, pid: int, deadline: float) -> None:
        """After :meth:`send_signal`: the process ended (SIGKILLed at ``deadline``), its pid file
        gone, and its port closed."""
        await_exit(pid, deadline)
        self.pid_file.unlink(missing_ok=True)
        # The JVM's main thread can be gone while others still hold the listener for a moment.
        until = time.monotonic() + 10.0
        while is_listening(self.host, self.port, timeout=0.2) and time.monotonic() < until:
            time.sleep(0.05)
