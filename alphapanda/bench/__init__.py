"""``alphapanda bench``: throughput, latency and memory of the pipeline against a raw relay.

Runs real worker processes on a real broker (a fresh embedded one by default) and observes them
only from outside: Kafka topics, the Prometheus counter, ``/proc``.
"""

from alphapanda.bench.report import format_table
from alphapanda.bench.runner import BenchConfig, run_bench

__all__ = ["BenchConfig", "run_bench", "format_table"]
