"""A message written on the web: built as a real RFC 5322 message (Message-ID in the forum's
domain, In-Reply-To and References from the parent, the member's name and address, MIME
with the attachments) and sent through the gateway's own steps, so that it is authorised,
threaded, held on a closed topic, stored as raw bytes and queued for delivery exactly as
mail is. Only authorisation differs: the signed-in person, not the From header, is who posts.
"""

from __future__ import annotations

import email.policy
import email.utils
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

from mailgateway import steps
from mailgateway.parse import parse_message
from mailgateway.pipeline import Inbound, Outcome, Rejected, Step, run
from storage.config import Config
from storage.db import Session
from storage.models import Message, utcnow
from storage.people import Poster
from storage.web_posts import WebAuthor, web_author

_REPLY_PREFIX = ("re:", "re :", "aw:", "sv:", "réf :")


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Parent:
    """The message answered: what the reply's threading headers and subject come from."""

    message_id: str
    references: tuple[str, ...]
    subject: str
    topic_id: int

    @classmethod
    def of(cls, message: Message, domain: str) -> Parent:
        return cls(message.message_id, tuple(parse_message(message.raw, domain).references),
                   message.subject, message.topic_id)


@dataclass(frozen=True)
class WebPost:
    message_id: str  # without angle brackets; made once per form, so a resubmission is one post
    author: WebAuthor
    subject: str
    body: str
    parent: Parent | None = None
    attachments: tuple[Upload, ...] = field(default_factory=tuple)


def new_message_id(config: Config) -> str:
    return email.utils.make_msgid(domain=config.domain)[1:-1]


def reply_subject(subject: str) -> str:
    subject = " ".join(subject.split())
    return subject if subject.lower().startswith(_REPLY_PREFIX) else f"Re: {subject}"


def build_message(config: Config, post: WebPost, now: datetime | None = None) -> bytes:
    """The post as the bytes Relais stores and distributes."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = email.utils.formataddr((post.author.name, post.author.address))
    msg["To"] = config.forum.address
    msg["Subject"] = reply_subject(post.parent.subject) if post.parent else " ".join(post.subject.split())
    msg["Date"] = email.utils.format_datetime(now or utcnow())
    msg["Message-ID"] = f"<{post.message_id}>"
    if post.parent is not None:
        msg["In-Reply-To"] = f"<{post.parent.message_id}>"
        msg["References"] = " ".join(f"<{m}>" for m in (*post.parent.references, post.parent.message_id))
    msg["User-Agent"] = f"{config.forum.name} (web)"
    msg.set_content(post.body.replace("\r\n", "\n").replace("\r", "\n"))
    for upload in post.attachments:
        maintype, _, subtype = upload.content_type.partition("/")
        msg.add_attachment(upload.data, maintype=maintype, subtype=subtype, filename=upload.filename)
    return msg.as_bytes()


def authorise_signed_in(session: Session, inbound: Inbound) -> None:
    """The signed-in person posts, if they are still a member (their role may have changed
    since the page was opened)."""
    assert inbound.author is not None, "a web post names its signed-in author"
    if web_author(session, inbound.author.person_id) is None:
        raise Rejected("550 5.7.1 Only members may post")


# The gateway's steps, with authorisation by the signed-in person; command lines are not
# read from web posts (moderators have the form's own fields for that).
WEB: tuple[Step, ...] = tuple(authorise_signed_in if step is steps.authorise else step for step in steps.POST
                              if step is not steps.take_commands)


def post_from_web(session: Session, config: Config, secret: str, post: WebPost, raw: bytes,
                  received_at: datetime | None = None) -> Outcome:
    """Run the post (`raw`: its bytes, from build_message) through the steps in the
    caller's transaction. Outcome "stored", "held" (a reply to a closed topic) or
    "duplicate" (the same form sent twice); Rejected if the author may not post."""
    at = received_at or utcnow()
    inbound = Inbound(raw=raw, config=config, secret=secret,
                      envelope_from=post.author.address, topic_hint=post.parent.topic_id if post.parent else None,
                      received_at=at, author=Poster(post.author.person_id, post.author.role))
    return run(session, inbound, WEB)
