"""The feed of ``MARKET_FEED`` built from the settings; bad settings name their variable."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from alphapanda.market.feeds.base import FeedConfigError, MarketFeed
from alphapanda.market.feeds.kite import KiteFeed
from alphapanda.market.feeds.replay import ReplayFeed
from alphapanda.market.feeds.simulated import DEPTH_MAX_RATE, SimulatedFeed
from alphapanda.market.hours import MarketHours
from alphapanda.market.instruments import InstrumentMaster, UnknownInstrumentError, load_instrument_master
from alphapanda.market.simulated import SimInstrument, SimulatedMarket, default_instruments
from alphapanda.topics import BrokerTopics

__all__ = ["build_feed", "simulated_instruments", "kite_tokens"]


def _split_price(entry: str, variable: str) -> tuple[str, float | None]:
    name, at, price_text = entry.partition("@")
    if not at:
        return entry.strip(), None
    try:
        price = float(price_text)
    except ValueError:
        price = float("nan")
    if not (math.isfinite(price) and price > 0):
        raise FeedConfigError(f"{variable}: {entry!r}: the start price must be a number > 0")
    return name.strip(), price


def _resolve_token(name: str, master: InstrumentMaster, variable: str) -> int:
    """A token from ``TOKEN``, ``SYMBOL`` (NSE) or ``EXCHANGE:SYMBOL``."""
    if name.isdigit():
        token = int(name)
        if not 0 < token < 2**32:
            raise FeedConfigError(f"{variable}: {name!r} is not an instrument token")
        return token
    exchange, colon, symbol = name.partition(":")
    if not colon:
        exchange, symbol = "NSE", name
    try:
        return master.by_symbol(exchange.upper(), symbol).instrument_token
    except UnknownInstrumentError:
        raise FeedConfigError(f"{variable}: {name!r} is not in the instrument master") from None


def simulated_instruments(
    entries: Sequence[str], master: InstrumentMaster, *, variable: str = "SIMULATION__INSTRUMENTS"
) -> list[SimInstrument]:
    """The instruments of ``SIMULATION__INSTRUMENTS``; the bundled defaults when empty.

    An entry is ``TOKEN``, ``SYMBOL`` or ``EXCHANGE:SYMBOL``, optionally ``@START_PRICE``.
    Instruments outside the defaults come from the instrument master and need a start price.
    """
    defaults = {spec.instrument_token: spec for spec in default_instruments()}
    if not entries:
        return list(defaults.values())
    specs: list[SimInstrument] = []
    for entry in entries:
        name, price = _split_price(entry, variable)
        token = _resolve_token(name, master, variable)
        known = defaults.get(token)
        if known is not None:
            specs.append(known if price is None else _with_price(known, price, variable, entry))
            continue
        if price is None:
            raise FeedConfigError(
                f"{variable}: {entry!r} needs a start price, e.g. {name}@1000"
            )
        instrument = master.get(token)
        try:
            specs.append(SimInstrument(
                token, instrument.tradingsymbol if instrument else str(token), price,
                tick_size=instrument.tick_size if instrument and instrument.tick_size > 0 else 0.05,
                is_index=bool(instrument and instrument.is_index),
            ))
        except ValueError as exc:
            raise FeedConfigError(f"{variable}: {entry!r}: {exc}") from None
    if len({s.instrument_token for s in specs}) != len(specs):
        raise FeedConfigError(f"{variable}: an instrument is listed twice")
    return specs


def _with_price(spec: SimInstrument, price: float, variable: str, entry: str) -> SimInstrument:
    try:
        return SimInstrument(
            spec.instrument_token, spec.tradingsymbol, price, volatility=spec.volatility,
            drift=spec.drift, tick_size=spec.tick_size, typical_quantity=spec.typical_quantity,
            is_index=spec.is_index,
        )
    except ValueError as exc:
        raise FeedConfigError(f"{variable}: {entry!r}: {exc}") from None


def kite_tokens(
    entries: Sequence[str], master: InstrumentMaster, default: Iterable[int] = (),
    *, variable: str = "KITE__TOKENS",
) -> list[int]:
    """The tokens of ``KITE__TOKENS`` (tokens or ``EXCHANGE:SYMBOL``), else ``default``, in order."""
    tokens = [_resolve_token(entry, master, variable) for entry in entries] or list(default)
    tokens = list(dict.fromkeys(tokens))
    if not tokens:
        raise FeedConfigError(f"{variable}: no instruments (and no enabled strategy lists any)")
    return tokens


def _strategy_instruments(settings) -> list[int]:
    from alphapanda.strategies.config import load_strategies

    tokens: list[int] = []
    for config in load_strategies(settings.strategies_dir):
        if config.enabled:
            tokens.extend(config.instruments)
    return tokens


def _hours(settings, kind: str) -> MarketHours | None:
    """Market hours when they apply to ``kind``: on for kite, off otherwise, unless configured."""
    configured = settings.market_hours
    enforce = configured.enforce if configured.enforce is not None else kind == "kite"
    if not enforce:
        return None
    return MarketHours(frozenset(configured.holidays))


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None


def build_feed(spec: str, settings, *, start: datetime | None = None) -> MarketFeed:
    """The feed of ``MARKET_FEED`` (``simulated``, ``replay:PATH``, ``kite``), from the settings.

    Raises :class:`FeedConfigError` naming the variable when the settings cannot make the feed.
    """
    kind, _, arg = spec.partition(":")
    if kind == "simulated":
        sim = settings.simulation
        master = load_instrument_master(settings.zerodha.instruments_path)
        depth = sim.depth if sim.depth is not None else sim.ticks_per_second <= DEPTH_MAX_RATE
        market = SimulatedMarket(simulated_instruments(sim.instruments, master), seed=sim.seed, depth=depth)
        return SimulatedFeed(market, sim.ticks_per_second, start=start, hours=_hours(settings, kind))
    if kind == "replay":
        path = Path(arg)
        if not path.is_file():
            raise FeedConfigError(f"MARKET_FEED: replay tape {arg!r} does not exist")
        return ReplayFeed(path, speed=settings.replay.speed, max_wait=settings.replay.max_wait)
    if kind == "kite":
        zerodha = settings.zerodha
        api_key, access_token = _secret(zerodha.api_key), _secret(zerodha.access_token)
        missing = [name for name, value in
                   (("ZERODHA__API_KEY", api_key), ("ZERODHA__ACCESS_TOKEN", access_token)) if not value]
        if missing:
            raise FeedConfigError(f"{', '.join(missing)}: required by MARKET_FEED=kite")
        master = load_instrument_master(zerodha.instruments_path)
        options = settings.kite
        tokens = kite_tokens(options.tokens, master, default=(
            () if options.tokens else _strategy_instruments(settings)))
        return KiteFeed(
            api_key, access_token, tokens=tokens, mode=options.mode, root=zerodha.ticker_root,
            instruments=master, hours=_hours(settings, kind),
            order_updates_topic=(BrokerTopics("zerodha").venue_updates
                                 if "zerodha" in settings.active_brokers else None),
            ticker_options=dict(
                max_retries=options.max_retries, initial_backoff=options.initial_backoff,
                max_backoff=max(options.max_backoff, options.initial_backoff),
                heartbeat_timeout=options.heartbeat_timeout,
            ),
        )
    raise FeedConfigError(f"MARKET_FEED: {spec!r}: expected simulated, replay:PATH or kite")
