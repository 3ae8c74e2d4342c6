"""Settings come from the environment; a bad one stops startup naming the variable."""

import pytest

from alphapanda.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    import os

    for name in [n for n in os.environ if n.startswith("RISK__")]:
        monkeypatch.delenv(name)
    for name in ("ACTIVE_BROKERS", "KAFKA_URL", "TOPIC_PARTITIONS", "MARKET_FEED", "ZERODHA__API_KEY",
                 "TRADING__PAPER__SLIPPAGE_BPS", "STRATEGIES_DIR", "STORE_URL", "STORE_MEMORY_MB", "EMBEDDED_BROKER",
                 "EMBEDDED_BROKER_HEAP_MB"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_follow_the_contract():
    s = load_settings()
    assert s.active_brokers == ("paper",)
    assert s.kafka_url == "kafka://127.0.0.1:9092" and s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.web_port == 6066 and s.topic_partitions == 8 and s.store_url == "rocksdb://"
    assert s.store_memory_mb == 16
    assert s.trading.paper.slippage_bps == 5 and s.trading.paper.commission == "zerodha"
    assert s.trading.paper.starting_cash == 1_000_000 and s.trading.zerodha.enabled is False
    assert s.strategies_dir.is_dir()
    assert s.embedded_broker == "kafka" and s.embedded_broker_heap_mb == 256


def test_active_brokers_is_a_comma_list(monkeypatch):
    monkeypatch.setenv("ACTIVE_BROKERS", " paper , zerodha ")
    assert load_settings().active_brokers == ("paper", "zerodha")


def test_an_unknown_broker_is_named(monkeypatch):
    monkeypatch.setenv("ACTIVE_BROKERS", "paper,nyse")
    with pytest.raises(SettingsError, match=r"ACTIVE_BROKERS: unknown broker 'nyse'"):
        load_settings()


@pytest.mark.parametrize("name,value", [
    ("TOPIC_PARTITIONS", "0"),
    ("TOPIC_PARTITIONS", "many"),
    ("MARKET_FEED", "carrier-pigeon"),
    ("MARKET_FEED", "replay:"),
    ("STORE_URL", "redis://"),
    ("STORE_MEMORY_MB", "4"),
    ("TRADING__PAPER__SLIPPAGE_BPS", "-1"),
    ("STRATEGIES_DIR", "/does/not/exist"),
    ("TRACING__ENABLED", "perhaps"),
    ("TRACING__SERVICE_NAME", ""),
    ("FEED_PRODUCER__LINGER_MS", "-5"),
])
def test_invalid_values_name_their_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_nested_settings_use_double_underscores(monkeypatch):
    monkeypatch.setenv("TRADING__PAPER__SLIPPAGE_BPS", "2.5")
    assert load_settings().trading.paper.slippage_bps == 2.5


def test_secrets_never_print(monkeypatch):
    monkeypatch.setenv("ZERODHA__API_KEY", "very-secret-key-123")
    s = load_settings()
    assert "very-secret-key-123" not in repr(s) and "very-secret-key-123" not in str(s.safe_dump())
    assert s.zerodha.api_key.get_secret_value() == "very-secret-key-123"


def test_risk_limits_are_seeded_per_broker_from_json_values(monkeypatch):
    monkeypatch.setenv("RISK__PAPER__MAX_POSITION_QUANTITY", "500")
    monkeypatch.setenv("RISK__PAPER__DAILY_LOSS_LIMIT", "null")
    monkeypatch.setenv("RISK__PAPER__DENIED_INSTRUMENTS", "[408065]")
    assert load_settings().risk == {"paper": {"max_position_quantity": 500, "daily_loss_limit": None,
                                              "denied_instruments": [408065]}}


@pytest.mark.parametrize("name,value", [
    ("RISK__PAPER__MAX_ORDER_QUANTTY", "5"),
    ("RISK__PAPER__MAX_ORDER_QUANTITY", "-5"),
    ("RISK__NYSE__MAX_ORDER_QUANTITY", "5"),
])
def test_a_bad_risk_limit_setting_is_named(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name.rsplit("__", 1)[0] if "NYSE" in name else name):
        load_settings()


@pytest.mark.parametrize("name, value", [("EMBEDDED_BROKER", "zookeeper"), ("EMBEDDED_BROKER_HEAP_MB", "16")])
def test_a_bad_embedded_broker_setting_names_itself(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_producer_tuning_is_optional_and_each_setting_maps_to_its_client_option(monkeypatch):
    from alphapanda.settings import load_settings

    plain = load_settings()
    assert plain.producer.faust_settings() == {}
    assert plain.feed_producer.aiokafka_options(linger_ms=5, batch_size=262144) == {
        "linger_ms": 5, "max_batch_size": 262144, "compression_type": None}
    monkeypatch.setenv("PRODUCER__LINGER_MS", "3")
    monkeypatch.setenv("PRODUCER__COMPRESSION", "Snappy")
    monkeypatch.setenv("PRODUCER__BATCH_SIZE", "32768")
    monkeypatch.setenv("FEED_PRODUCER__COMPRESSION", "none")
    tuned = load_settings()
    assert tuned.producer.faust_settings() == {
        "producer_linger": 0.003, "producer_max_batch_size": 32768, "producer_compression_type": "snappy"}
    assert tuned.feed_producer.aiokafka_options(linger_ms=5, batch_size=262144)["compression_type"] is None


@pytest.mark.parametrize("variable, value, named", [
    ("PRODUCER__COMPRESSION", "brotli", "PRODUCER__COMPRESSION"),
    ("FEED_PRODUCER__LINGER_MS", "-1", "FEED_PRODUCER__LINGER_MS"),
    ("PRODUCER__BATCH_SIZE", "10", "PRODUCER__BATCH_SIZE"),
])
def test_bad_producer_tuning_is_refused_naming_the_variable(monkeypatch, variable, value, named):
    from alphapanda.settings import SettingsError, load_settings

    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=named):
        load_settings()


@pytest.mark.parametrize("variable, value", [
    ("TRACING__ENDPOINT", "localhost:4318"),
    ("TRACING__SAMPLE_RATIO", "0"),
    ("TRACING__EXPORTER", "jaeger"),
])
def test_bad_tracing_settings_are_refused_naming_the_variable(monkeypatch, variable, value):
    from alphapanda.settings import SettingsError, load_settings

    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_tracing_is_off_by_default():
    from alphapanda.settings import load_settings

    tracing = load_settings().tracing
    assert tracing.enabled is False and tracing.exporter == "otlp" and tracing.sample_ratio == 1.0


def test_a_backtest_hands_the_fill_model_and_risk_limits_from_env_files_to_its_worker(monkeypatch, tmp_path):
    from alphapanda.backtest.runner import pipeline_settings_env

    # What the command loaded from the folder it was started in (.env) ...
    (tmp_path / ".env").write_text("TRADING__PAPER__COMMISSION=none\nTRADING__PAPER__STARTING_CASH=250000\n"
                                   "RISK__PAPER__MAX_POSITION_QUANTITY=40\nRISK__PAPER__DENIED_INSTRUMENTS=[408065]\n"
                                   "PORTFOLIO__SNAPSHOT_INTERVAL_SECONDS=5\n")
    monkeypatch.setenv("TRADING__PAPER__SLIPPAGE_BPS", "0")
    loaded = load_settings()
    env = pipeline_settings_env(loaded)
    # ... is what the worker, started elsewhere with only these variables, reads.
    (tmp_path / ".env").unlink()
    monkeypatch.delenv("TRADING__PAPER__SLIPPAGE_BPS")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    seen = load_settings()
    assert seen.trading.paper == loaded.trading.paper
    assert (seen.trading.paper.commission, seen.trading.paper.starting_cash, seen.trading.paper.slippage_bps) == (
        "none", 250000.0, 0.0)
    assert seen.risk == loaded.risk == {"paper": {"max_position_quantity": 40, "denied_instruments": [408065]}}
    assert seen.portfolio.snapshot_interval_seconds == 5.0
