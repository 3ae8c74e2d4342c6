"""The strategy book: the enabled strategies, built once, indexed by instrument for the tick path."""

from __future__ import annotations

from collections.abc import Iterable

from alphapanda.strategies.base import Strategy
from alphapanda.strategies.config import StrategyConfig

__all__ = ["StrategyBook"]


class StrategyBook:
    """Which strategies run on which instrument.

    Responsibilities:
    - build each enabled strategy once (instances are stateless and shared by instruments);
    - answer ``strategies_for(token)`` with one dict lookup, on every tick;
    - give each running strategy's configuration (brokers, live switch) by id.

    Disabled strategies are not in the book at all.
    """

    __slots__ = ("_by_token", "_configs", "_strategies")

    _EMPTY: tuple[Strategy, ...] = ()

    def __init__(self, strategies: Iterable[tuple[StrategyConfig, Strategy]]) -> None:
        by_token: dict[int, list[Strategy]] = {}
        self._configs: dict[str, StrategyConfig] = {}
        self._strategies: dict[str, Strategy] = {}
        for config, strategy in strategies:
            if config.id in self._configs:
                raise ValueError(f"duplicate strategy id {config.id!r}")
            self._configs[config.id] = config
            self._strategies[config.id] = strategy
            for token in config.instruments:
                by_token.setdefault(token, []).append(strategy)
        self._by_token: dict[int, tuple[Strategy, ...]] = {
            token: tuple(items) for token, items in by_token.items()
        }

    @classmethod
    def from_configs(cls, configs: Iterable[StrategyConfig]) -> "StrategyBook":
        return cls((config, config.build()) for config in configs if config.enabled)

    def strategies_for(self, token: int) -> tuple[Strategy, ...]:
        """The strategies that trade ``token``, in configuration order; empty if none."""
        return self._by_token.get(token, self._EMPTY)

    def config_of(self, strategy_id: str) -> StrategyConfig:
        """The configuration of a strategy in the book (``KeyError`` if unknown or disabled)."""
        return self._configs[strategy_id]

    def strategy(self, strategy_id: str) -> Strategy:
        return self._strategies[strategy_id]

    @property
    def configs(self) -> tuple[StrategyConfig, ...]:
        return tuple(self._configs.values())

    @property
    def instruments(self) -> frozenset[int]:
        """Every instrument some strategy trades: what a market feed must subscribe to."""
        return frozenset(self._by_token)

    def __len__(self) -> int:
        return len(self._configs)

    def __contains__(self, strategy_id: object) -> bool:
        return strategy_id in self._configs
