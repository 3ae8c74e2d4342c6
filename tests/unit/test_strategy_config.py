"""Strategy YAML files: validation with errors that name the file and the field; the book."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from alphapanda.models import MarketTick
from alphapanda.settings import BUNDLED_STRATEGIES_DIR
from alphapanda.strategies import (
    STRATEGY_KINDS,
    MeanReversionStrategy,
    MomentumParams,
    MomentumStrategy,
    StrategyBook,
    StrategyConfig,
    StrategyConfigError,
    load_strategies,
)

MOMENTUM = """
id: momentum_v1
kind: momentum
params: {lookback: 20, threshold: 0.001, quantity: 10, cooldown_seconds: 30}
instruments: [256265, 408065]
brokers: [paper, zerodha]
"""

MEAN_REVERSION = """
id: mean_reversion_v1
kind: mean_reversion
params: {window: 20, entry_z: 2.0, quantity: 5}
instruments: [408065, 738561]
brokers: [paper]
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def config(**overrides) -> StrategyConfig:
    data = {
        "id": "s1",
        "kind": "momentum",
        "params": {"lookback": 3, "threshold": 0.01, "quantity": 1},
        "instruments": [408065],
        "brokers": ["paper"],
    } | overrides
    return StrategyConfig.model_validate(data)


def load_error(directory: Path) -> str:
    with pytest.raises(StrategyConfigError) as info:
        load_strategies(directory)
    return str(info.value)


# Loading ----------------------------------------------------------------------------------

def test_loads_every_yaml_file_of_the_directory_in_name_order(tmp_path):
    write(tmp_path, "b_momentum.yaml", MOMENTUM)
    write(tmp_path, "a_mean_reversion.yml", MEAN_REVERSION)
    write(tmp_path, "notes.txt", "not a strategy")
    configs = load_strategies(tmp_path)
    assert [c.id for c in configs] == ["mean_reversion_v1", "momentum_v1"]


def test_params_are_validated_into_the_model_of_the_kind(tmp_path):
    write(tmp_path, "momentum.yaml", MOMENTUM)
    [loaded] = load_strategies(tmp_path)
    assert loaded.params == MomentumParams(lookback=20, threshold=0.001, quantity=10, cooldown_seconds=30)


def test_defaults_are_enabled_and_not_live(tmp_path):
    write(tmp_path, "momentum.yaml", MOMENTUM)
    [loaded] = load_strategies(tmp_path)
    assert loaded.enabled is True and loaded.live_trading is False


def test_an_invalid_param_names_the_file_and_the_field(tmp_path):
    write(tmp_path, "momentum.yaml", MOMENTUM.replace("lookback: 20", "lookback: 0"))
    assert load_error(tmp_path) == "momentum.yaml: params.lookback: Input should be greater than 0"


def test_a_param_of_another_kind_is_an_error(tmp_path):
    write(tmp_path, "momentum.yaml", MOMENTUM.replace("lookback: 20", "window: 20"))
    message = load_error(tmp_path)
    assert "momentum.yaml: params.window: Extra inputs are not permitted" in message
    assert "momentum.yaml: params.lookback: Field required" in message


def test_an_unknown_top_level_field_is_an_error(tmp_path):
    write(tmp_path, "momentum.yaml", MOMENTUM + "brokerz: [paper]\n")
    assert load_error(tmp_path) == "momentum.yaml: brokerz: Extra inputs are not permitted"


def test_an_unknown_kind_names_the_known_ones(tmp_path):
    write(tmp_path, "momentum.yaml", MOMENTUM.replace("kind: momentum", "kind: arbitrage"))
    message = load_error(tmp_path)
    assert message.startswith("momentum.yaml: kind: unknown strategy kind 'arbitrage'")
    assert "momentum, mean_reversion" in message


def test_instruments_must_not_be_empty(tmp_path):
    write(tmp_path, "momentum.yaml", MOMENTUM.replace("[256265, 408065]", "[]"))
    assert load_error(tmp_path).startswith("momentum.yaml: instruments: List should have at least 1 item")


def test_an_instrument_token_must_be_positive(tmp_path):
    write(tmp_path, "momentum.yaml", MOMENTUM.replace("[256265, 408065]", "[256265, -4]"))
    assert load_error(tmp_path) == "momentum.yaml: instruments.1: Input should be greater than 0"


def test_a_broker_name_must_follow_the_naming_rule(tmp_path):
    write(tmp_path, "momentum.yaml", MOMENTUM.replace("[paper, zerodha]", "[paper, Zerodha]"))
    assert "momentum.yaml: brokers: broker name 'Zerodha' must match" in load_error(tmp_path)


def test_unknown_brokers_are_errors_when_the_known_ones_are_given(tmp_path):
    write(tmp_path, "momentum.yaml", MOMENTUM.replace("[paper, zerodha]", "[paper, zerodah]"))
    with pytest.raises(StrategyConfigError, match=r"momentum.yaml: brokers.1: unknown broker 'zerodah'"):
        load_strategies(tmp_path, known_brokers=["paper", "zerodha"])


def test_duplicate_ids_name_both_files(tmp_path):
    write(tmp_path, "a.yaml", MOMENTUM)
    write(tmp_path, "b.yaml", MOMENTUM)
    assert load_error(tmp_path) == "b.yaml: id: duplicate strategy id 'momentum_v1' (also in a.yaml)"


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    write(tmp_path, "broken.yaml", "id: x\nkind: [momentum\n")
    assert load_error(tmp_path).startswith("broken.yaml: line 3: invalid YAML")


