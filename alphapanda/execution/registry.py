"""Venues by broker name: the only place that knows which adapter serves which broker.

Adding a broker is one :class:`VenueSpec` here (or a :func:`register_venue` call from a plugin or a
test) plus its settings; no agent branches on broker names. A plugin is a module named in
``VENUE_PLUGINS``: settings import it before checking ``ACTIVE_BROKERS``, so its registrations
make its broker names valid there (``tests/support/third_venue.py`` is an example).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from alphapanda import brokers
from alphapanda.execution.venue import Venue

__all__ = ["VenueSpec", "register_venue", "venue_spec", "live_brokers", "build_venue", "VENUES"]


@dataclass(frozen=True)
class VenueSpec:
    """How to build the venue of one broker.

    name: the broker name (topic prefix).
    live: True when orders move real money (strategies must opt in with ``live_trading``).
    build: makes the venue from the settings.
    """

    name: str
    live: bool
    build: Callable[["object"], Venue]


VENUES: dict[str, VenueSpec] = {}


def register_venue(spec: VenueSpec) -> None:
    brokers.register_broker_name(spec.name)
    VENUES[spec.name] = spec


def venue_spec(broker: str) -> VenueSpec:
    try:
        return VENUES[broker]
    except KeyError:
        raise KeyError(f"no venue registered for broker {broker!r}") from None


def live_brokers() -> frozenset[str]:
    return frozenset(name for name, spec in VENUES.items() if spec.live)


def build_venue(broker: str, settings) -> Venue:
    return venue_spec(broker).build(settings)


def _build_paper(settings) -> Venue:
    from alphapanda.execution.paper.venue import paper_venue_from_settings

    return paper_venue_from_settings(settings)


def _build_zerodha(settings) -> Venue:
    from alphapanda.execution.zerodha.venue import ZerodhaVenue
    from alphapanda.market.instruments import UnknownInstrumentError, load_instrument_master

    master = load_instrument_master(settings.zerodha.instruments_path)

    def lookup(token: int) -> tuple[str, str] | None:
        try:
            instrument = master.by_token(token)
        except UnknownInstrumentError:
            return None
        return instrument.exchange, instrument.tradingsymbol

    return ZerodhaVenue.from_settings(
        settings, lookup, root=settings.zerodha.api_root, product=settings.zerodha.product,
    )


register_venue(VenueSpec("paper", live=False, build=_build_paper))
register_venue(VenueSpec("zerodha", live=True, build=_build_zerodha))
