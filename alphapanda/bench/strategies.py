"""The benchmark's strategy files: S strategies, each over all K instruments, only one signalling.

Strategy 0 is momentum with lookback 1 and a threshold below the bench's price jump
(:data:`alphapanda.bench.ticks.JUMP`): it signals on exactly the jump ticks and the returns from
them. The others alternate between mean reversion and slower momentum with thresholds the price
path never reaches: they cost what real strategies cost per tick but add no order flow, so the
number of fills per second does not grow with S. No new strategy kind is needed.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from alphapanda.bench.ticks import JUMP, NOISE

__all__ = ["write_strategies", "SIGNALLING_STRATEGY"]

SIGNALLING_STRATEGY = "bench_signal"


def _config(index: int, tokens: list[int], broker: str) -> dict:
    if index == 0:
        kind, strategy_id = "momentum", SIGNALLING_STRATEGY
        # Between an ordinary move (at most 2 x NOISE) and a jump.
        params = {"lookback": 1, "threshold": (JUMP + 2 * NOISE) / 3, "quantity": 1}
    elif index % 2:
        kind, strategy_id = "mean_reversion", f"bench_mr_{index}"
        params = {"window": 20, "entry_z": 100.0, "quantity": 1}
    else:
        kind, strategy_id = "momentum", f"bench_mom_{index}"
        params = {"lookback": 10, "threshold": 0.5, "quantity": 1}
    return {"id": strategy_id, "kind": kind, "params": params, "instruments": tokens, "brokers": [broker]}


def write_strategies(directory: Path, count: int, tokens: list[int], *, broker: str = "paper") -> list[str]:
    """Write ``count`` strategy files into ``directory``; returns their ids."""
    if count < 1:
        raise ValueError("at least one strategy")
    directory.mkdir(parents=True, exist_ok=True)
    ids = []
    for index in range(count):
        config = _config(index, tokens, broker)
        (directory / f"{index:03d}_{config['id']}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        ids.append(config["id"])
    return ids
