"""Imports every stage, so that their decorators register agents, services and views on the app."""

from alphapanda.app import app
from alphapanda.agents import feed, market_view, strategy_runner, risk_manager, execution, portfolio, observability  # noqa: F401,E501
import alphapanda.web  # noqa: F401  (registers the views)
from alphapanda.cli import commands  # noqa: F401
from alphapanda.sensors import setup_sensors

setup_sensors(app, pattern="/metrics")
