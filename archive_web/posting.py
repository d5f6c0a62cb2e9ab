"""Writing on the web, for signed-in members: a new topic (/topics/new) and a reply to a
message (/messages/<id>/reply), each with a preview, attachments and, for moderators,
"reply and close". The post is built as a real mail and goes through the gateway's own
steps (mailgateway.web_post); subscribers receive it by mail like any post.

Each form carries its Message-ID in a signed hidden field, made when the form is first
shown: sending the same form twice (a double click, a reload) stores one post. Members
are limited to `[web] post_limit_per_hour` posts; whatever goes wrong, the text typed is
shown again with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from archive_web.auth import address_mode, current_reader, members_only, signed_in_member
from archive_web.bodies import RenderedBody, render_body, split_segments
from archive_web.db import db, forum_config, write_session
from archive_web.i18n import current_language, moment_in
from mailgateway.body import extract_body
from mailgateway.pipeline import Rejected
from mailgateway.topic_status import close_and_notify
from mailgateway.web_post import Parent, Upload, WebPost, build_message, new_message_id, post_from_web
from storage.config import secret_key
from storage.models import Message, Resolution, TopicStatus, utcnow
from storage.tokens import make_token, read_token
from storage.web_posts import (
    DraftFile,
    allow_web_post,
    category_by_id,
    category_options,
    draft_files,
    drop_draft_files,
    file_new_topic,
    keep_draft_files,
    message_by_pk,
    stored_message_pk,
    web_author,
)

bp = Blueprint("posting", __name__)


@bp.app_errorhandler(RequestEntityTooLarge)
def too_large(_error: RequestEntityTooLarge) -> tuple[str, int]:
    """A body over the application's bound is refused unread: say why, in words."""
    return render_template("error.html", code=413, title=_("The files sent are too large"),
                           text=_("A message with its attachments may be at most %(limit)s. Go back and choose "
                                  "smaller files, or fewer.",
                                  limit=_megabytes(forum_config().smtp.max_message_size))), 413

FORM_PURPOSE = "web-post"
FORM_MAX_AGE = 24 * 3600  # a form left open for a day can still be sent
MAX_SUBJECT = 300
_CONTENT_TYPE = re.compile(r"^[\w.+-]{1,100}/[\w.+-]{1,100}$")


@dataclass
class Draft:
    """What the member typed (and attached), kept through previews and errors."""

    subject: str = ""
    body: str = ""
    category: str = ""
    close: str = ""     # moderators: a resolution to close the topic with, after the reply
    answer: str = ""    # moderators: "parent" or "mine", the accepted answer when closing with a solution
    attachments: list[Upload] = field(default_factory=list)  # chosen in this sending
    kept: list[DraftFile] = field(default_factory=list)      # chosen before a preview or an error
    errors: dict[str, str] = field(default_factory=dict)


def _new_form(person_id: int) -> tuple[str, str]:
    """(token, Message-ID) of a new form."""
    config = forum_config()
    message_id = new_message_id(config)
    return make_token(secret_key(config), FORM_PURPOSE, {"m": message_id, "p": person_id}), message_id


def _message_id_of(token: str, person_id: int) -> str | None:
    payload = read_token(secret_key(forum_config()), FORM_PURPOSE, token, max_age=FORM_MAX_AGE)
    if isinstance(payload, dict) and payload.get("p") == person_id and isinstance(payload.get("m"), str):
        return payload["m"]
    return None


def _clean_filename(name: str, index: int) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f\"]", "_", name).strip()
    return name[:200] or f"attachment-{index}"


def _clean_type(value: str) -> str:
    value = (value or "").split(";")[0].strip().lower()
    return value if _CONTENT_TYPE.match(value) else "application/octet-stream"


def _read_draft() -> Draft:
    form = request.form
    draft = Draft(subject=" ".join(form.get("subject", "").split()), body=form.get("body", "").replace("\r\n", "\n"),
                  category=form.get("category", ""), close=form.get("close", ""), answer=form.get("answer", ""))
    for upload in request.files.getlist("attachments"):
        if not upload.filename:
            continue
        draft.attachments.append(Upload(_clean_filename(upload.filename, len(draft.attachments) + 1),
                                        _clean_type(upload.mimetype), upload.read()))
    return draft


