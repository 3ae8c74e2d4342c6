"""Settings from the environment (and ``.env``), exactly the variables of CONTRACTS.md.

Invalid settings stop startup with :class:`SettingsError`, whose message names the variable.
Secrets are ``SecretStr``: they print as ``**********``.
"""

from __future__ import annotations

from datetime import date
import importlib
import json
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from alphapanda import brokers

__all__ = ["Settings", "ProducerSettings", "SettingsError", "get_settings", "BUNDLED_STRATEGIES_DIR"]

BUNDLED_STRATEGIES_DIR = Path(__file__).parent / "strategies" / "examples"


class SettingsError(ValueError):
    """Invalid configuration; the message names the environment variable."""


class PaperTradingSettings(BaseModel):
    slippage_bps: float = Field(default=5.0, ge=0, le=1000)
    commission: Literal["zerodha", "none"] = "zerodha"
    starting_cash: float = Field(default=1_000_000.0, gt=0)
    # Event-time delay before a paper order can fill (TRADING__PAPER__LATENCY_MS).
    latency_ms: float = Field(default=0.0, ge=0, le=60_000)
    # Share (0, 1] of a tick's offered liquidity one order may take (TRADING__PAPER__LIQUIDITY_FRACTION).
    liquidity_fraction: float = Field(default=1.0, gt=0, le=1)


class ZerodhaTradingSettings(BaseModel):
    enabled: bool = False


class TradingSettings(BaseModel):
    paper: PaperTradingSettings = PaperTradingSettings()
    zerodha: ZerodhaTradingSettings = ZerodhaTradingSettings()


class ZerodhaSettings(BaseModel):
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    # Where Kite lives; a local test server in tests (ZERODHA__API_ROOT, ZERODHA__TICKER_ROOT).
    api_root: str = "https://api.kite.trade"
    ticker_root: str = "wss://ws.kite.trade"
    # Kite's instrument master CSV (GET /instruments); the bundled sample when unset.
    instruments_path: Path | None = None
    product: Literal["MIS", "CNC", "NRML"] = "MIS"
    # One Kite request's timeout (s) and the retries of a failed placement (each looks the order
    # up by its tag first, so none is placed twice).
    timeout: float = Field(default=7.0, gt=0, le=120)
    max_retries: int = Field(default=3, ge=0, le=20)
    # After this many failed Kite attempts in a row, orders fail at once with VENUE_CIRCUIT_OPEN
    # for the cool-down, instead of a backlog of stale signals waiting on a dead API.
    circuit_failures: int = Field(default=5, ge=1, le=1000)
    circuit_cooldown_seconds: float = Field(default=30.0, gt=0, le=3600)


class WebSettings(BaseModel):
    api_token: SecretStr | None = None
    # Where the web server listens: this machine only unless said otherwise (0.0.0.0 in
    # containers, which then need WEB__API_TOKEN: alphapanda/web_exposure.py).
    bind: str = "127.0.0.1"
    # Every /api/v1 read needs the token too (health and /metrics stay open for probes).
    reads_need_token: bool = False
    # Failed authentications one client may make within a minute before it is answered 429.
    auth_failures_per_minute: int = Field(default=5, ge=1, le=100_000)
    # Origins allowed to call the API from a browser (CORS): a comma list, or "*" for any.
    # Empty (the default): no CORS headers, only same-origin pages such as the dashboard.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("bind")
    @classmethod
    def _check_bind(cls, value: str) -> str:
        value = value.strip()
        if not value or any(c in value for c in "/ ,"):
            raise ValueError(f"{value!r} is not an address to listen on (e.g. 127.0.0.1 or 0.0.0.0)")
        return value

    @field_validator("api_token", mode="before")
    @classmethod
    def _empty_token_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _reads_need_the_token(self) -> "WebSettings":
        if self.reads_need_token and self.api_token is None:
            raise ValueError("WEB__READS_NEED_TOKEN=true needs WEB__API_TOKEN (the token reads must carry)")
        return self

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            value = value.split(",")
        origins = tuple(dict.fromkeys(str(v).strip().rstrip("/") for v in value if str(v).strip()))
        for origin in origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"{origin!r} is not an origin (expected * or http(s)://host[:port])")
        return origins


