"""Taking a moderator's commands out of a post, on the SMTP path: the command lines are
recorded with the original bytes (whose DKIM signature the commands job checks later, away
from the database transaction) and stripped from what is posted."""

from __future__ import annotations

from enum import StrEnum

from mailgateway.command_lines import body_text, has_own_text, split_commands, strip_commands
from mailgateway.pipeline import Inbound
from storage.db import Session
from storage.moderation import add_command_mail, command_mail_known


class Taken(StrEnum):
    NONE = "none"                    # no command: a plain post
    ONLY_COMMANDS = "only-commands"  # nothing to post
    WITH_TEXT = "with-text"          # the rest is posted, without the command lines


def record_commands(session: Session, inbound: Inbound) -> Taken:
    parsed = inbound.parsed
    assert parsed is not None and inbound.author is not None
    commands, rest = split_commands(body_text(inbound.raw))
    if not commands:
        return Taken.NONE
    if command_mail_known(session, parsed.message_id):
        return Taken.ONLY_COMMANDS  # an MTA retry: recorded already
    # What the commands act on is found by the commands job, from what the mail's signature
    # covers: the threading headers this post was placed by may have been added on top.
    add_command_mail(session, message_id=parsed.message_id, from_address=parsed.from_address,
                     person_id=inbound.author.person_id, raw=inbound.raw,
                     commands=[c.line for c in commands], sent_to_topic=inbound.topic_hint, posted=True)
    if not has_own_text(rest):
        return Taken.ONLY_COMMANDS
    inbound.raw = strip_commands(inbound.raw)
    return Taken.WITH_TEXT