def _check(draft: Draft, *, new_topic: bool) -> None:
    if new_topic:
        if not draft.subject:
            draft.errors["subject"] = _("Please give your message a subject.")
        elif len(draft.subject) > MAX_SUBJECT:
            draft.errors["subject"] = _("The subject is too long (at most %(n)d characters).", n=MAX_SUBJECT)
        if draft.category and not (draft.category.isdigit() and category_by_id(db(), int(draft.category))):
            draft.errors["category"] = _("Please choose one of the categories.")
    if not draft.body.strip():
        draft.errors["body"] = _("Please write your message.")
    if draft.close and draft.close not in {r.value for r in Resolution}:
        draft.errors["close"] = _("Please choose a resolution.")


def _check_size(draft: Draft, raw: bytes) -> None:
    limit = forum_config().smtp.max_message_size
    if len(raw) > limit:
        draft.errors["attachments"] = _(
            "The message and its attachments are too large: %(size)s, at most %(limit)s. Please send smaller "
            "files, or fewer.", size=_megabytes(len(raw)), limit=_megabytes(limit))


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _post(draft: Draft, person_id: int, parent: Parent | None, message_id: str) -> WebPost:
    author = web_author(db(), person_id)
    if author is None:
        abort(403)
    kept = [Upload(f.filename, f.content_type, f.data) for f in draft.kept]
    return WebPost(message_id=message_id, author=author, subject=draft.subject, body=draft.body,
                   parent=parent, attachments=(*kept, *draft.attachments))


def _preview(raw: bytes) -> RenderedBody:
    return render_body(raw, extract_body(raw).text, address_mode(), _("(address hidden)"))


def _send(draft: Draft, post: WebPost, raw: bytes, *, close_answer: int | None = None) -> Response | None:
    """Store the post (one transaction with the rate limit, the category and the closing);
    a redirect to where it went, or None with the reason in draft.errors."""
    config = forum_config()
    person_id = post.author.person_id
    try:
        with write_session() as s:
            already = stored_message_pk(s, post.message_id)
            if already is None and not allow_web_post(s, person_id, config.web.post_limit_per_hour, utcnow()):
                draft.errors["body"] = _("You have sent many messages in the last hour: please wait a while "
                                         "before sending this one. Your text is kept below.")
                return None
            outcome = post_from_web(s, config, secret_key(config), post, raw)
            drop_draft_files(s, person_id, post.message_id)
            pk = stored_message_pk(s, post.message_id)
            if outcome.outcome == "stored" and outcome.stored is not None:
                if draft.category and outcome.stored.new_topic:
                    file_new_topic(s, outcome.stored.topic_id, int(draft.category))
                if draft.close and current_reader().is_moderator:
                    answer = close_answer if draft.answer == "parent" else pk if draft.answer == "mine" else None
                    close_and_notify(s, config, outcome.stored.topic_id, Resolution(draft.close),
                                     actor_id=person_id, via="web", answer_message_id=answer)
    except Rejected:
        abort(403)
    if outcome.outcome == "held":
        flash(_("The topic is closed: your message was passed on to the moderators, who may publish it. "
                "You will receive a mail explaining how to go on."))
        return redirect(url_for("topics.topic", topic_id=post.parent.topic_id) if post.parent else url_for("topics.index"))
    if outcome.outcome == "duplicate":
        flash(_("This message was already sent: it is published once."))
    else:
        flash(_("Your message is published; subscribers receive it by mail."))
    return redirect(url_for("topics.message", message_pk=pk)) if pk else redirect(url_for("topics.index"))


Context = Callable[[], dict[str, object]]  # what a form page shows besides the form: read only to show it


def _render_form(template: str, draft: Draft, token: str, context: Context, status: int = 200,
                 raw_preview: bytes | None = None) -> tuple[str, int]:
    return render_template(template, draft=draft, token=token, first_error=next(iter(draft.errors), None),
                           preview=_preview(raw_preview) if raw_preview else None,
                           kept=[(f.id, f.filename, len(f.data)) for f in draft.kept],
                           max_size=_megabytes(forum_config().smtp.max_message_size),
                           resolutions=list(Resolution), **context()), status