@pytest.mark.parametrize("text, found", [("", "an empty file"), ("- a\n- b\n", "list")])
def test_a_file_that_is_not_a_mapping_is_an_error(tmp_path, text, found):
    write(tmp_path, "odd.yaml", text)
    assert load_error(tmp_path) == f"odd.yaml: <root>: expected a mapping of fields, found {found}"


def test_every_broken_file_is_reported_at_once(tmp_path):
    write(tmp_path, "a.yaml", MOMENTUM.replace("lookback: 20", "lookback: -1"))
    write(tmp_path, "b.yaml", MEAN_REVERSION.replace("entry_z: 2.0", "entry_z: 0"))
    with pytest.raises(StrategyConfigError) as info:
        load_strategies(tmp_path)
    assert [p.split(":")[0] for p in info.value.problems] == ["a.yaml", "b.yaml"]


def test_a_missing_directory_is_an_error(tmp_path):
    with pytest.raises(StrategyConfigError, match="not a directory"):
        load_strategies(tmp_path / "nope")


def test_an_empty_directory_has_no_strategies(tmp_path):
    assert load_strategies(tmp_path) == []


def test_the_bundled_examples_load():
    configs = {c.id: c for c in load_strategies(BUNDLED_STRATEGIES_DIR, known_brokers=["paper", "zerodha"])}
    assert set(configs) == {"momentum_v1", "mean_reversion_v1"}
    assert configs["momentum_v1"].brokers == ["paper", "zerodha"]
    assert configs["momentum_v1"].live_trading is False
    assert configs["mean_reversion_v1"].brokers == ["paper"]
    for token in (256265, 408065, 738561, 2953217):
        assert any(token in c.instruments for c in configs.values())


def test_every_registered_kind_has_its_own_params_model():
    for kind, strategy_class in STRATEGY_KINDS.items():
        assert strategy_class.kind == kind
        assert strategy_class.params_model.model_config["extra"] == "forbid"


# Broker targeting -------------------------------------------------------------------------

def test_target_brokers_are_the_active_ones_of_the_strategy():
    strategy = config(brokers=["paper", "zerodha"])
    assert strategy.target_brokers(active=["paper"], live=["zerodha"]) == ["paper"]


def test_live_brokers_get_nothing_without_the_live_trading_switch():
    strategy = config(brokers=["paper", "zerodha"])
    assert strategy.target_brokers(active=["paper", "zerodha"], live=["zerodha"]) == ["paper"]


def test_live_brokers_get_signals_when_live_trading_is_on():
    strategy = config(brokers=["paper", "zerodha"], live_trading=True)
    assert strategy.target_brokers(active=["paper", "zerodha"], live=["zerodha"]) == ["paper", "zerodha"]


def test_a_strategy_on_inactive_brokers_only_has_no_targets():
    assert config(brokers=["zerodha"], live_trading=True).target_brokers(active=["paper"], live=[]) == []


# The book ---------------------------------------------------------------------------------

def test_the_book_finds_strategies_by_instrument():
    momentum = config(id="m", instruments=[1, 2])
    reversion = config(
        id="r", kind="mean_reversion", params={"window": 5, "entry_z": 2, "quantity": 1}, instruments=[2, 3]
    )
    book = StrategyBook.from_configs([momentum, reversion])
    assert [s.id for s in book.strategies_for(2)] == ["m", "r"]
    assert [type(s) for s in book.strategies_for(2)] == [MomentumStrategy, MeanReversionStrategy]
    assert [s.id for s in book.strategies_for(3)] == ["r"]
    assert book.strategies_for(99) == ()
    assert book.instruments == {1, 2, 3}


def test_the_book_builds_each_strategy_once():
    book = StrategyBook.from_configs([config(id="m", instruments=[1, 2])])
    assert book.strategies_for(1)[0] is book.strategies_for(2)[0]


def test_disabled_strategies_are_not_in_the_book():
    book = StrategyBook.from_configs([config(id="on"), config(id="off", enabled=False)])
    assert [s.id for s in book.strategies_for(408065)] == ["on"]
    assert "off" not in book
    with pytest.raises(KeyError):
        book.config_of("off")


def test_the_book_gives_the_config_of_a_running_strategy():
    strategy_config = config(id="m", brokers=["paper", "zerodha"])
    book = StrategyBook.from_configs([strategy_config])
    assert book.config_of("m") is strategy_config


def test_the_book_refuses_duplicate_ids():
    with pytest.raises(ValueError, match="duplicate strategy id 'm'"):
        StrategyBook.from_configs([config(id="m"), config(id="m")])


def test_a_book_strategy_signals_on_ticks():
    book = StrategyBook.from_configs(
        [config(id="m", params={"lookback": 1, "threshold": 0.01, "quantity": 3})]
    )
    [strategy] = book.strategies_for(408065)
    t0 = datetime(2026, 11, 23, 3, 45, tzinfo=timezone.utc)
    state = None
    results = []
    for i, price in enumerate([100.0, 102.0]):
        tick = MarketTick(instrument_token=408065, last_price=price, timestamp=t0 + timedelta(seconds=i))
        result = strategy.on_tick(tick, state)
        state = result.state
        results.append(result)
    assert results[-1].signals[0].quantity == 3
