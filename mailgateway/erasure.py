"""Erasing a person (GDPR article 17), for `relais members erase` and the admin page.

Under the `redact` policy their messages stay in the threads, rewritten without their name,
addresses, trace headers and signature block, shown as a former member's; under `delete`
each is replaced by a short notice at the same place in the thread (replies keep their
parent). Either way other people's messages lose the person's name and addresses (quoted
attribution lines, greetings, Cc), every row about the person goes, the moderation log keeps
its entries without the identity, and the messages changed are indexed again. Copies already
mailed cannot be recalled.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Literal

from mailgateway.redaction import Identity, identity, names_them, redact, removal_notice
from storage.config import Config
from storage.db import Engine, Session, session_scope
from storage.models import OutboundStatus, Person
from storage.moderation import log_action
from storage.personal_data import (
    authored_messages,
    forget_person,
    mark_rewritten,
    messages_naming,
    outgoing_mail,
    person_addresses,
)

log = logging.getLogger(__name__)

Policy = Literal["redact", "delete"]
OUTGOING_PAGE = 500


@dataclass(frozen=True)
class Erasure:
    messages: int  # the person's own messages, redacted or replaced by the notice
    others: int    # other people's messages that named them


def erase_person(session: Session, config: Config, person_id: int, policy: Policy, *, via: str) -> Erasure | None:
    """Erase the person (None if there is no such person). Never commits."""
    person = session.get(Person, person_id)
    if person is None:
        return None
    language = config.forum.default_language
    addresses = person_addresses(session, person_id)
    own = authored_messages(session, person_id, addresses)
    names = sorted({person.name, *(m.from_name for m in own)} - {""})
    who = identity(names, addresses, language)
    for message in own:
        message.raw = (removal_notice(message.raw, who, language) if policy == "delete"
                       else redact(message.raw, who, own=True, language=language))
        message.from_name, message.from_address = who.label, ""
        message.subject = who.scrub(message.subject)
    others = [m for m in messages_naming(session, person_id, list(who.names), list(who.addresses),
                                         {m.id for m in own})
              if who.named_in(m.raw.decode("utf-8", "replace")) or who.named_in(m.text or "")
              or who.named_in(m.from_name)]
    for message in others:
        message.raw = redact(message.raw, who, own=False, language=language)
        message.from_name, message.subject = who.scrub(message.from_name), who.scrub(message.subject)
    mark_rewritten(session, [m.id for m in (*own, *others)])
    _forget_in_outgoing_mail(session, who, language)
    forget_person(session, person_id, list(who.names), list(who.addresses), who.scrub)
    log_action(session, actor_id=None, via=via, action="erase-member", topic_id=None, before="", after=policy)
    return Erasure(len(own), len(others))


def _forget_in_outgoing_mail(session: Session, who: Identity, language: str) -> None:
    """Mail to others that names the person (a digest, a moderator's notice of held mail):
    rewritten if still to be sent, removed if its record is all that is left."""
    after = 0
    while page := outgoing_mail(session, after, OUTGOING_PAGE):
        for row in page:
            if names_them(row.raw, who):
                if row.status is OutboundStatus.PENDING:
                    row.raw = redact(row.raw, who, own=False, language=language)
                else:
                    session.delete(row)
        after = page[-1].id


def rebuild_index_after_erasure(engine: Engine, config: Config) -> None:
    """Build the search index again: the old one still holds the erased words in its
    deleted documents and spelling graph until its segments merge."""
    from mailgateway.indexer import rebuild_index

    try:
        rebuild_index(engine, config)
    except Exception:
        log.exception("the search index could not be rebuilt after an erasure: run `relais reindex`")


def rebuild_in_background(engine: Engine, config: Config) -> threading.Thread:
    thread = threading.Thread(target=rebuild_index_after_erasure, args=(engine, config),
                              name="relais-erasure-reindex", daemon=True)
    thread.start()
    return thread


def erase_member(engine: Engine, config: Config, person_id: int, policy: Policy, *, via: str) -> Erasure | None:
    """The edge: erase in one transaction."""
    with session_scope(engine) as db:
        return erase_person(db, config, person_id, policy, via=via)
