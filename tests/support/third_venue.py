"""A venue plugin for tests: a third broker, ``paper2``, from one registration.

``VENUE_PLUGINS=tests.support.third_venue ACTIVE_BROKERS=paper,paper2`` makes a worker trade a
second paper account, with its own topics, tables entries and fill model (no slippage, no
commission), without any change to the pipeline's code.
"""

from alphapanda.execution.paper import FillModel, NoCommission, PaperVenue
from alphapanda.execution.registry import VenueSpec, register_venue

BROKER = "paper2"

register_venue(VenueSpec(BROKER, live=False, build=lambda settings: PaperVenue(FillModel(0.0, NoCommission()), broker=BROKER)))
