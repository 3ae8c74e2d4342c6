"""The one path every agent's messages take: decode -> validate -> deduplicate -> handle -> emit.

Poison messages go to the topic's DLQ at once; transient failures are retried with backoff and
then dead-lettered. Nothing is dropped silently.
"""

from alphapanda.reliability.dead_letters import DeadLetterWriter, dead_letter_for
from alphapanda.reliability.path import Emit, EventPath, Outcome, SourceMessage, TRANSIENT_ERRORS
from alphapanda.reliability.idempotency import applied, stamped
from alphapanda.reliability.retry import RetryPolicy

__all__ = [
    "DeadLetterWriter",
    "dead_letter_for",
    "Emit",
    "Outcome",
    "applied",
    "stamped",
    "EventPath",
    "SourceMessage",
    "TRANSIENT_ERRORS",
    "RetryPolicy",
]
