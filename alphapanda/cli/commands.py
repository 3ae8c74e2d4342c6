"""The app's own commands on the Faust command line (``alphapanda --help`` lists them)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import click
from faust.cli import argument, option

from alphapanda.app import app, kafka_connection, settings, topic_policy
from alphapanda.embedded_broker import BrokerError, EmbeddedBroker, embedded_broker
from alphapanda.kafka_probe import is_listening
from alphapanda.topics import all_topics


def _embedded(nodes: int | None = None, security: str | None = None) -> EmbeddedBroker:
    host, port = settings.kafka_host_port
    password = settings.kafka.sasl_password
    try:
        return embedded_broker(settings.embedded_broker, host, port, settings.data_dir,
                               heap_mb=settings.embedded_broker_heap_mb, nodes=nodes, security=security,
                               sasl_username=settings.kafka.sasl_username,
                               sasl_password=password.get_secret_value() if password else None)
    except BrokerError as exc:
        _fail(str(exc))


def _split_options(args: tuple[str, ...]) -> tuple[dict, list[str]]:
    """``--nodes N`` and ``--security MODE`` of ``broker start`` (the command takes Kafka's
    tool arguments unparsed, so its own options are read here)."""
    options: dict = {}
    rest = list(args)
    for name in ("--nodes", "--security"):
        for i, arg in enumerate(rest):
            if arg == name or arg.startswith(name + "="):
                value = arg.split("=", 1)[1] if "=" in arg else (rest[i + 1] if i + 1 < len(rest) else None)
                if value is None:
                    raise click.UsageError(f"{name} needs a value")
                del rest[i:i + (1 if "=" in arg else 2)]
                options[name[2:]] = value
                break
    if "nodes" in options:
        try:
            options["nodes"] = int(options["nodes"])
        except ValueError:
            raise click.UsageError(f"--nodes {options['nodes']}: expected a number of nodes") from None
        if not 1 <= options["nodes"] <= 9:
            raise click.UsageError(f"--nodes {options['nodes']}: expected 1 to 9 nodes")
    if "security" in options:
        from alphapanda.embedded_broker.kafka import SECURITY_MODES

        options["security"] = options["security"].lower()
        if options["security"] not in SECURITY_MODES:
            raise click.UsageError(f"--security {options['security']}: expected {' or '.join(SECURITY_MODES)}")
    return options, rest


@app.command(
    argument("action", type=click.Choice(["start", "stop", "status", "tool"])),
    argument("tool_args", nargs=-1, type=click.UNPROCESSED),
)
async def broker(self, action: str, tool_args: tuple[str, ...]) -> None:
    """The embedded local broker at KAFKA_URL: start [--nodes N] [--security sasl_ssl], stop, status, or tool TOOL [ARGS...]

    EMBEDDED_BROKER picks Apache Kafka (default; data under DATA_DIR/broker, kept across restarts)
    or Tansu (memory only). `start --nodes N` makes a local N-node cluster (node I on KAFKA_URL's
    port + I - 1); `start` again starts only the nodes that are down. `--security sasl_ssl`
    makes a CA (DATA_DIR/broker/tls/ca.pem), a server certificate and a SCRAM-SHA-512 user from
    KAFKA__SASL_USERNAME / KAFKA__SASL_PASSWORD. `tool` runs Kafka's own kafka-console-producer,
    kafka-console-consumer, kafka-topics or kafka-consumer-groups with the arguments of Kafka's
    script of that name; --bootstrap-server defaults to KAFKA_URL's.
    """
    if action == "tool":
        _exec_tool(list(tool_args))
    options, rest = _split_options(tool_args) if action == "start" else ({}, list(tool_args))
    if rest:
        raise click.UsageError(f"`broker {action}` takes no arguments (got {' '.join(rest)})")
    embedded = _embedded(**options)
    if action == "start":
        try:
            embedded.start()
        except BrokerError as exc:
            _fail(str(exc))
        print("\n".join(f"{embedded.kind} {line}" for line in embedded.status_lines()) + f" (log {embedded.log_file})")
        if getattr(embedded, "security", "plaintext") == "sasl_ssl":
            print(f"SASL_SSL with SCRAM-SHA-512; clients trust {embedded.tls.ca} (KAFKA__SSL_CAFILE)")
    elif action == "stop":
        print(f"{embedded.kind} broker stopped" if embedded.stop() else f"{embedded.kind} broker was not running")
    else:
        print("\n".join(embedded.status_lines()))
        if not embedded.is_running():
            if not any("running" in line for line in embedded.status_lines()) and is_listening(*settings.kafka_host_port):
                print(f"(not the embedded broker, but a Kafka server answers at {embedded.address})")
            sys.exit(1)


# Kafka's tools take options click does not know (and --help of their own): everything after
# the action is handed over untouched.
broker._click.ignore_unknown_options = True
broker._click.allow_interspersed_args = False


def _exec_tool(args: list[str]) -> NoReturn:
    from alphapanda.embedded_broker.tools import client_properties, tool_command

    if not args:
        raise click.UsageError("which tool? `broker tool kafka-topics --list`, for example")
    config_dir = settings.data_dir / "broker" / "tools"
    properties = client_properties(kafka_connection)
    config: Path | None = None
    if properties is not None:
        # The client config holds the password: a 0600 file that lives as long as the tool runs.
        config_dir.mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="client-", suffix=".properties", dir=config_dir)
        config = Path(path)
        with os.fdopen(fd, "w") as file:
            file.write(properties)
    try:
        command = tool_command(args[0], args[1:], settings.kafka_bootstrap, config_dir, client_config=config)
        sys.stdout.flush()
        if config is None:
            os.execv(command[0], command)
        process = subprocess.Popen(command)
        while True:
            try:
                sys.exit(process.wait())
            except KeyboardInterrupt:
                continue  # Ctrl-C reached the tool too; wait for it to end
    except BrokerError as exc:
        _fail(str(exc))
    finally:
        if config is not None:
            config.unlink(missing_ok=True)


@app.command(argument("action", type=click.Choice(["create", "list"])))
async def topics(self, action: str) -> None:
    """Create (or list) every topic for ACTIVE_BROKERS, DLQs included, with TOPIC_PARTITIONS partitions,
    TOPIC_REPLICATION_FACTOR replicas and the retention settings."""
    from alphapanda.cli.topics import TopicSetupError, ensure_topics

    names = all_topics(settings.active_brokers)
    if action == "list":
        print("\n".join(names))
        return
    from aiokafka.errors import KafkaError

    await _preflight()
    try:
        created = await ensure_topics(kafka_connection, names, settings.topic_partitions, policy=topic_policy)
    except TopicSetupError as exc:
        _fail(str(exc))
    except KafkaError as exc:
        _fail(f"Kafka at {settings.kafka_url}: {exc}")
    print(f"{len(names)} topics ready ({len(created)} created, {settings.topic_partitions} partitions, "
          f"replication factor {topic_policy.replication_factor})")


async def _preflight() -> None:
    """Stop with the setting to fix when Kafka refuses our TLS or SASL settings (kafka_preflight.py)."""
    from alphapanda.kafka_preflight import KafkaSetupError, check

    try:
        await check(kafka_connection)
    except KafkaSetupError as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    """End a command with ``alphapanda: MESSAGE`` and exit status 1, without a traceback (an
    exception in an async command would come out as the worker's error report)."""
    raise SystemExit(f"alphapanda: {message}")


@app.command(
    option("--worker-arg", "worker_args", multiple=True, help="Extra argument for the worker command."),
)
async def run(self, worker_args: tuple[str, ...]) -> None:
    """The pipeline on one machine: embedded broker if none answers, topics, worker with the market feed."""
    # A supervisor of child processes needs its own signal handling, not Faust's command loop.
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "alphapanda.cli.run", *worker_args])


