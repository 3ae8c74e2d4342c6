"""The risk limits of one broker account, and their validation.

A limit of ``None`` means "no limit". Every numeric limit is inclusive: a value equal to the limit
is allowed, a value beyond it is rejected (the reason codes say ``*_EXCEEDED``). The daily loss
limit is a positive amount: trading halts when the day's realized PnL falls *below* its negative.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

__all__ = ["RiskLimits", "InvalidLimits", "NUMERIC_LIMITS"]

NUMERIC_LIMITS = (
    "max_order_quantity",
    "max_order_notional",
    "max_position_quantity",
    "max_gross_exposure",
    "max_orders_per_minute",
    "daily_loss_limit",
)


class InvalidLimits(ValueError):
    """A limits document or patch that is not valid; the message names every bad field.

    ``fields`` lists the offending field names, so a web view can answer 400 with them.
    """

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        self.fields = tuple(self.problems)
        super().__init__("invalid risk limits: " + "; ".join(f"{k}: {v}" for k, v in self.problems.items()))


def _positive_number(value: Any) -> int | float | None:
    # bool is an int in Python and "100" would be a client bug: both are refused, not coerced.
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a positive number or null, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")
    return value


def _tokens(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise ValueError(f"must be a list of instrument tokens, got {value!r}")
    tokens = []
    for token in value:
        if isinstance(token, bool) or not isinstance(token, int) or token <= 0:
            raise ValueError(f"instrument tokens must be positive integers, got {token!r}")
        tokens.append(token)
    return sorted(set(tokens))


Limit = Annotated[int | float | None, BeforeValidator(_positive_number)]
Tokens = Annotated[list[int] | None, BeforeValidator(_tokens)]


class RiskLimits(BaseModel):
    """The limits the risk engine enforces for one account (immutable; change with :meth:`merged`).

    The defaults suit the paper account (1,000,000 starting cash, CONTRACTS.md) and stop a runaway
    strategy long before it can spend the account, while leaving room for normal trading:

    - ``max_order_quantity`` = 1,000 units per order.
    - ``max_order_notional`` = 250,000 per order (quantity x price, or x limit price for LIMIT
      orders): a quarter of the starting cash.
    - ``max_position_quantity`` = 5,000 units net per instrument, counted after the order.
    - ``max_gross_exposure`` = 2,000,000 for the account: sum of |position| x last price over all
      instruments, i.e. at most 2x the starting cash (intraday leverage).
    - ``max_orders_per_minute`` = 120 approved orders in any 60 s of event time; Zerodha allows
      ~400/min per account, so this stays well under the venue's own limit.
    - ``daily_loss_limit`` = 50,000 (5 % of the starting cash) of realized loss per UTC day.
    - ``allowed_instruments`` = None (all instruments); ``denied_instruments`` = [] (none).

    ``None`` turns a numeric limit off. Unknown fields are an error that names them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_order_quantity: Limit = 1_000
    max_order_notional: Limit = 250_000
    max_position_quantity: Limit = 5_000
    max_gross_exposure: Limit = 2_000_000
    max_orders_per_minute: Limit = 120
    daily_loss_limit: Limit = 50_000
    allowed_instruments: Tokens = None
    denied_instruments: Tokens = Field(default_factory=list)

    @classmethod
    def unlimited(cls) -> "RiskLimits":
        """No numeric limit and no instrument restriction (tests, or an explicit operator choice)."""
        return cls(**{name: None for name in NUMERIC_LIMITS})

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "RiskLimits":
        """Limits from a settings/JSON mapping; missing fields take the defaults.

        Raises :class:`InvalidLimits` naming each bad or unknown field.
        """
        if not isinstance(data, Mapping):
            raise InvalidLimits({"<body>": f"expected an object of limits, got {type(data).__name__}"})
        data = dict(data)
        # A null denied list means "none denied", the same as an empty list.
        if "denied_instruments" in data and data["denied_instruments"] is None:
            data["denied_instruments"] = []
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidLimits(_problems(exc)) from None

    def merged(self, patch: Mapping[str, Any]) -> "RiskLimits":
        """These limits with ``patch`` (any subset of the fields) applied; ``None`` removes a limit.

        Raises :class:`InvalidLimits` naming each bad or unknown field; ``self`` is unchanged.
        """
        if not isinstance(patch, Mapping):
            raise InvalidLimits({"<body>": f"expected an object of limits, got {type(patch).__name__}"})
        return self.from_mapping({**self.model_dump(), **patch})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what ``GET /api/v1/risk/{broker}`` shows as ``limits``)."""
        return self.model_dump(mode="json")


def _problems(exc: ValidationError) -> dict[str, str]:
    known = ", ".join(RiskLimits.model_fields)
    problems: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        field = str(err["loc"][0]) if err["loc"] else "<body>"
        if err["type"] == "extra_forbidden":
            message = f"unknown risk limit (known: {known})"
        else:
            message = err["msg"].removeprefix("Value error, ")
        problems.setdefault(field, message)
    return problems
