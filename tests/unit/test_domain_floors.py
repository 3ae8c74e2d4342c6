"""The domain floors import nothing from Faust or Kafka: strategies, risk, venues, accounting and
the backtest's statistics run (and are tested) without a stream processor underneath."""

import subprocess
import sys

import pytest

DOMAIN_MODULES = [
    "alphapanda.strategies", "alphapanda.strategy_runner", "alphapanda.risk", "alphapanda.execution",
    "alphapanda.execution.paper", "alphapanda.execution.zerodha", "alphapanda.portfolio", "alphapanda.models",
    "alphapanda.market.tape", "alphapanda.market.simulated", "alphapanda.market.hours",
    "alphapanda.market.instruments", "alphapanda.backtest.metrics", "alphapanda.backtest.report",
]
STREAM_PACKAGES = ("faust", "mode", "aiokafka")


@pytest.mark.parametrize("module", DOMAIN_MODULES)
def test_a_domain_module_imports_no_stream_processor(module):
    # A fresh interpreter: this test process may have Faust loaded already.
    probe = f"import sys, {module}; print(' '.join(p for p in {STREAM_PACKAGES!r} if p in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"{module} pulls in {done.stdout.strip()}"
