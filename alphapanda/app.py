"""The Faust application: the composition root that wires settings, topics, tables and stages.

``faust -A alphapanda worker`` and ``alphapanda worker`` both load :data:`app` from here.
"""

from __future__ import annotations

import logging
import os

import faust

from alphapanda import codec, stores
from alphapanda.kafka_probe import is_tansu
from alphapanda.logs import logging_config
from alphapanda.settings import Settings, SettingsError, get_settings
from alphapanda.transport import TansuTransport, Transport

__all__ = ["app", "settings", "create_app"]

log = logging.getLogger(__name__)

# Settings the embedded Tansu broker needs (DESIGN.md), applied only when we talk to Tansu.
TANSU_SETTINGS = dict(
    # Group joins take about half the session timeout.
    broker_session_timeout=6.0,
    broker_heartbeat_interval=1.0,
)


# A worker killed without leaving its group holds its partitions until its session ends, and a
# restarted one waits that long for them (Faust's default is 60 s, Kafka's consumers' 45 s).
# Faust's own BROKER_SESSION_TIMEOUT / BROKER_HEARTBEAT_INTERVAL variables still override these.
KAFKA_SETTINGS = dict(
    broker_session_timeout=10.0,
    broker_heartbeat_interval=1.0,
)


def faust_settings(settings: Settings, *, tansu: bool) -> dict:
    conf = dict(
        broker=settings.kafka_url,
        store=settings.store_url,
        datadir=str(settings.data_dir / "worker"),
        web_port=settings.web_port,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        # No idempotent producer or transactions on Tansu, and Faust's exactly_once has open
        # duplicate bugs: at-least-once plus idempotent consumers everywhere (DESIGN.md).
        processing_guarantee="at_least_once",
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        # Shutdown must not wait for events still buffered by take_events (Faust would wait for
        # acks that never come); they are uncommitted, so they are redelivered and handled
        # idempotently after the restart.
        stream_wait_empty=False,
        # Resumes stream partitions only after their queues are cleared (alphapanda/recovery.py).
        TableManager="alphapanda.recovery:TableManager",
        Table="alphapanda.faust_table:Table",
        key_serializer="raw",
        value_serializer="raw",
        autodiscover=False,
        web_cors_options=None,
        logging_config=logging_config(settings.log_format),
    )
    defaults = TANSU_SETTINGS if tansu else KAFKA_SETTINGS
    conf.update({k: v for k, v in defaults.items() if k.upper() not in os.environ})
    return conf


def create_app(settings: Settings) -> faust.App:
    codec.register()
    stores.register(settings.store_memory_mb)
    (settings.data_dir / "worker").mkdir(parents=True, exist_ok=True)
    tansu = is_tansu(settings.kafka_bootstrap)
    app = faust.App("alphapanda", **faust_settings(settings, tansu=tansu))
    app.alphapanda_tansu = tansu  # type: ignore[attr-defined]
    app.transport = (TansuTransport if tansu else Transport)(app.conf.broker_consumer, app)
    return app


try:
    settings = get_settings()
except SettingsError as exc:
    raise SystemExit(f"alphapanda: {exc}") from None

app = create_app(settings)

# Stages hang off the app by decorators; importing them is the wiring.
from alphapanda import wiring  # noqa: E402,F401
