"""The monitoring files of docker/ (Grafana dashboards, Prometheus rules) and a real Prometheus
from Debian's package, for the tests that check them (``make prometheus`` installs it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "docker" / "grafana" / "dashboards"
PROMETHEUS_DIR = REPO / "docker" / "prometheus"

# Grafana fills these in before a query reaches Prometheus; the tests do the same: a rate window
# a few scrapes wide, and "every broker" for the dashboards' broker variable.
GRAFANA_VARIABLES = {"$__rate_interval": "20s", "$__interval": "5s", "$__range": "5m", "$broker": ".+"}


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} not found: `make prometheus` installs Debian's prometheus package (it brings promtool)")
    return found


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL with Grafana's variables filled in) of every panel."""
    queries = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                queries.append((path.name, panel["title"], expr))
    return queries


@dataclass
class Prometheus:
    """A Prometheus on a free port scraping ``targets`` every second, with the repository's alert rules."""

    root: Path
    port: int
    targets: list[str]
    process: subprocess.Popen | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Prometheus":
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROMETHEUS_DIR / "alerts.yml", self.root / "alerts.yml")
        (self.root / "prometheus.yml").write_text(json.dumps({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["alerts.yml"],
            "scrape_configs": [{"job_name": "alphapanda", "static_configs": [{"targets": self.targets}]}],
        }))
        self.log = open(self.root / "prometheus.log", "wb")
        self.process = subprocess.Popen(
            [tool("prometheus"), f"--config.file={self.root / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.root / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("prometheus exited:\n" + (self.root / "prometheus.log").read_text()[-3000:])
                time.sleep(0.2)
        raise RuntimeError("prometheus not ready within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.close()

    def api(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:  # a query that does not parse: 400 with the error
            return json.loads(exc.read())

    def query(self, expr: str) -> dict:
        return self.api("query", query=expr)

    def series_count(self, expr: str) -> int:
        answer = self.query(expr)
        return len(answer["data"]["result"]) if answer["status"] == "success" else 0


def metric_names(expr: str) -> list[str]:
    """The metric names a PromQL expression reads (for messages)."""
    return sorted(set(re.findall(r"\b(trading_[a-z_]+|alphapanda_[a-z_]+|up)\b", expr)))
