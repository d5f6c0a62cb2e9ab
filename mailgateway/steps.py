"""The pipeline's steps: parse → skip duplicates → drop loops → authorise → thread →
take moderators' commands → strip Relais's footer → hold replies to closed topics → store →
queue delivery.

Each is small and has its own tests; POST and IMPORT below list which run, in order.
"""

from __future__ import annotations

from mailgateway.automated import is_automated, is_own_list_mail
from mailgateway.command_mail import Taken, record_commands
from mailgateway.holding import NOT_A_MEMBER, TOPIC_CLOSED, hold
from mailgateway.parse import parse_message
from mailgateway.footer_strip import strip_personal_links
from mailgateway.pipeline import Finished, Inbound, Rejected, Step
from storage.db import Session
from storage.fanout import queue_fanout
from storage.messages import NewMessage, effective_date, is_stored, store_message
from storage.models import Role
from storage.moderation import MODERATOR_ROLES, is_allowed_sender, is_closed
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


def drop_loops(session: Session, inbound: Inbound) -> None:
    """Our own copies coming back are accepted (250, so that nobody retries) and dropped."""
    assert inbound.parsed is not None
    if is_own_list_mail(inbound.parsed, inbound.config):
        raise Finished("250 2.0.0 Dropped: this message came from the forum itself", "dropped")


def authorise(session: Session, inbound: Inbound) -> None:
    """Members post; others are held for a moderator (or, by setting, refused or accepted).

    Posting is granted on the From address, as on every list server (envelope senders
    are rewritten by forwarders); moderator powers are never granted on From alone.
    Mail written by a machine (auto-replies, null sender, bulk) is never redistributed:
    a member's is dropped, a non-member's held without an answer.
    """
    parsed = inbound.parsed
    assert parsed is not None
    author = poster(session, parsed.from_address) if parsed.from_address else None
    action = inbound.config.moderation.nonmember_action
    is_member = author is not None and author.role is not Role.ARCHIVE
    if (is_member or action == "accept") and is_automated(parsed, inbound.envelope_from):
        raise Finished("250 2.0.0 Dropped: automatic replies are not redistributed", "dropped")
    if is_member:
        inbound.author = author
        return
    if action == "accept":
        inbound.author = author or archive_author(session, parsed.from_name, parsed.from_address)
        return
    if action == "reject":
        raise Rejected(f"550 5.7.1 Only members of {inbound.config.forum.name} may post to it")
    if parsed.from_address and is_allowed_sender(session, parsed.from_address):
        inbound.author = author or archive_author(session, parsed.from_name, parsed.from_address)
        return
    hold(session, inbound, NOT_A_MEMBER)
    raise Finished("250 2.0.0 Message held for moderation: the sender is not a member", "held")


def take_commands(session: Session, inbound: Inbound) -> None:
    """A moderator's command lines are taken out of the mail, to be applied once it is
    authenticated (mailgateway.commands_moderation); only commands: nothing is posted."""
    if inbound.author is None or inbound.author.role not in MODERATOR_ROLES:
        return  # the body of other people's mail is not read on the SMTP path
    if record_commands(session, inbound) is Taken.ONLY_COMMANDS:
        raise Finished("250 2.0.0 Commands received: the answer comes by mail", "commands")


def strip_footer(session: Session, inbound: Inbound) -> None:
    """Relais's footer quoted in a reply carries the replier's personal unsubscribe link:
    it is taken out before the post is stored and redistributed (after take_commands, which
    keeps the bytes as signed for their DKIM check). The one change made to what is
    stored besides command lines; the received bytes are not kept, since keeping them
    would keep the link."""
    inbound.raw = strip_personal_links(inbound.raw, inbound.config.forum.base_url)


def hold_reply_to_closed_topic(session: Session, inbound: Inbound) -> None:
    """A reply to a closed topic is not redistributed: held for the moderators (nothing is
    lost: they may publish it or reopen the topic) and its sender told how to go on."""
    assert inbound.placement is not None
    topic_id = inbound.placement.topic_id
    if topic_id is not None and is_closed(session, topic_id):
        hold(session, inbound, TOPIC_CLOSED, topic_id)
        raise Finished("250 2.0.0 Message held for moderation: the topic is closed", "held")


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


def queue_delivery(session: Session, inbound: Inbound) -> None:
    """Record that the post is to be distributed; the fan-out worker builds and sends the
    copies after the commit (mailgateway.fanout), so the SMTP answer waits for one row."""
    assert inbound.stored is not None
    queue_fanout(session, inbound.stored.message_pk, inbound.received_at)


POST: tuple[Step, ...] = (parse, skip_duplicate, drop_loops, authorise, thread, take_commands,
                          strip_footer, hold_reply_to_closed_topic, store, queue_delivery)
# A held message a moderator approved: posted as it would have been, its author kept.
APPROVED: tuple[Step, ...] = tuple(attribute_author if step is authorise else step for step in POST
                                   if step not in (take_commands, hold_reply_to_closed_topic))
IMPORT: tuple[Step, ...] = (parse, skip_duplicate, attribute_author, thread, strip_footer, store)
