"""A real ``alphapanda worker`` process for the benchmark, observed only from outside.

Progress comes from the worker's Prometheus counter, memory from ``/proc/<pid>/status`` (the
resident set, as the kernel counts it), control from the HTTP API.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

__all__ = ["BenchWorker", "rss_mb", "free_port", "processed_from_metrics", "rocksdb_mb_from_metrics"]

_PROCESSED = re.compile(
    r'^trading_events_processed_total\{(?=[^}]*stage="strategy_runner")[^}]*\}\s+([0-9.eE+]+)\s*$', re.M
)
_LAST_EVENT = re.compile(
    r'^trading_last_event_timestamp_seconds\{(?=[^}]*stage="strategy_runner")[^}]*\}\s+([0-9.eE+]+)\s*$', re.M
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` in MiB (VmRSS), or None when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None

_ROCKSDB_CACHE = re.compile(r'^trading_rocksdb_memory_bytes\{part="block_cache"\}\s+([0-9.eE+]+)\s*$', re.M)


def rocksdb_mb_from_metrics(text: str) -> float | None:
    """MB the worker's RocksDB holds (its shared block cache, memtables included), or None."""
    found = _ROCKSDB_CACHE.search(text)
    return round(float(found.group(1)) / 2**20, 1) if found else None


def processed_from_metrics(text: str) -> tuple[int, float | None]:
    """Ticks handled by the strategy runner, and the worker's wall time of its last batch.

    From a Prometheus text exposition. The time stamps progress precisely however seldom the
    metrics are polled (and polling costs the worker CPU).
    """
    count = int(sum(float(v) for v in _PROCESSED.findall(text)))
    last = [float(v) for v in _LAST_EVENT.findall(text)]
    return count, (max(last) if last and max(last) > 0 else None)


@dataclass
class BenchWorker:
    """One worker process with its own data dir and web port; ``env`` overrides the environment."""

    name: str
    root: Path
    env: dict[str, str]
    web_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    _session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def log_path(self) -> Path:
        return self.root / f"{self.name}.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ZERODHA__", "TRADING__", "WEB__"))}
        env.update(
            WEB_PORT=str(self.web_port), DATA_DIR=str(self.root / self.name), PYTHONUNBUFFERED="1",
            MARKET_FEED="none",
        )
        env.update(self.env)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "alphapanda", "worker", "-l", "info", "--web-host", "127.0.0.1"],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(self.root),
            )

    def rss_mb(self) -> float | None:
        return rss_mb(self.pid) if self.process is not None else None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"worker {self.name} exited with {self.process.returncode}:\n{self.tail()}")

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._session

    async def get_json(self, path: str) -> tuple[int, dict]:
        session = await self._http()
        async with session.get(self.url + path) as response:
            return response.status, json.loads(await response.read() or b"null")

    async def put_json(self, path: str, body: dict) -> tuple[int, dict]:
        session = await self._http()
        async with session.put(self.url + path, json=body) as response:
            return response.status, json.loads(await response.read() or b"null")

    async def processed(self) -> tuple[int, float | None]:
        session = await self._http()
        async with session.get(self.url + "/metrics") as response:
            return processed_from_metrics(await response.text())

    async def metrics_text(self) -> str:
        session = await self._http()
        async with session.get(self.url + "/metrics") as response:
            return await response.text()

    async def rocksdb_mb(self) -> float | None:
        session = await self._http()
        async with session.get(self.url + "/metrics") as response:
            return rocksdb_mb_from_metrics(await response.text())

    async def wait_ready(self, timeout: float = 90.0) -> None:
        """Until the worker has partitions assigned (it consumes from then on)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                _, body = await self.get_json("/api/v1/health")
                if (body or {}).get("worker", {}).get("assigned_partitions", 0) > 0:
                    return
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                pass
            await asyncio.sleep(0.1)
        raise TimeoutError(f"worker {self.name} not ready in {timeout:.0f} s:\n{self.tail()}")

    async def close(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; closes the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if process.poll() is None:
            process.kill()
            process.wait()
