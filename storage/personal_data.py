"""What the forum holds about one person (GDPR access and portability), and removing it
(erasure): the rows that name them or their addresses. The rewriting of message bytes is
mailgateway.redaction's; these functions find and change the rows, and never commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
import io
import json
import re
import time
import zipfile
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from storage.models import (
    Address,
    AllowedSender,
    Attachment,
    CategoryFollow,
    CommandMail,
    ControlMessage,
    Delivery,
    DraftAttachment,
    HeldMessage,
    MemberRequest,
    Message,
    ModerationLogEntry,
    OutboundMessage,
    Person,
    RateLimitHit,
    SignInLink,
    Subscription,
    Topic,
    TopicFollow,
    TopicSheet,
    WebSession,
)
from storage.search_queue import mark_for_reindex


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass
class PersonalData:
    """Everything exported for one person: `profile` and `records` become JSON files,
    `messages` and `held` their mail as received."""

    profile: dict[str, Any]
    records: dict[str, Any]
    messages: list[tuple[str, datetime, bytes]] = field(default_factory=list)  # message_id, date, raw
    held: list[tuple[str, datetime, bytes]] = field(default_factory=list)


def person_addresses(session: Session, person_id: int) -> list[str]:
    return list(session.scalars(select(Address.email).where(Address.person_id == person_id).order_by(Address.id)))


def authored_messages(session: Session, person_id: int, addresses: list[str]) -> list[Message]:
    """The messages the person wrote: linked to them, or sent from one of their addresses."""
    where = Message.author_id == person_id
    if addresses:
        where = or_(where, Message.from_address.in_(addresses))
    return list(session.scalars(select(Message).where(where).order_by(Message.date, Message.id)))


def _held_from(session: Session, addresses: list[str]) -> list[HeldMessage]:
    if not addresses:
        return []
    return list(session.scalars(select(HeldMessage).where(or_(
        HeldMessage.from_address.in_(addresses), HeldMessage.envelope_from.in_(addresses))).order_by(HeldMessage.id)))


def personal_data(session: Session, person_id: int) -> PersonalData | None:
    person = session.get(Person, person_id)
    if person is None:
        return None
    addresses = person_addresses(session, person_id)
    sub = person.subscription
    follows = session.execute(select(TopicFollow.topic_id, Topic.subject, TopicFollow.level, TopicFollow.created_at)
                              .join(Topic, Topic.id == TopicFollow.topic_id)
                              .where(TopicFollow.person_id == person_id).order_by(TopicFollow.id)).all()
    categories = list(session.scalars(select(CategoryFollow.category_id).where(CategoryFollow.person_id == person_id)))
    profile = {
        "name": person.name, "role": str(person.role), "created_at": _iso(person.created_at),
        "organisation": person.organisation.name if person.organisation else None,
        "organisation_kind": str(person.organisation.kind) if person.organisation else None,
        "addresses": addresses,
        "subscription": None if sub is None else {
            "mode": str(sub.mode), "created_at": _iso(sub.created_at), "disabled_at": _iso(sub.disabled_at),
            "bounce_score": sub.bounce_score, "last_bounce_at": _iso(sub.last_bounce_at)},
        "followed_topics": [{"topic": t, "subject": s, "level": str(lv), "since": _iso(at)}
                            for t, s, lv, at in follows],
        "followed_categories": categories,
    }
    messages = authored_messages(session, person_id, addresses)
    held = _held_from(session, addresses)
    topics = {m.topic_id for m in messages}
    log = session.scalars(select(ModerationLogEntry).where(or_(
        ModerationLogEntry.actor_id == person_id, ModerationLogEntry.topic_id.in_(topics),
        ModerationLogEntry.held_id.in_([h.id for h in held]))).order_by(ModerationLogEntry.id))
    records = {
        "messages": [{"message_id": m.message_id, "topic": m.topic_id, "subject": m.subject,
                      "date": _iso(m.date), "received_at": _iso(m.received_at)} for m in messages],
        "held_messages": [{"message_id": h.message_id, "subject": h.subject, "reason": h.reason,
                           "status": str(h.status), "received_at": _iso(h.received_at),
                           "decided_at": _iso(h.decided_at)} for h in held],
        "moderation_actions": [{"at": _iso(e.at), "by_this_person": e.actor_id == person_id, "via": e.via,
                                "action": e.action, "topic": e.topic_id, "held": e.held_id,
                                "before": e.before, "after": e.after} for e in log],
        "sign_ins": [{"at": _iso(w.created_at), "method": w.method, "last_seen_at": _iso(w.last_seen_at),
                      "ended_at": _iso(w.revoked_at), "browser": w.user_agent}
                     for w in session.scalars(select(WebSession).where(WebSession.person_id == person_id)
                                              .order_by(WebSession.id))],
        "sign_in_links": [{"requested_at": _iso(s.created_at), "address": s.address, "used_at": _iso(s.used_at)}
                          for s in session.scalars(select(SignInLink).where(SignInLink.person_id == person_id)
                                                   .order_by(SignInLink.id))],
        "mailed_requests": [{"address": r.address, "command": r.command, "argument": r.argument,
                             "requested_at": _iso(r.created_at), "confirmed_at": _iso(r.confirmed_at)}
                            for r in session.scalars(select(MemberRequest).where(MemberRequest.address.in_(addresses))
                                                     .order_by(MemberRequest.id))],
    }
    return PersonalData(profile, records, [(m.message_id, m.date, m.raw) for m in messages],
                        [(h.message_id, h.received_at, h.raw) for h in held])


def messages_naming(session: Session, person_id: int, names: list[str], addresses: list[str],
                    exclude: set[int]) -> list[Message]:
    """Other people's messages that may name the person (a quote's attribution line, a
    greeting, a Cc): in the topics they wrote in, or whose text mentions them."""
    wrote_in = select(Message.topic_id).where(Message.id.in_(exclude)) if exclude else None
    where = [Message.text.ilike(f"%{v}%") for v in [*names, *addresses] if len(v) >= 3]
    if wrote_in is not None:
        where.append(Message.topic_id.in_(wrote_in))
    if not where:
        return []
    found = session.scalars(select(Message).where(or_(*where)).order_by(Message.id))
    return [m for m in found if m.id not in exclude]


def outgoing_mail(session: Session, after_id: int, limit: int) -> list[OutboundMessage]:
    """The outgoing queue's mail (pending, sent or failed), by id, a page at a time."""
    return list(session.scalars(select(OutboundMessage).where(OutboundMessage.id > after_id)
                                .order_by(OutboundMessage.id).limit(limit)))


