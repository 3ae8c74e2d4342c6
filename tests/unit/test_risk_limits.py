"""Risk limits: defaults, validation, and the partial update behind PUT /api/v1/risk/{broker}/limits."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from alphapanda.risk import NUMERIC_LIMITS, InvalidLimits, RiskLimits, RiskReason


def test_defaults_are_positive_finite_limits_for_a_paper_account():
    limits = RiskLimits()
    for name in NUMERIC_LIMITS:
        value = getattr(limits, name)
        assert value is not None and value > 0 and math.isfinite(value), name
    assert limits.allowed_instruments is None
    assert limits.denied_instruments == []


def test_unlimited_has_no_numeric_limit():
    limits = RiskLimits.unlimited()
    assert all(getattr(limits, name) is None for name in NUMERIC_LIMITS)


def test_merged_applies_only_the_fields_in_the_patch():
    limits = RiskLimits(max_order_quantity=100, max_gross_exposure=5_000)
    updated = limits.merged({"max_order_quantity": 50})
    assert updated.max_order_quantity == 50
    assert updated.max_gross_exposure == 5_000
    assert updated.daily_loss_limit == limits.daily_loss_limit


def test_merged_leaves_the_original_unchanged():
    limits = RiskLimits(max_order_quantity=100)
    limits.merged({"max_order_quantity": 50})
    assert limits.max_order_quantity == 100


def test_merged_with_null_removes_a_limit():
    assert RiskLimits().merged({"max_order_notional": None}).max_order_notional is None


def test_merged_with_an_empty_patch_is_the_same_limits():
    limits = RiskLimits(max_position_quantity=7)
    assert limits.merged({}) == limits


def test_unknown_field_in_a_patch_fails_naming_the_field():
    with pytest.raises(InvalidLimits) as raised:
        RiskLimits().merged({"max_order_qty": 5})
    assert raised.value.fields == ("max_order_qty",)
    assert "max_order_qty" in str(raised.value)
    assert "unknown risk limit" in str(raised.value)


def test_invalid_limits_is_a_value_error():
    with pytest.raises(ValueError):
        RiskLimits().merged({"nonsense": 1})


@pytest.mark.parametrize("name", NUMERIC_LIMITS)
@pytest.mark.parametrize("bad", [0, -1, -0.5, math.nan, math.inf, True, "100", [1]])
def test_a_numeric_limit_must_be_a_positive_finite_number(name, bad):
    with pytest.raises(InvalidLimits) as raised:
        RiskLimits().merged({name: bad})
    assert raised.value.fields == (name,)
    assert name in str(raised.value)


def test_every_bad_field_is_named():
    with pytest.raises(InvalidLimits) as raised:
        RiskLimits().merged({"max_order_quantity": -1, "typo": 1})
    assert set(raised.value.fields) == {"max_order_quantity", "typo"}


def test_patch_must_be_an_object():
    with pytest.raises(InvalidLimits):
        RiskLimits().merged([("max_order_quantity", 1)])  # type: ignore[arg-type]


def test_direct_construction_rejects_unknown_fields_naming_them():
    with pytest.raises(ValidationError, match="max_orders_per_min"):
        RiskLimits(max_orders_per_min=5)  # type: ignore[call-arg]


def test_limits_are_immutable():
    limits = RiskLimits()
    with pytest.raises(ValidationError):
        limits.max_order_quantity = 5  # type: ignore[misc]


def test_integer_and_float_limits_keep_their_type():
    limits = RiskLimits(max_order_quantity=10, max_order_notional=2500.5)
    assert type(limits.max_order_quantity) is int
    assert type(limits.max_order_notional) is float


def test_instrument_lists_are_deduplicated_and_sorted():
    limits = RiskLimits(allowed_instruments=[3, 1, 3], denied_instruments=[9, 2])
    assert limits.allowed_instruments == [1, 3]
    assert limits.denied_instruments == [2, 9]


@pytest.mark.parametrize("bad", [[0], [-5], ["256265"], [1.5], "256265", 5])
def test_instrument_lists_hold_positive_integer_tokens(bad):
    with pytest.raises(InvalidLimits) as raised:
        RiskLimits().merged({"allowed_instruments": bad})
    assert raised.value.fields == ("allowed_instruments",)


def test_null_deny_list_means_none_denied():
    assert RiskLimits().merged({"denied_instruments": None}).denied_instruments == []


def test_json_round_trip_is_lossless():
    limits = RiskLimits(max_order_quantity=10, max_order_notional=2500.5, allowed_instruments=[1, 2])
    assert RiskLimits.from_mapping(json.loads(json.dumps(limits.to_dict()))) == limits


def test_from_mapping_fills_missing_fields_with_defaults():
    assert RiskLimits.from_mapping({"max_order_quantity": 3}) == RiskLimits(max_order_quantity=3)


def test_reason_codes_are_the_stable_contract_codes():
    assert {code.value for code in RiskReason} == {
        "MAX_ORDER_QUANTITY_EXCEEDED",
        "MAX_ORDER_NOTIONAL_EXCEEDED",
        "MAX_POSITION_EXCEEDED",
        "MAX_GROSS_EXPOSURE_EXCEEDED",
        "RATE_LIMIT_EXCEEDED",
        "DAILY_LOSS_LIMIT_REACHED",
        "TRADING_HALTED",
        "TRADING_STATE_REDUCING",
        "INSTRUMENT_NOT_ALLOWED",
    }
    assert all(code.value == code.name for code in RiskReason)