def _handle(template: str, draft: Draft, context: Context, *, parent: Parent | None, new_topic: bool,
            close_answer: int | None = None) -> Response | tuple[str, int]:
    person_id = signed_in_member()
    token = request.form.get("form_token", "")
    message_id = _message_id_of(token, person_id)
    dropped = {int(v) for v in request.form.getlist("drop") if v.isdigit()}
    if message_id is None:  # forged, or older than a day: a fresh form, the text kept
        token, message_id = _new_form(person_id)
        draft.errors.setdefault("body", _("This form has expired: please check your message and send it again."))
        return _render_form(template, _keep_files(draft, person_id, message_id, dropped), token, context, 400)
    draft.kept = [f for f in draft_files(db(), person_id, message_id) if f.id not in dropped]
    _check(draft, new_topic=new_topic)
    post = _post(draft, person_id, parent, message_id)
    raw = build_message(forum_config(), post)
    _check_size(draft, raw)
    if draft.errors:
        return _render_form(template, _keep_files(draft, person_id, message_id, dropped), token, context, 422)
    if request.form.get("action") == "preview":
        return _render_form(template, _keep_files(draft, person_id, message_id, dropped), token, context,
                            raw_preview=raw)
    sent = _send(draft, post, raw, close_answer=close_answer)
    if sent is None:
        return _render_form(template, _keep_files(draft, person_id, message_id, dropped), token, context, 429)
    return sent


def _keep_files(draft: Draft, person_id: int, message_id: str, dropped: set[int]) -> Draft:
    """The form goes back to the browser: the files chosen this time are kept for the next
    sending (a file input cannot be filled again), those the member removed are forgotten."""
    if draft.attachments or dropped:
        with write_session() as s:
            drop_draft_files(s, person_id, message_id, dropped)
            keep_draft_files(s, person_id, message_id,
                             [(a.filename, a.content_type, a.data) for a in draft.attachments], utcnow())
            draft.kept = draft_files(s, person_id, message_id)
        draft.attachments = []
    return draft


@bp.route("/topics/new", methods=["GET", "POST"])
@members_only
def new_topic() -> Response | tuple[str, int]:
    def context() -> dict[str, object]:
        return {"categories": category_options(db())}
    if request.method == "GET":
        return _render_form("posting_new.html", Draft(), _new_form(signed_in_member())[0], context)
    return _handle("posting_new.html", _read_draft(), context, parent=None, new_topic=True)


@dataclass(frozen=True)
class Answered:
    """The message answered, as the reply form shows it."""

    id: int
    author: str
    when: str
    subject: str
    topic_id: int
    topic_closed: bool
    body: RenderedBody


def _answered(message: Message) -> Answered:
    config = forum_config()
    return Answered(message.id, message.from_name or _("(name not given)"),
                    moment_in(message.date, current_language(), config.forum.timezone), message.subject,
                    message.topic_id, message.topic.status is TopicStatus.CLOSED,
                    render_body(message.raw, message.text, address_mode(), _("(address hidden)")))


def quoted(message: Message, when: str) -> str:
    """The message's own text (signature left out) quoted as mail clients do, under an
    attribution line."""
    text = message.text if message.text is not None else extract_body(message.raw).text
    own = "\n\n".join(part for kind, part in split_segments(text) if kind != "signature")
    lines = "\n".join(f"> {line}" if line else ">" for line in own.splitlines())
    return _("On %(when)s, %(author)s wrote:", when=when, author=message.from_name or _("(name not given)")) + \
        f"\n{lines}\n\n"


@bp.route("/messages/<int:message_pk>/reply", methods=["GET", "POST"])
@members_only
def reply(message_pk: int) -> Response | tuple[str, int]:
    message = message_by_pk(db(), message_pk)
    if message is None:
        abort(404)
    def context() -> dict[str, object]:
        return {"answered": _answered(message)}
    if request.method == "GET":
        shown = context()
        when = shown["answered"].when  # type: ignore[attr-defined]
        draft = Draft(body=quoted(message, when) if request.args.get("quote") else "")
        return _render_form("posting_reply.html", draft, _new_form(signed_in_member())[0], lambda: shown)
    parent = Parent.of(message, forum_config().domain)
    return _handle("posting_reply.html", _read_draft(), context, parent=parent, new_topic=False,
                   close_answer=message.id)
