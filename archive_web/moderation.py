"""Moderation on the web, for moderators: the held-messages queue (each message's text,
sanitised as the archive shows mail, and its attachments; approve, reject with a reason,
always allow the sender), the audit log and the bounces kept without effect; and, for anyone holding the link, the
confirmation of command mails that could not be authenticated.

Every change is a POST form (CSRF-checked) in one short transaction, answered by a redirect
with what was done. Decisions go through the same functions as the mail commands, so they
write the same audit rows.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import email
import email.policy
from dataclasses import dataclass

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from archive_web.auth import address_mode, current_reader, members_only
from archive_web.bodies import RenderedBody, render_body
from archive_web.db import db, forum_config, write_session
from archive_web.log_labels import log_action_label, log_value_label, log_way_label
from mailgateway.body import ParsedAttachment, attachment_parts, extract_body
from mailgateway.bounces import BAD_SIGNATURE, PLAIN_ADDRESS, UNKNOWN_SUBSCRIPTION
from mailgateway.commands_moderation import command_id_of_token, confirm_command_mail, confirmation_target
from mailgateway.held_decisions import allow_and_approve, approve_held, reject_held
from storage.config import secret_key
from storage.control import kept_bounces
from storage.held import pending_held
from storage.models import CommandMail, CommandStatus, HeldMessage
from storage.moderation import ModerationError, audit_log

bp = Blueprint("moderation", __name__, url_prefix="/moderation")
bp.add_app_template_filter(log_action_label, "log_action")
bp.add_app_template_filter(log_way_label, "log_way")
bp.add_app_template_filter(log_value_label, "log_value")

LOG_PAGE = 100


def moderators_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """As members_only (anonymous readers are sent to sign in), and a 403 for members who
    do not moderate."""
    @members_only
    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not current_reader().is_moderator:
            abort(403)
        return view(*args, **kwargs)
    return guarded


def moderator_id() -> int:
    person_id = current_reader().person_id
    assert person_id is not None
    return person_id


@bp.get("/")
@moderators_only
def home() -> Response:
    return redirect(url_for("moderation.held"))


@dataclass(frozen=True)
class HeldView:
    """A held message as the queue shows it: its text, sanitised as the archive shows mail,
    and its attachments — what the moderator decides on."""

    held: HeldMessage
    body: RenderedBody
    attachments: tuple[ParsedAttachment, ...]


def _held_view(held: HeldMessage) -> HeldView:
    return HeldView(held, render_body(held.raw, None, address_mode(), _("(address hidden)")),
                    extract_body(held.raw).attachments)


@bp.get("/held")
@moderators_only
def held() -> str:
    return render_template("moderation/held.html", held=[_held_view(h) for h in pending_held(db())])


@bp.get("/held/<int:held_id>/attachments/<int:index>")
@moderators_only
def held_attachment(held_id: int, index: int) -> Response:
    """A held message's attachment, always as a download that no browser runs."""
    found = db().get(HeldMessage, held_id)
    if found is None:
        abort(404)
    parts = attachment_parts(email.message_from_bytes(found.raw, policy=email.policy.compat32))
    if not 0 <= index < len(parts):
        abort(404)
    listed = next((a for a in extract_body(found.raw).attachments if a.part_index == index), None)
    name = listed.filename if listed and listed.filename else f"attachment-{index + 1}"
    response = Response(parts[index].get_payload(decode=True) or b"", mimetype="application/octet-stream")
    response.headers.set("Content-Disposition", "attachment", filename=name.replace('"', "_")[:200])
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _decide(held_id: int, decide: Callable[..., Any], done: str) -> Response:
    try:
        with write_session() as s:
            decide(s, held_id)
    except ModerationError as error:
        flash(_("Nothing was done: %(why)s", why=str(error)))
    else:
        flash(done)
    return redirect(url_for("moderation.held"))


@bp.post("/held/<int:held_id>/approve")
@moderators_only
def approve(held_id: int) -> Response:
    config = forum_config()
    return _decide(held_id, lambda s, i: approve_held(s, config, secret_key(config), i, actor_id=moderator_id(),
                                                      via="web"),
                   _("The message is published."))


@bp.post("/held/<int:held_id>/reject")
@moderators_only
def reject(held_id: int) -> Response:
    reason = request.form.get("reason", "")
    return _decide(held_id, lambda s, i: reject_held(s, forum_config(), i, actor_id=moderator_id(), via="web",
                                                     reason=reason),
                   _("The message is rejected; its sender is told."))


@bp.post("/held/<int:held_id>/allow")
@moderators_only
def allow(held_id: int) -> Response:
    config = forum_config()
    return _decide(held_id, lambda s, i: allow_and_approve(s, config, secret_key(config), i,
                                                           actor_id=moderator_id(), via="web"),
                   _("The message is published, and its sender's next messages will be too."))


@bp.get("/log")
@moderators_only
def log() -> str:
    topic_id = request.args.get("topic", type=int)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    entries = audit_log(db(), topic_id=topic_id, limit=LOG_PAGE + 1, offset=(page - 1) * LOG_PAGE)
    return render_template("moderation/log.html", entries=entries[:LOG_PAGE], topic_id=topic_id, page=page,
                           has_next=len(entries) > LOG_PAGE)


@bp.get("/bounces")
@moderators_only
def bounces() -> str:
    """Bounces that named members but did not come back to a signed VERP address: never
    counted (anyone can forge them), shown so that a moderator may look into a real problem."""
    reasons = {PLAIN_ADDRESS: _("sent to the plain bounces address"),
               BAD_SIGNATURE: _("return address with a wrong signature"),
               UNKNOWN_SUBSCRIPTION: _("return address of an unknown subscription")}
    return render_template("moderation/bounces.html", bounces=kept_bounces(db()), reasons=reasons)


# The confirmation link of an unauthenticated command mail: possession of the link (sent to
# the moderator's mailbox) is the proof. GET only shows what will be done — mail scanners
# open links — and the button POSTs.

def _pending(token: str) -> tuple[int, CommandMail | None]:
    config = forum_config()
    command_id = command_id_of_token(config, secret_key(config), token)
    if command_id is None:
        return 0, None
    row = db().get(CommandMail, command_id)
    return command_id, row if row is not None and row.status is CommandStatus.AWAITING else None


@bp.get("/confirm/<token>")
def confirm(token: str) -> str:
    _command_id, row = _pending(token)
    target = confirmation_target(db(), forum_config(), row) if row is not None else {}
    return render_template("moderation/confirm.html", row=row, token=token, results=None, target=target)


@bp.post("/confirm/<token>")
def confirm_post(token: str) -> str:
    command_id, row = _pending(token)
    results = None
    if row is not None:
        config = forum_config()
        with write_session() as s:
            results = confirm_command_mail(s, config, secret_key(config), command_id, via="web-confirmed")
    return render_template("moderation/confirm.html", row=None, token=token, results=results,
                           invalid=results is None)
