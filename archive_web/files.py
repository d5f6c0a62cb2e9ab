"""Downloads: a message's attachments, re-read from the raw bytes (the record), and a whole
topic as an mbox file.

An attachment's first download maps where every part of its message lies in the raw bytes
(mailgateway.part_spans) and records it; later downloads read that part alone. Its name is
given as RFC 6266 `filename*` (UTF-8) with an ASCII fallback, without the invisible
characters that could disguise it (a right-to-left override, U+202E, makes
"invoice<U+202E>fdp.exe" look like "invoiceexe.pdf").
"""

from __future__ import annotations

import io
import logging
import re
import time
from email.message import Message as MimePart

from flask import Blueprint, Response, abort, send_file

from archive_web.addresses import for_reader
from archive_web.auth import current_reader, may_read_bodies
from archive_web.db import db, write_session
from mailgateway.body import UnreadableMessage, attachment_parts, parse_message
from mailgateway.part_spans import attachment_spans, part_from_span
from storage.archive import UNMAPPED, attachment_of, is_indexed, raw_slice, record_attachment_spans
from storage.messages import topic_messages
from storage.models import Attachment, Message, Topic

bp = Blueprint("files", __name__)
log = logging.getLogger(__name__)

# Always a download; typed as themselves only when a browser cannot run them (an HTML or SVG
# attachment must never run as a page of the archive).
_SAFE_TYPES = {"application/pdf", "image/png", "image/jpeg", "image/gif", "text/plain", "text/csv"}
# Controls, and the invisible characters that reorder or hide text (bidi embeddings,
# overrides and isolates, direction marks, zero-width characters).
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def shown_filename(name: str) -> str:
    """An attachment's name as pages show it: what it looks like is what it is."""
    return " ".join(_INVISIBLE.sub("", name).split())


def _download_name(name: str, fallback: str) -> str:
    name = re.sub(r'["\\/]', "_", for_reader(shown_filename(name))).strip(" .") or fallback
    return name[:200]


def _part(message_pk: int, index: int, listed: Attachment | None) -> MimePart | None:
    """The attachment's MIME part: from its recorded span, else from the whole message
    (mapping the spans of all its parts, once, for the next downloads)."""
    if listed is not None and listed.part_start is not None and listed.part_end is not None \
            and listed.part_start != UNMAPPED:
        found = raw_slice(db(), message_pk, listed.part_start, listed.part_end)
        return part_from_span(found) if found is not None else None
    if listed is None and is_indexed(db(), message_pk) is not False:
        return None  # no such message, or its attachments are all listed and this is none
    message = db().get(Message, message_pk)
    if message is None:
        return None
    try:
        parts = attachment_parts(parse_message(message.raw))
    except (UnreadableMessage, RecursionError):
        return None
    if listed is not None and listed.part_start is None:
        _remember_spans(message_pk, message.raw)
    return parts[index] if 0 <= index < len(parts) else None


def _remember_spans(message_pk: int, raw: bytes) -> None:
    spans = attachment_spans(raw)  # None: cannot be mapped; recorded too, so never tried again
    try:
        with write_session() as s:
            record_attachment_spans(s, message_pk, spans)
    except Exception:  # only a saving for next time: the download goes on
        log.warning("could not record the attachment spans of message %s", message_pk, exc_info=True)


@bp.get("/messages/<int:message_pk>/attachments/<int:index>")
def attachment(message_pk: int, index: int) -> Response:
    if not may_read_bodies():
        abort(403)
    listed = attachment_of(db(), message_pk, index)
    part = _part(message_pk, index, listed)
    if part is None:
        abort(404)
    try:
        # compat32 decodes what it can and returns broken transfer encodings as they are.
        payload = part.get_payload(decode=True) or b""
    except Exception:
        payload = b""
    filename = _download_name(listed.filename if listed else "", f"attachment-{index + 1}")
    ctype = part.get_content_type()
    response = send_file(io.BytesIO(payload), mimetype=ctype if ctype in _SAFE_TYPES else "application/octet-stream",
                         as_attachment=True, download_name=filename, conditional=False, etag=False)
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
