"""Pre-trade risk: limits, per-account risk state and the pure risk engine (no Faust here)."""

from alphapanda.risk.engine import CHECKS, RATE_WINDOW, RiskDecision, RiskEngine
from alphapanda.risk.limits import NUMERIC_LIMITS, InvalidLimits, RiskLimits
from alphapanda.risk.reason_codes import RiskReason
from alphapanda.risk.state import AccountRisk, RiskCounters

__all__ = [
    "AccountRisk",
    "CHECKS",
    "InvalidLimits",
    "NUMERIC_LIMITS",
    "RATE_WINDOW",
    "RiskCounters",
    "RiskDecision",
    "RiskEngine",
    "RiskLimits",
    "RiskReason",
]
