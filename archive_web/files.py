"""Downloads: a message's attachments, re-read from the raw bytes (the record), and a whole
topic as an mbox file."""

from __future__ import annotations

import email
import email.policy
import re
import time

from flask import Blueprint, Response, abort

from archive_web.auth import current_reader, may_read_bodies
from archive_web.db import db
from mailgateway.body import attachment_parts
from storage.messages import topic_messages
from storage.models import Message, Topic

bp = Blueprint("files", __name__)

# Always a download; typed as themselves only when a browser cannot run them (an HTML or SVG
# attachment must never run as a page of the archive).
_SAFE_TYPES = {"application/pdf", "image/png", "image/jpeg", "image/gif", "text/plain", "text/csv"}


def _download_name(name: str, fallback: str) -> str:
    name = re.sub(r'[\x00-\x1f"\\/]', "_", name).strip() or fallback
    return name[:200]


@bp.get("/messages/<int:message_pk>/attachments/<int:index>")
def attachment(message_pk: int, index: int) -> Response:
    if not may_read_bodies():
        abort(403)
    message = db().get(Message, message_pk)
    if message is None:
        abort(404)
    parts = attachment_parts(email.message_from_bytes(message.raw, policy=email.policy.compat32))
    if not 0 <= index < len(parts):
        abort(404)
    part = parts[index]
    # compat32 decodes what it can and returns broken transfer encodings as they are.
    payload = part.get_payload(decode=True) or b""
    listed = next((a for a in message.attachments if a.part_index == index), None)
    filename = _download_name(listed.filename if listed else "", f"attachment-{index + 1}")
    ctype = part.get_content_type()
    response = Response(payload, mimetype=ctype if ctype in _SAFE_TYPES else "application/octet-stream")
    response.headers.set("Content-Disposition", "attachment", filename=filename)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def _mbox_entry(message: Message) -> bytes:
    """One message in mboxrd form: a From_ line, the raw bytes with From_ lines quoted."""
    raw = message.raw.replace(b"\r\n", b"\n")
    raw = re.sub(rb"(?m)^(>*From )", rb">\1", raw)
    stamp = time.asctime(message.date.timetuple()).encode()
    return b"From MAILER-DAEMON " + stamp + b"\n" + raw.rstrip(b"\n") + b"\n\n"


@bp.get("/topics/<int:topic_id>.mbox")
def topic_mbox(topic_id: int) -> Response:
    # The raw messages carry their authors' addresses: for signed-in members only.
    if not current_reader().is_member:
        abort(403)
    topic = db().get(Topic, topic_id)
    if topic is None:
        abort(404)
    body = b"".join(_mbox_entry(m) for m in topic_messages(db(), topic_id))
    response = Response(body, mimetype="application/mbox")
    response.headers.set("Content-Disposition", "attachment", filename=f"topic-{topic_id}.mbox")
    return response