@app.command(
    option("--json", "as_json", is_flag=True, help="Print one JSON object (the last line) instead of the table."),
    option("--ticks", type=int, default=100_000, show_default=True, help="Ticks pre-loaded for the drain."),
    option("--instruments", type=int, default=100, show_default=True, help="Instruments (K)."),
    option("--strategies", type=int, default=4, show_default=True, help="Strategies (S), each over all K."),
    option("--rate", type=float, default=1000.0, show_default=True, help="Ticks/s of the paced latency phase."),
    option("--duration-seconds", type=float, default=30.0, show_default=True, help="Length of the paced phase."),
    option("--soak-minutes", type=float, default=None, help="A long paced phase (overrides --duration-seconds)."),
    option("--signal-every", type=int, default=100, show_default=True, help="One price jump per N paced ticks."),
    option("--workers", type=int, default=1, show_default=True, help="Worker processes."),
    option("--partitions", type=int, default=8, show_default=True, help="Partitions of every topic."),
    option("--rss-every", type=float, default=None, help="Seconds between memory samples (default 5, soak 30)."),
    option("--tick-batch-ms", type=click.FloatRange(min=0), default=None,
           help="Paced ticks are gathered this long per record batch (the publisher's linger; "
                "default: the app's feed's, 1 ms on Kafka, 5 on Tansu)."),
    option("--chain-seconds", type=click.FloatRange(min=0), default=None,
           help="Length of the raw relay chain's latency run (default: the paced phase's, at most 60 s; 0 skips it)."),
    option("--kafka-url", default=None, help="Use this cluster instead of a fresh embedded broker."),
    option("--keep", is_flag=True, help="Keep the temporary data dir (worker logs) for inspection."),
)
async def bench(
    self, as_json: bool, ticks: int, instruments: int, strategies: int, rate: float, duration_seconds: float,
    soak_minutes: float | None, signal_every: int, workers: int, partitions: int, rss_every: float | None,
    tick_batch_ms: float | None, chain_seconds: float | None, kafka_url: str | None, keep: bool,
) -> None:
    """Benchmark the pipeline: ticks/s through the strategies, tick->fill latency, worker memory."""
    import json

    from alphapanda.bench import BenchConfig, format_table, run_bench

    config = BenchConfig(
        ticks=ticks, instruments=instruments, strategies=strategies, rate=rate,
        seconds=soak_minutes * 60 if soak_minutes else duration_seconds, signal_every=signal_every,
        workers=workers, partitions=partitions, kafka_url=kafka_url,
        rss_every=rss_every or (30.0 if soak_minutes else 5.0), keep=keep, tick_batch_ms=tick_batch_ms,
        chain_seconds=chain_seconds,
    )
    try:
        with _cancelled_by_sigterm() as terminated:
            result = await run_bench(config)
    except asyncio.CancelledError:
        if not terminated.is_set():
            raise
        # run_bench's cleanup has run: its workers and broker are stopped.
        print("bench stopped by SIGTERM; its workers and broker are stopped", file=sys.stderr, flush=True)
        sys.exit(128 + signal.SIGTERM)
    print(json.dumps(result) if as_json else format_table(result), flush=True)