def mark_rewritten(session: Session, pks: list[int]) -> None:
    """These messages' raw bytes were rewritten: their body is read again from them by the
    indexing job (text, attachments), which indexes them again."""
    if not pks:
        return
    session.execute(update(Message).where(Message.id.in_(pks)).values(text=None, unreadable_reason=None))
    # Their names and positions were read from the old bytes: the new ones are read again.
    session.execute(delete(Attachment).where(Attachment.message_pk.in_(pks)))
    mark_for_reindex(session, pks)


def forget_person(session: Session, person_id: int, names: list[str], addresses: list[str],
                  scrub: Callable[[str], str]) -> None:
    """Remove the person's rows and every row that names their addresses; what must stay
    (the moderation log, topics they opened) loses the identity. `scrub(text)` takes the
    names and addresses out of a text kept."""
    words = [v for v in [*names, *addresses] if len(v) >= 3]
    session.execute(update(Topic).where(Topic.author_id == person_id).values(author_id=None))
    session.execute(update(Message).where(Message.author_id == person_id).values(author_id=None))
    session.execute(update(ModerationLogEntry).where(ModerationLogEntry.actor_id == person_id).values(actor_id=None))
    if words:
        for entry in session.scalars(select(ModerationLogEntry).where(or_(
                *[ModerationLogEntry.before.ilike(f"%{w}%") for w in words],
                *[ModerationLogEntry.after.ilike(f"%{w}%") for w in words]))):
            entry.before, entry.after = scrub(entry.before), scrub(entry.after)
        for topic in session.scalars(select(Topic).where(or_(*[Topic.subject.ilike(f"%{w}%") for w in words]))):
            topic.subject = scrub(topic.subject)
    session.execute(update(HeldMessage).where(HeldMessage.decided_by_id == person_id).values(decided_by_id=None))
    session.execute(update(AllowedSender).where(AllowedSender.added_by_id == person_id).values(added_by_id=None))
    session.execute(update(TopicSheet).where(TopicSheet.author_id == person_id).values(author_id=None))
    session.execute(delete(CommandMail).where(or_(CommandMail.person_id == person_id,
                                                  CommandMail.from_address.in_(addresses))))
    for model in (SignInLink, WebSession, DraftAttachment, TopicFollow, CategoryFollow):
        session.execute(delete(model).where(model.person_id == person_id))  # type: ignore[attr-defined]
    sub_ids = select(Subscription.id).where(Subscription.person_id == person_id)
    session.execute(delete(Delivery).where(or_(Delivery.subscription_id.in_(sub_ids),
                                               Delivery.recipient.in_(addresses))))
    session.execute(delete(Subscription).where(Subscription.person_id == person_id))
    if addresses:
        session.execute(delete(HeldMessage).where(or_(HeldMessage.from_address.in_(addresses),
                                                      HeldMessage.envelope_from.in_(addresses))))
        session.execute(delete(OutboundMessage).where(OutboundMessage.recipient.in_(addresses)))
        session.execute(delete(MemberRequest).where(MemberRequest.address.in_(addresses)))
        session.execute(delete(AllowedSender).where(AllowedSender.email.in_(addresses)))
        session.execute(delete(ControlMessage).where(or_(
            ControlMessage.envelope_from.in_(addresses),
            *[ControlMessage.failed_addresses.contains(a) for a in addresses])))
        session.execute(delete(RateLimitHit).where(or_(*[RateLimitHit.key.contains(a) for a in addresses])))
    session.execute(delete(RateLimitHit).where(RateLimitHit.key.in_(
        [f"add-address:person:{person_id}", f"web-post:{person_id}"])))
    session.execute(delete(Address).where(Address.person_id == person_id))
    session.execute(delete(Person).where(Person.id == person_id))