class ProducerSettings(BaseModel):
    """Batching and compression of one Kafka producer (``PRODUCER__*`` for the app's own, whose
    outputs and changelog writes every stage shares; ``FEED_PRODUCER__*`` for the market feed's).

    Unset keeps each producer's default: the app's is Faust's (no linger, 16 KiB batches, no
    compression), the feed's batches ticks (5 ms, 256 KiB). Every codec works: aiokafka's come
    from cramjam, a declared dependency.
    """

    # How long a producer waits for more records before it sends a batch (latency for throughput).
    linger_ms: int | None = Field(default=None, ge=0, le=60_000)
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] | None = None
    # Most bytes in one batch per partition.
    batch_size: int | None = Field(default=None, ge=1024, le=64 * 1024 * 1024)

    @field_validator("compression", mode="before")
    @classmethod
    def _compression_lower(cls, value: object) -> object:
        return (value.strip().lower() or None) if isinstance(value, str) else value

    def aiokafka_options(self, *, linger_ms: int, batch_size: int) -> dict:
        """Options for ``AIOKafkaProducer``: these settings where set, else the defaults given."""
        compression = None if self.compression in (None, "none") else self.compression
        return {
            "linger_ms": linger_ms if self.linger_ms is None else self.linger_ms,
            "max_batch_size": batch_size if self.batch_size is None else self.batch_size,
            "compression_type": compression,
        }

    def faust_settings(self) -> dict:
        """Faust's producer settings for what is set (Faust's defaults for the rest)."""
        conf: dict = {}
        if self.linger_ms is not None:
            conf["producer_linger"] = self.linger_ms / 1000.0
        if self.batch_size is not None:
            conf["producer_max_batch_size"] = self.batch_size
        if self.compression not in (None, "none"):
            conf["producer_compression_type"] = self.compression
        return conf