@contextlib.contextmanager
def _cancelled_by_sigterm():
    """SIGTERM cancels the current task, so its ``finally`` blocks stop what it started.

    Without this, SIGTERM ends the process at once and leaves child workers and a broker behind.
    Yields an event that is set when the cancellation came from SIGTERM.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    terminated = asyncio.Event()

    def on_sigterm() -> None:
        terminated.set()
        task.cancel()

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        yield terminated
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


@app.command(
    argument("tape", type=click.Path(exists=True, dir_okay=False, path_type=Path)),
    option("--speed", type=click.FloatRange(min=0), default=1.0, show_default=True,
           help="1 = real time from the tick timestamps, 2 = twice as fast, 0 = as fast as possible."),
    option("--max-wait", type=click.FloatRange(min=0), default=None,
           help="Longest single wait in seconds (e.g. to skip the night between sessions)."),
)
async def replay(self, tape: Path, speed: float, max_wait: float | None) -> None:
    """Publish a JSONL tape of ticks to market.ticks, keyed by token; invalid lines to market.ticks.dlq."""
    from aiokafka.errors import KafkaError

    from alphapanda.cli.replay import replay_tape

    await _preflight()
    try:
        summary = await replay_tape(tape, kafka_connection, speed=speed, max_wait=max_wait,
                                    tuning=settings.feed_producer)
    except KafkaError as exc:
        _fail(f"Kafka at {settings.kafka_url}: {exc}")
    print(summary.line(), flush=True)


@app.command(
    option("--dlq", "dlq", required=True, help="The dead-letter topic, e.g. paper.signals.raw.dlq."),
    option("--dry-run", is_flag=True, help="Say what would be sent, send nothing."),
    option("--limit", type=click.IntRange(min=1), default=None, help="At most this many letters, oldest first."),
    option("--json", "as_json", is_flag=True, help="Also print a JSON summary as the last line."),
)
async def dlq_replay(self, dlq: str, dry_run: bool, limit: int | None, as_json: bool) -> None:
    """Send dead letters back to their original topics with their keys, and say what was done."""
    from aiokafka.errors import KafkaError

    from alphapanda.cli.dlq_replay import DlqReplayError, replay_dead_letters, summary_json

    await _preflight()
    try:
        summary = await replay_dead_letters(kafka_connection, dlq, dry_run=dry_run, limit=limit, out=sys.stdout)
    except (DlqReplayError, KafkaError) as exc:
        _fail(str(exc))
    if as_json:
        print(summary_json(summary, dry_run), flush=True)


@app.command(
    argument("tape", type=click.Path(dir_okay=False, path_type=Path)),
    option("--strategies", "strategies_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
           default=None, help="Folder of strategy YAML files (default: STRATEGIES_DIR)."),
    option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
           help="Also write the report as one self-contained HTML page with charts."),
    option("--json", "as_json", is_flag=True, help="Print the report as one JSON object (last line)."),
    option("--keep", is_flag=True, help="Keep the temporary broker and worker folder (logs) for inspection."),
)
async def backtest(self, tape: Path, strategies_dir: Path | None, report_path: Path | None, as_json: bool,
                   keep: bool) -> None:
    """Run a JSONL tape through the whole pipeline on a fresh embedded broker, and report per strategy."""
    from alphapanda.backtest.report import format_table, render_html
    from alphapanda.backtest.runner import BacktestConfig, BacktestError, paper_brokers, report_json, run_backtest
    from alphapanda.strategies.config import StrategyConfigError, load_strategies
    from alphapanda import brokers as known

    strategies_dir = strategies_dir or settings.strategies_dir
    try:
        load_strategies(strategies_dir, known_brokers=known.KNOWN_BROKERS)
    except StrategyConfigError as exc:
        _fail(f"invalid strategy files in {strategies_dir}: {exc}")
    config = BacktestConfig(tape=tape, strategies_dir=strategies_dir, brokers=paper_brokers(settings.active_brokers),
                            settings=settings, keep=keep)
    try:
        with _cancelled_by_sigterm() as terminated:
            report = await run_backtest(config)
    except BacktestError as exc:
        _fail(f"backtest: {exc}")
    except asyncio.CancelledError:
        if not terminated.is_set():
            raise
        print("backtest stopped by SIGTERM; its worker and broker are stopped", file=sys.stderr, flush=True)
        sys.exit(128 + signal.SIGTERM)
    if report_path is not None:
        report_path.write_text(render_html(report), encoding="utf-8")
        print(f"backtest: report written to {report_path}", file=sys.stderr, flush=True)
    print(report_json(report) if as_json else format_table(report), flush=True)


@app.command(
    argument("tape", type=click.Path(dir_okay=False, path_type=Path)),
    option("--from-beginning", is_flag=True, help="First what market.ticks still holds (merged in time order)."),
    option("--seconds", type=click.FloatRange(min=0), default=None, help="Stop after this long (0: after the history)."),
    option("--max-ticks", type=click.IntRange(min=1), default=None, help="Stop after this many ticks."),
)
async def record(self, tape: Path, from_beginning: bool, seconds: float | None, max_ticks: int | None) -> None:
    """Record market.ticks to a JSONL tape that replay and backtest read (Ctrl-C stops)."""
    from aiokafka.errors import KafkaError

    from alphapanda.cli.record import record_ticks

    await _preflight()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        summary = await record_ticks(kafka_connection, tape, from_beginning=from_beginning, seconds=seconds,
                                     max_ticks=max_ticks, stop=stop)
    except (KafkaError, RuntimeError, OSError) as exc:
        _fail(str(exc))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    print(summary.line(tape), flush=True)
