"""The ordered steps a message goes through, as in Mailman 3's pipelines.

A step is `step(session, inbound) -> None`: it passes, fills in `inbound`, or stops the
message by raising Rejected (the sender is refused: 5xx never, 4xx try later) or
Finished (the message is taken care of, e.g. held or already stored: 250).
The caller owns the transaction: 250 is answered only after it commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from storage.db import Session

from mailgateway.parse import ParsedMessage
from storage.config import Config
from storage.messages import Stored
from storage.models import utcnow
from storage.people import Poster
from storage.threads import Placement


class Rejected(Exception):
    """The message is refused; `reply` is the SMTP reply, e.g. "550 5.6.0 Not a message"."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class Finished(Exception):
    """The message needs no further step; `reply` is the 2xx SMTP reply."""

    def __init__(self, reply: str, outcome: str) -> None:
        super().__init__(reply)
        self.reply = reply
        self.outcome = outcome


@dataclass
class Inbound:
    """A message on its way through the pipeline, and what the steps learnt of it."""

    raw: bytes
    config: Config
    secret: str
    envelope_from: str = ""
    topic_hint: int | None = None
    received_at: datetime = field(default_factory=utcnow)
    parsed: ParsedMessage | None = None
    author: Poster | None = None
    placement: Placement | None = None
    stored: Stored | None = None


Step = Callable[[Session, Inbound], None]


@dataclass(frozen=True)
class Outcome:
    reply: str
    outcome: str  # "stored" | "duplicate" | "held" | "dropped" | "commands"
    stored: Stored | None = None


def run(session: Session, inbound: Inbound, steps: tuple[Step, ...]) -> Outcome:
    """Run the steps in order; Rejected propagates to the caller, which refuses the mail."""
    try:
        for step in steps:
            step(session, inbound)
    except Finished as done:
        return Outcome(done.reply, done.outcome)
    assert inbound.stored is not None, "a pipeline must end by storing or by Finished"
    return Outcome(f"250 2.0.0 Message accepted as <{inbound.stored.message_id}>",
                   "stored", inbound.stored)
