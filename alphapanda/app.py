"""The Faust application, created from the settings; nothing else.

The stages register themselves on it by decorators when they are imported, and only
:mod:`alphapanda.wiring` imports them all: ``faust -A alphapanda worker`` and ``alphapanda
worker`` load the app through it. A stage imports this module for ``app`` without pulling in the
others (Faust's own layout: the app module creates the app, one entry point imports the stages).
"""

from __future__ import annotations

import logging
import os

import faust

from alphapanda import codec, stores, tracing
from alphapanda.batch_topics import stop_batch_handlers
from alphapanda.kafka_connection import KafkaConnection, KafkaSetupError
from alphapanda.kafka_probe import is_tansu
from alphapanda.logs import logging_config
from alphapanda.settings import Settings, SettingsError, get_settings
from alphapanda.topic_policy import TopicPolicy
from alphapanda.web_exposure import exposure_problem
from alphapanda.transport import TansuTransport, Transport

__all__ = ["app", "settings", "create_app", "kafka_connection", "topic_policy"]

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


def faust_settings(settings: Settings, *, tansu: bool, credentials=None) -> dict:
    conf = dict(
        broker=settings.kafka_url,
        store=settings.store_url,
        datadir=str(settings.data_dir / "worker"),
        web_port=settings.web_port,
        web_bind=settings.web.bind,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        # TLS and SASL (KAFKA__*) for the worker's consumer, producer and topic creation.
        broker_credentials=credentials,
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
        # PRODUCER__LINGER_MS / __COMPRESSION / __BATCH_SIZE; Faust's defaults when unset.
        **settings.producer.faust_settings(),
    )
    defaults = TANSU_SETTINGS if tansu else KAFKA_SETTINGS
    conf.update({k: v for k, v in defaults.items() if k.upper() not in os.environ})
    return conf


class App(faust.App):
    """Faust's app, which checks its Kafka settings once before any client of it connects."""

    alphapanda_connection: KafkaConnection
    alphapanda_topic_policy: TopicPolicy
    alphapanda_tansu: bool

    alphapanda_setup_error: KafkaSetupError | None = None
    alphapanda_web_token_set: bool = False

    async def on_first_start(self) -> None:
        from alphapanda.kafka_preflight import check

        # Listening beyond loopback without a token would open trading controls to anyone.
        problem = exposure_problem(self.conf.web_bind, token_set=self.alphapanda_web_token_set)
        if problem is not None and self.conf.web_enabled:
            _refuse_to_start(problem)
        # An untrusted certificate or a refused password would otherwise be retried forever.
        try:
            if self.alphapanda_setup_error is not None:
                raise self.alphapanda_setup_error
            await check(self.alphapanda_connection)
        except KafkaSetupError as exc:
            _refuse_to_start(str(exc))
        await super().on_first_start()

    async def on_stop(self) -> None:
        # While the consumer and the tables still run: a batch topic's handler writes what it
        # finished, and Faust's final commit then covers it.
        await stop_batch_handlers(self)
        await super().on_stop()
        tracing.shutdown()  # spans still buffered by the exporter go out before the process ends


def _refuse_to_start(problem: str) -> None:
    log.error("alphapanda: %s", problem)
    raise SystemExit(f"alphapanda: {problem}")


def create_app(settings: Settings) -> faust.App:
    codec.register()
    tracing.configure(settings)
    stores.register(settings.store_memory_mb)
    (settings.data_dir / "worker").mkdir(parents=True, exist_ok=True)
    connection = KafkaConnection.from_settings(settings)
    try:
        credentials, setup_error = connection.faust_credentials(), None
    except KafkaSetupError as exc:
        # Reported when something would connect (the worker's start, a Kafka command), not on
        # import: `broker start --security sasl_ssl` makes the CA that KAFKA__SSL_CAFILE names.
        credentials, setup_error = None, exc
    tansu = setup_error is None and is_tansu(connection)
    app = App("alphapanda", **faust_settings(settings, tansu=tansu, credentials=credentials))
    app.alphapanda_setup_error = setup_error
    app.alphapanda_web_token_set = settings.web.api_token is not None
    app.alphapanda_connection = connection
    app.alphapanda_topic_policy = TopicPolicy.from_settings(settings)
    app.alphapanda_tansu = tansu
    app.transport = (TansuTransport if tansu else Transport)(app.conf.broker_consumer, app)
    return app


try:
    settings = get_settings()
except SettingsError as exc:
    raise SystemExit(f"alphapanda: {exc}") from None

#: How every Kafka client of the app connects (KAFKA_URL, KAFKA__*), and what its topics are made with.
app = create_app(settings)
kafka_connection = app.alphapanda_connection
topic_policy = app.alphapanda_topic_policy
