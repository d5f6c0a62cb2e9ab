"""The pipeline's steps: parse → skip duplicates → authorise → thread → store.

Each is small and has its own tests; POST and IMPORT below list which run, in order.
"""

from __future__ import annotations

from mailgateway.automated import is_automated
from mailgateway.notices import queue_notice
from mailgateway.parse import parse_message
from mailgateway.pipeline import Finished, Inbound, Rejected, Step
from storage.db import Session
from storage.held import hold_message
from storage.messages import NewMessage, effective_date, is_stored, store_message
from storage.models import Role
from storage.people import archive_author, poster
from storage.threads import ThreadFacts, lock_threading, place


def parse(session: Session, inbound: Inbound) -> None:
    parsed = parse_message(inbound.raw, inbound.config.domain)
    if not parsed.headers.keys():
        raise Rejected("550 5.6.0 This is not an email message: no header found")
    inbound.parsed = parsed


def skip_duplicate(session: Session, inbound: Inbound) -> None:
    """A Message-ID already stored (an MTA retry, a list copy) is answered 250 and not stored again."""
    assert inbound.parsed is not None
    lock_threading(session)
    if is_stored(session, inbound.parsed.message_id):
        raise Finished(f"250 2.0.0 Already received as <{inbound.parsed.message_id}>", "duplicate")


def authorise(session: Session, inbound: Inbound) -> None:
    """Members post; others are held for a moderator (or, by setting, refused or accepted).

    Posting is granted on the From address, as on every list server (envelope senders
    are rewritten by forwarders); moderator powers are never granted on From alone.
    """
    parsed = inbound.parsed
    assert parsed is not None
    author = poster(session, parsed.from_address) if parsed.from_address else None
    if author is not None and author.role is not Role.ARCHIVE:
        inbound.author = author
        return
    action = inbound.config.moderation.nonmember_action
    if action == "accept":
        inbound.author = author or archive_author(session, parsed.from_name, parsed.from_address)
        return
    if action == "reject":
        raise Rejected(f"550 5.7.1 Only members of {inbound.config.forum.name} may post to it")
    _, new = hold_message(session, raw=inbound.raw, message_id=parsed.message_id,
                          envelope_from=inbound.envelope_from, from_address=parsed.from_address,
                          subject=parsed.subject, reason="not a member")
    if new and not is_automated(parsed, inbound.envelope_from):
        sender = parsed.from_address or inbound.envelope_from
        queue_notice(session, inbound.config, to=sender, name="held", purpose="held-notice",
                     in_reply_to=parsed.message_id, subject=parsed.subject or "(sans objet)", sender=sender)
    raise Finished("250 2.0.0 Message held for moderation: the sender is not a member", "held")


def attribute_author(session: Session, inbound: Inbound) -> None:
    """For imports: every author is kept, members or not (archive authors have no rights)."""
    assert inbound.parsed is not None
    parsed = inbound.parsed
    inbound.author = poster(session, parsed.from_address) or archive_author(session, parsed.from_name,
                                                                           parsed.from_address)


def _facts(inbound: Inbound) -> ThreadFacts:
    parsed = inbound.parsed
    assert parsed is not None
    return ThreadFacts(
        message_id=parsed.message_id, in_reply_to=parsed.in_reply_to, references=parsed.references,
        subject=parsed.subject, date=effective_date(parsed.date, inbound.received_at),
        thread_index=parsed.thread_index, thread_index_key=parsed.thread_index_key)


def thread(session: Session, inbound: Inbound) -> None:
    inbound.placement = place(session, _facts(inbound), topic_hint=inbound.topic_hint,
                              subject_fallback_days=inbound.config.threading.subject_fallback_days)


def store(session: Session, inbound: Inbound) -> None:
    parsed = inbound.parsed
    assert parsed is not None and inbound.placement is not None
    new = NewMessage(raw=inbound.raw, facts=_facts(inbound), from_name=parsed.from_name[:500],
                     from_address=parsed.from_address[:320], received_at=inbound.received_at)
    inbound.stored = store_message(session, new, inbound.author.person_id if inbound.author else None,
                                   inbound.placement)


POST: tuple[Step, ...] = (parse, skip_duplicate, authorise, thread, store)
IMPORT: tuple[Step, ...] = (parse, skip_duplicate, attribute_author, thread, store)