def _mbox(entries: list[tuple[str, datetime, bytes]]) -> bytes:
    """mboxrd: a From_ line before each message, its own From_ lines quoted with '>'."""
    out = []
    for _mid, date, raw in entries:
        body = re.sub(rb"(?m)^(>*From )", rb">\1", raw.replace(b"\r\n", b"\n"))
        out.append(b"From MAILER-DAEMON " + time.asctime(date.timetuple()).encode() + b"\n"
                   + body.rstrip(b"\n") + b"\n\n")
    return b"".join(out)


def export_files(data: PersonalData) -> dict[str, bytes]:
    """The export's files by name: the JSON records, the messages as an mbox, and each
    message alone exactly as received (messages/NNNN.eml)."""
    files = {
        "profile.json": json.dumps(data.profile, ensure_ascii=False, indent=2).encode(),
        "records.json": json.dumps(data.records, ensure_ascii=False, indent=2).encode(),
        "messages.mbox": _mbox(data.messages),
        "held-messages.mbox": _mbox(data.held),
    }
    for number, (_mid, _date, raw) in enumerate(data.messages, 1):
        files[f"messages/{number:04d}.eml"] = raw
    return files


def export_zip(data: PersonalData) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in export_files(data).items():
            archive.writestr(f"relais-data/{name}", content)
    return buffer.getvalue()
