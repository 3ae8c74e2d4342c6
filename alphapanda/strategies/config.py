"""Strategy configuration: one YAML file per strategy in ``STRATEGIES_DIR``.

A file looks like::

    id: momentum_v1
    kind: momentum            # a key of STRATEGY_KINDS
    params: {lookback: 20, threshold: 0.0005, quantity: 1, cooldown_seconds: 30}
    instruments: [256265, 408065]
    brokers: [paper, zerodha]
    enabled: true             # default true
    live_trading: false       # default false: live brokers get no signals unless true

Every problem is reported as ``<file>: <field>: <message>``, so an operator can fix the file
without reading a traceback.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from alphapanda import brokers
from alphapanda.models.payloads import MAX_TOKEN
from alphapanda.strategies.base import Strategy, StrategyParams
from alphapanda.strategies.mean_reversion import MeanReversionStrategy
from alphapanda.strategies.momentum import MomentumStrategy

__all__ = [
    "STRATEGY_KINDS",
    "StrategyConfig",
    "StrategyConfigError",
    "load_strategies",
    "parse_strategy",
]

# Adding a kind of strategy is one entry here.
STRATEGY_KINDS: dict[str, type[Strategy]] = {
    MomentumStrategy.kind: MomentumStrategy,
    MeanReversionStrategy.kind: MeanReversionStrategy,
}

MAX_FILE_BYTES = 1024 * 1024


class StrategyConfigError(ValueError):
    """Invalid strategy configuration; each line of the message names the file and the field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


Token = Annotated[int, Field(gt=0, le=MAX_TOKEN)]


class StrategyConfig(BaseModel):
    """One strategy: what runs (kind, params), on what (instruments) and where (brokers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    kind: str
    # Validated by the kind's own model; holds that model's instance afterwards.
    params: Any = Field(default_factory=dict, validate_default=True)
    instruments: list[Token] = Field(min_length=1, max_length=10_000)
    brokers: list[str] = Field(min_length=1)
    enabled: bool = True
    live_trading: bool = False

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in STRATEGY_KINDS:
            raise ValueError(f"unknown strategy kind {value!r} (known: {', '.join(STRATEGY_KINDS)})")
        return value

    @field_validator("params")
    @classmethod
    def _params_of_kind(cls, value: Any, info: ValidationInfo) -> StrategyParams | Any:
        kind = info.data.get("kind")
        if kind is None:  # the kind itself is invalid and already reported
            return value
        model = STRATEGY_KINDS[kind].params_model
        if isinstance(value, model):
            return value
        if value is None:
            value = {}
        return model.model_validate(value)

    @field_validator("instruments")
    @classmethod
    def _unique_instruments(cls, value: list[int]) -> list[int]:
        seen = set()
        for token in value:
            if token in seen:
                raise ValueError(f"instrument {token} is listed twice")
            seen.add(token)
        return value

    @field_validator("brokers")
    @classmethod
    def _broker_names(cls, value: list[str]) -> list[str]:
        for name in value:
            brokers.check_broker_name(name)
        if len(set(value)) != len(value):
            raise ValueError("a broker is listed twice")
        return value

    def build(self) -> Strategy:
        """A strategy instance of this kind with these params."""
        return STRATEGY_KINDS[self.kind](self.id, self.params)

    def target_brokers(self, active: Collection[str], live: Collection[str]) -> list[str]:
        """The brokers that receive this strategy's signals, in the order of the file.

        Only active brokers; a live broker (real money) only when ``live_trading`` is true.
        """
        return [
            name
            for name in self.brokers
            if name in active and (self.live_trading or name not in live)
        ]


def _describe(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in err["loc"]) or "<root>"
        message = err["msg"].removeprefix("Value error, ")
        problems.append(f"{field}: {message}")
    return problems


def parse_strategy(text: str, name: str = "<string>") -> StrategyConfig:
    """Validate the YAML text of one strategy file; errors name ``name`` and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "<root>"
        problem = getattr(exc, "problem", None) or str(exc)
        raise StrategyConfigError([f"{name}: {where}: invalid YAML: {problem}"]) from None
    if not isinstance(data, dict):
        found = "an empty file" if data is None else type(data).__name__
        raise StrategyConfigError([f"{name}: <root>: expected a mapping of fields, found {found}"])
    try:
        return StrategyConfig.model_validate(data)
    except ValidationError as exc:
        raise StrategyConfigError([f"{name}: {problem}" for problem in _describe(exc)]) from None


def load_strategies(
    directory: Path, known_brokers: Collection[str] | None = None
) -> list[StrategyConfig]:
    """Every ``*.yaml``/``*.yml`` strategy in ``directory`` (sorted by file name), validated.

    All files are checked before anything is raised, so one error message lists every problem.
    Ids must be unique across files. With ``known_brokers``, a broker name outside it is an
    error too (a typo would otherwise silently drop the strategy's signals).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise StrategyConfigError([f"{directory}: not a directory of strategy files"])
    files = sorted(
        path for path in directory.iterdir()
        if path.suffix in (".yaml", ".yml") and path.is_file()
    )
    problems: list[str] = []
    configs: list[StrategyConfig] = []
    first_file_of: dict[str, str] = {}
    for path in files:
        name = path.name
        try:
            raw = path.read_bytes()
            if len(raw) > MAX_FILE_BYTES:
                raise StrategyConfigError([f"{name}: <root>: file larger than {MAX_FILE_BYTES} bytes"])
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise StrategyConfigError([f"{name}: <root>: not UTF-8 text ({exc.reason})"]) from None
            config = parse_strategy(text, name)
        except StrategyConfigError as exc:
            problems.extend(exc.problems)
            continue
        except OSError as exc:
            problems.append(f"{name}: <root>: cannot read: {exc.strerror or exc}")
            continue
        if config.id in first_file_of:
            problems.append(
                f"{name}: id: duplicate strategy id {config.id!r} (also in {first_file_of[config.id]})"
            )
            continue
        first_file_of[config.id] = name
        if known_brokers is not None:
            for index, broker in enumerate(config.brokers):
                if broker not in known_brokers:
                    problems.append(
                        f"{name}: brokers.{index}: unknown broker {broker!r} "
                        f"(registered: {', '.join(known_brokers)})"
                    )
        configs.append(config)
    if problems:
        raise StrategyConfigError(problems)
    return configs