class TracingSettings(BaseModel):
    """OpenTelemetry tracing of the tick-to-fill chain (``alphapanda/tracing.py``), off by default."""

    enabled: bool = False
    # otlp: OTLP over HTTP/protobuf to ``endpoint`` (a collector, Jaeger, Tempo); console: stdout.
    exporter: Literal["otlp", "console"] = "otlp"
    endpoint: str = "http://127.0.0.1:4318/v1/traces"
    service_name: str = Field(default="alphapanda", min_length=1)
    # Share of chains traced (0-1]; later stages follow the first stage's decision.
    sample_ratio: float = Field(default=1.0, gt=0, le=1)

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an OTLP/HTTP endpoint (expected http(s)://HOST:PORT/v1/traces)")
        return value


class KafkaClientSettings(BaseModel):
    """How every Kafka client of the app connects (``KAFKA__*``): TLS and SASL for managed clusters.

    Checked here so that a worker never starts with settings it cannot use: a SASL protocol needs
    a mechanism and credentials, a client key needs its certificate. The PEM files are read when
    a client first needs them (``alphapanda/kafka_connection.py``), so that ``broker start
    --security sasl_ssl`` can make the CA that ``KAFKA__SSL_CAFILE`` names.
    """

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @field_validator("security_protocol", mode="before")
    @classmethod
    def _protocol_upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("sasl_mechanism", mode="before")
    @classmethod
    def _mechanism_upper(cls, value: object) -> object:
        # scram-sha-512 and SCRAM_SHA_512 both mean SCRAM-SHA-512; empty means unset.
        return (value.strip().upper().replace("_", "-") or None) if isinstance(value, str) else value

    @field_validator("sasl_username", "sasl_password", "ssl_cafile", "ssl_certfile", "ssl_keyfile", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _consistent(self) -> "KafkaClientSettings":
        protocol = self.security_protocol
        if protocol.startswith("SASL_"):
            missing = [
                f"KAFKA__{name.upper()}" for name in ("sasl_mechanism", "sasl_username", "sasl_password")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"KAFKA__SECURITY_PROTOCOL={protocol} needs {', '.join(missing)}")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ValueError("KAFKA__SSL_KEYFILE needs KAFKA__SSL_CERTFILE (the client certificate)")
        if not protocol.endswith("SSL") and (self.ssl_cafile or self.ssl_certfile):
            raise ValueError(
                f"KAFKA__SSL_* files are set, but KAFKA__SECURITY_PROTOCOL={protocol} does not use TLS "
                "(SSL or SASL_SSL)"
            )
        return self


class PortfolioSettings(BaseModel):
    # Event-time seconds between periodic PnL snapshots of an account with open positions;
    # 0 turns them off (snapshots after fills are always sent).
    snapshot_interval_seconds: float = Field(default=60.0, ge=0)


def _comma_list(value: object) -> object:
    """``"a, b,,c"`` -> ``("a", "b", "c")``: list variables are plain comma lists, not JSON."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class SimulationSettings(BaseModel):
    """The simulated feed (``MARKET_FEED=simulated``).

    - ``ticks_per_second``: ticks of all instruments together, published on an event-time schedule.
    - ``seed``: the same seed and start time give the same ticks.
    - ``instruments``: comma list of ``TOKEN`` or ``[EXCHANGE:]SYMBOL``, each optionally
      ``@START_PRICE`` (``408065,NSE:TCS@3500``); a price is needed for instruments outside the
      bundled defaults. Empty: the instruments of the bundled example strategies.
    - ``depth``: publish a 5-level book; unset means on up to 500 ticks/s (it triples tick cost).
    """

    ticks_per_second: float = Field(default=20.0, gt=0, le=100_000)
    seed: int = 7
    instruments: Annotated[tuple[str, ...], NoDecode] = ()
    depth: bool | None = None

    @field_validator("instruments", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _comma_list(value)


class KiteFeedSettings(BaseModel):
    """The live Zerodha feed (``MARKET_FEED=kite``); credentials are ``ZERODHA__*``.

    - ``mode``: ``ltp``, ``quote`` or ``full`` (with 5-level depth).
    - ``tokens``: comma list of instrument tokens or ``EXCHANGE:SYMBOL`` names of the instrument
      master. Empty: every instrument of the enabled strategies.
    - ``max_retries``, ``initial_backoff``, ``max_backoff``, ``heartbeat_timeout``: reconnection
      policy (Kite's own client: 50 tries, backoff up to 60 s).
    """

    mode: Literal["ltp", "quote", "full"] = "quote"
    tokens: Annotated[tuple[str, ...], NoDecode] = ()
    max_retries: int = Field(default=50, ge=0)
    initial_backoff: float = Field(default=1.0, ge=0)
    max_backoff: float = Field(default=60.0, ge=0)
    heartbeat_timeout: float = Field(default=10.0, gt=0)

    @field_validator("tokens", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _comma_list(value)


class ReplaySettings(BaseModel):
    """The replay feed (``MARKET_FEED=replay:PATH``): ``speed`` 1 is real time from the tick
    timestamps, 0 as fast as possible; ``max_wait`` caps one wait in seconds (unset: no cap)."""

    speed: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    max_wait: float | None = Field(default=None, ge=0)


class MarketHoursSettings(BaseModel):
    """NSE trading hours (09:15-15:30 IST, weekdays).

    - ``holidays``: comma list of ISO dates without a session.
    - ``enforce``: publish ticks only while the market is open. Unset means on for the live
      ``kite`` feed and off for ``simulated`` and ``replay``.
    """

    holidays: Annotated[tuple[date, ...], NoDecode] = ()
    enforce: bool | None = None

    @field_validator("holidays", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _comma_list(value)


class Settings(BaseSettings):
    """Alpha Panda's configuration. Field ``x__y`` is the variable ``X__Y``."""

    model_config = SettingsConfigDict(
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    # Modules imported before ACTIVE_BROKERS is checked; each registers venues (and so broker
    # names) with alphapanda.execution.registry.register_venue (VENUE_PLUGINS=pkg.mod,other.mod).
    venue_plugins: Annotated[tuple[str, ...], NoDecode] = ()
    active_brokers: Annotated[tuple[str, ...], NoDecode] = ("paper",)
    kafka_url: str = "kafka://127.0.0.1:9092"
    # What `broker start` and `run` start: Apache Kafka (kept on disk), or Tansu (memory only).
    embedded_broker: Literal["kafka", "tansu"] = "kafka"
    # JVM heap of the embedded Kafka node.
    embedded_broker_heap_mb: int = Field(default=256, ge=128, le=65_536)
    web_port: int = Field(default=6066, ge=1, le=65535)
    store_url: str = "rocksdb://"
    # RocksDB block cache plus memtables of all tables in one worker (rocksdb:// only).
    store_memory_mb: int = Field(default=16, ge=8, le=1_048_576)
    data_dir: Path = Path("./var")
    topic_partitions: int = Field(default=8, ge=1, le=1024)
    # Replicas of every topic the app creates, changelogs and Faust's internal topics included;
    # min.insync.replicas of them (unset: 1, or 2 once there are 3 replicas), with acks=all.
    topic_replication_factor: int = Field(default=1, ge=1, le=32)
    topic_min_insync_replicas: int | None = Field(default=None, ge=1, le=32)
    # Hours market.ticks and the dead-letter topics keep messages (-1: forever); changelogs are
    # compacted instead and keep each key's last value.
    topic_ticks_retention_hours: float = Field(default=168.0, allow_inf_nan=False)
    topic_dlq_retention_hours: float = Field(default=720.0, allow_inf_nan=False)
    kafka: KafkaClientSettings = KafkaClientSettings()
    producer: ProducerSettings = ProducerSettings()
    feed_producer: ProducerSettings = ProducerSettings()
    tracing: TracingSettings = TracingSettings()
    market_feed: str = "none"
    # text (Faust's format) or json (one object per line, with broker/topic/correlation_id).
    log_format: Literal["text", "json"] = "text"
    strategies_dir: Path = BUNDLED_STRATEGIES_DIR
    trading: TradingSettings = TradingSettings()
    # Starting risk limits per broker, e.g. RISK__PAPER__MAX_POSITION_QUANTITY=500 (JSON values:
    # numbers, null for no limit, [tokens] for instrument lists); runtime changes go through the API.
    risk: dict[str, dict[str, Any]] = Field(default_factory=dict)
    zerodha: ZerodhaSettings = ZerodhaSettings()
    web: WebSettings = WebSettings()
    portfolio: PortfolioSettings = PortfolioSettings()
    simulation: SimulationSettings = SimulationSettings()
    kite: KiteFeedSettings = KiteFeedSettings()
    replay: ReplaySettings = ReplaySettings()
    market_hours: MarketHoursSettings = MarketHoursSettings()

    @field_validator("venue_plugins", mode="before")
    @classmethod
    def _load_venue_plugins(cls, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            value = value.split(",")
        modules = tuple(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))
        for module in modules:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise ValueError(f"cannot import venue plugin {module!r}: {exc}") from None
        return modules

    @field_validator("active_brokers", mode="before")
    @classmethod
    def _parse_broker_list(cls, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        names = tuple(dict.fromkeys(str(v).strip().lower() for v in value if str(v).strip()))
        if not names:
            raise ValueError("at least one broker is required")
        unknown = [n for n in names if n not in brokers.KNOWN_BROKERS]
        if unknown:
            raise ValueError(
                f"unknown broker {', '.join(repr(n) for n in unknown)} "
                f"(registered: {', '.join(brokers.KNOWN_BROKERS)})"
            )
        return names

    @field_validator("risk", mode="before")
    @classmethod
    def _parse_risk_limits(cls, value: object) -> dict[str, dict[str, Any]]:
        from alphapanda.risk.limits import InvalidLimits, RiskLimits

        if not isinstance(value, dict):
            raise ValueError("expected RISK__<BROKER>__<LIMIT> variables")
        parsed: dict[str, dict[str, Any]] = {}
        for broker, limits in value.items():
            broker = str(broker).lower()
            if broker not in brokers.KNOWN_BROKERS:
                raise ValueError(f"RISK__{broker.upper()}: unknown broker {broker!r}")
            if not isinstance(limits, dict):
                raise ValueError(f"RISK__{broker.upper()}: expected RISK__{broker.upper()}__<LIMIT>=<value>")
            entries = {str(k).lower(): _json_or_text(v) for k, v in limits.items()}
            try:
                RiskLimits.from_mapping(entries)
            except InvalidLimits as exc:
                named = "; ".join(f"RISK__{broker.upper()}__{field.upper()}: {why}" for field, why in exc.problems.items())
                raise ValueError(named) from None
            parsed[broker] = entries
        return parsed

    @field_validator("kafka_url")
    @classmethod
    def _check_kafka_url(cls, value: str) -> str:
        for url in value.split(";"):
            parts = urlsplit(url if "://" in url else f"kafka://{url}")
            if not parts.hostname:
                raise ValueError(f"{url!r} has no host (expected kafka://HOST:PORT)")
        return value

    @field_validator("topic_ticks_retention_hours", "topic_dlq_retention_hours")
    @classmethod
    def _check_retention(cls, value: float) -> float:
        if value != -1 and value <= 0:
            raise ValueError(f"{value}: expected hours above 0, or -1 to keep messages forever")
        return value

    @model_validator(mode="after")
    def _check_insync_replicas(self) -> "Settings":
        if self.topic_min_insync_replicas is not None and self.topic_min_insync_replicas > self.topic_replication_factor:
            raise ValueError(
                f"TOPIC_MIN_INSYNC_REPLICAS={self.topic_min_insync_replicas} is above "
                f"TOPIC_REPLICATION_FACTOR={self.topic_replication_factor}: no write could ever succeed"
            )
        return self

    @field_validator("store_url")
    @classmethod
    def _check_store_url(cls, value: str) -> str:
        if not value.startswith(("rocksdb://", "memory://", "aerospike://")):
            raise ValueError(f"{value!r} is not a Faust store (rocksdb:// or memory://)")
        return value

    @field_validator("market_feed")
    @classmethod
    def _check_market_feed(cls, value: str) -> str:
        value = value.strip()
        kind = value.split(":", 1)[0]
        if kind not in ("simulated", "replay", "kite", "none"):
            raise ValueError(f"{value!r}: expected simulated, replay:PATH, kite or none")
        if kind == "replay" and not value[len("replay:"):]:
            raise ValueError("replay needs a path: replay:PATH")
        return value

    @field_validator("strategies_dir")
    @classmethod
    def _check_strategies_dir(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"{str(value)!r} is not a directory")
        return value

    # Derived values -------------------------------------------------------

    @property
    def kafka_bootstrap(self) -> str:
        """``host:port[,host:port]`` for plain Kafka clients."""
        hosts = []
        for url in self.kafka_url.split(";"):
            parts = urlsplit(url if "://" in url else f"kafka://{url}")
            hosts.append(f"{parts.hostname}:{parts.port or 9092}")
        return ",".join(hosts)

    @property
    def kafka_host_port(self) -> tuple[str, int]:
        host, port = self.kafka_bootstrap.split(",")[0].rsplit(":", 1)
        return host, int(port)

    @property
    def min_insync_replicas(self) -> int:
        """``TOPIC_MIN_INSYNC_REPLICAS``, or its default: 2 of 3 or more replicas, else 1."""
        if self.topic_min_insync_replicas is not None:
            return self.topic_min_insync_replicas
        return 2 if self.topic_replication_factor >= 3 else 1

    def safe_dump(self) -> dict:
        """Settings for logs and health: secrets appear masked."""
        return self.model_dump(mode="json")


def _json_or_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _variable_name(loc: tuple) -> str:
    return "__".join(str(part) for part in loc if not isinstance(part, int)).upper()


def load_settings(**overrides) -> Settings:
    """Read settings, turning validation errors into a message that names each variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            message = err["msg"].removeprefix("Value error, ")
            # A message that already names its variables (RISK__PAPER__...) stands alone.
            named = message.startswith(("RISK__", "KAFKA__", "TOPIC_", "WEB__"))
            problems.append(message if named else f"{_variable_name(err['loc'])}: {message}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


@cache
def get_settings() -> Settings:
    return load_settings()
