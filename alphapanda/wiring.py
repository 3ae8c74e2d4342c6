"""The app with every stage: importing the stages is what registers their agents, services and
views on it (by decorators). The entry point of ``faust -A alphapanda`` and ``alphapanda``."""

from alphapanda.app import app
from alphapanda.agents import feed, market_view, strategy_runner, execution, portfolio, observability  # noqa: F401,E501
import alphapanda.web  # noqa: F401  (registers the views)
from alphapanda.cli import commands  # noqa: F401
from alphapanda.heap import settle_after_rebalances
from alphapanda.sensors import setup_sensors

setup_sensors(app, pattern="/metrics")
settle_after_rebalances(app)
