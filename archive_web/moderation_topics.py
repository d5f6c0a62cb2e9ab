"""Moderating topics on the web: status and resolution, category, obstacle and good-practice
sheets, repairing threads (split a message and its replies into a new topic, merge a topic
into another), and the categories themselves (create, rename, merge). Moderators only; each
change is a CSRF-checked POST in one transaction, and writes its audit row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from archive_web.db import db, forum_config, write_session
from archive_web.moderation import moderator_id, moderators_only
from storage.categories import CategoryError, all_categories, category_for_name, merge_categories, rename_category
from storage.messages import topic_messages
from storage.models import Resolution, SheetKind, Topic
from mailgateway.topic_status import close_and_notify, reopen_and_notify
from storage.moderation import ModerationError, audit_log, log_action, set_topic_category
from storage.sheets import SheetError, delete_sheet, save_sheet, topic_sheets
from storage.thread_repair import merge_topic, split_message

bp = Blueprint("moderation_topics", __name__, url_prefix="/moderation")

_ERRORS = (ModerationError, CategoryError, SheetError)


def _apply(change: Callable[[Any], Any], done: str, back: str) -> Response:
    """Run one change in its own transaction; tell the moderator what happened."""
    try:
        with write_session() as s:
            change(s)
    except _ERRORS as error:
        flash(_("Nothing was done: %(why)s", why=str(error)))
    else:
        flash(done)
    return redirect(back)


def _topic_page(topic_id: int) -> str:
    return url_for("moderation_topics.topic", topic_id=topic_id)


@bp.get("/topics/<int:topic_id>")
@moderators_only
def topic(topic_id: int) -> str:
    found = db().get(Topic, topic_id)
    if found is None:
        abort(404)
    return render_template("moderation/topic.html", topic=found, messages=topic_messages(db(), topic_id),
                           sheets=topic_sheets(db(), topic_id), categories=all_categories(db()),
                           resolutions=list(Resolution), kinds=list(SheetKind),
                           log=audit_log(db(), topic_id=topic_id, limit=50))


@bp.post("/topics/<int:topic_id>/status")
@moderators_only
def status(topic_id: int) -> Response:
    value = request.form.get("resolution", "")
    who = {"actor_id": moderator_id(), "via": "web"}
    if value == "open":
        return _apply(lambda s: reopen_and_notify(s, forum_config(), topic_id, **who), _("The topic is open again."),
                      _topic_page(topic_id))
    if value not in {r.value for r in Resolution}:
        flash(_("Please choose a resolution."))
        return redirect(_topic_page(topic_id))
    answer = request.form.get("answer", type=int)
    return _apply(lambda s: close_and_notify(s, forum_config(), topic_id, Resolution(value), answer_message_id=answer,
                                             **who), _("The topic is closed."),
                  _topic_page(topic_id))


@bp.post("/topics/<int:topic_id>/category")
@moderators_only
def category(topic_id: int) -> Response:
    name = request.form.get("new_name", "").strip() or request.form.get("name", "")
    return _apply(lambda s: set_topic_category(s, topic_id, name, actor_id=moderator_id(), via="web"),
                  _("The topic's category is set."), _topic_page(topic_id))


@bp.post("/topics/<int:topic_id>/sheets")
@moderators_only
def sheet(topic_id: int) -> Response:
    kind = request.form.get("kind", "")
    if kind not in {k.value for k in SheetKind}:
        flash(_("Please choose the kind of sheet."))
        return redirect(_topic_page(topic_id))
    sheet_id = request.form.get("sheet_id", type=int)

    def save(s: Any) -> None:
        saved, created = save_sheet(s, topic_id=topic_id, kind=SheetKind(kind), title=request.form.get("title", ""),
                                    body=request.form.get("body", ""), author_id=moderator_id(), sheet_id=sheet_id)
        log_action(s, actor_id=moderator_id(), via="web", action="sheet-create" if created else "sheet-edit",
                   topic_id=topic_id, after=f"{saved.kind.value}: {saved.title}")
    return _apply(save, _("The sheet is saved."), _topic_page(topic_id))


@bp.post("/topics/<int:topic_id>/sheets/<int:sheet_id>/delete")
@moderators_only
def remove_sheet(topic_id: int, sheet_id: int) -> Response:
    def remove(s: Any) -> None:
        removed = delete_sheet(s, sheet_id)
        log_action(s, actor_id=moderator_id(), via="web", action="sheet-delete", topic_id=topic_id,
                   before=f"{removed.kind.value}: {removed.title}")
    return _apply(remove, _("The sheet is deleted."), _topic_page(topic_id))


@bp.post("/topics/<int:topic_id>/split")
@moderators_only
def split(topic_id: int) -> Response:
    message_pk = request.form.get("message", type=int) or 0
    made: list[int] = []
    back = _apply(lambda s: made.append(split_message(s, message_pk, actor_id=moderator_id(), via="web")),
                  _("The message and its replies are now a topic of their own."), _topic_page(topic_id))
    return redirect(_topic_page(made[0])) if made else back


@bp.post("/topics/<int:topic_id>/merge")
@moderators_only
def merge(topic_id: int) -> Response:
    target = request.form.get("target", "").strip().lstrip("#")
    if not target.isdigit():
        flash(_("Please give the number of the topic to merge into."))
        return redirect(_topic_page(topic_id))
    back = _apply(lambda s: merge_topic(s, topic_id, int(target), actor_id=moderator_id(), via="web"),
                  _("The topic is merged."), _topic_page(int(target)))
    return back


@bp.get("/categories")
@moderators_only
def categories() -> str:
    return render_template("moderation/categories.html", categories=all_categories(db()))


@bp.post("/categories")
@moderators_only
def create_category() -> Response:
    def create(s: Any) -> None:
        made, created = category_for_name(s, request.form.get("name", ""))
        if not created:
            raise CategoryError(_("the category %(name)s already exists", name=made.name))
        log_action(s, actor_id=moderator_id(), via="web", action="category-create", after=made.name)
    return _apply(create, _("The category is created."), url_for("moderation_topics.categories"))


@bp.post("/categories/<int:category_id>/rename")
@moderators_only
def rename(category_id: int) -> Response:
    def change(s: Any) -> None:
        old, new = rename_category(s, category_id, request.form.get("name", ""))
        log_action(s, actor_id=moderator_id(), via="web", action="category-rename", before=old, after=new)
    return _apply(change, _("The category is renamed."), url_for("moderation_topics.categories"))


@bp.post("/categories/<int:category_id>/merge")
@moderators_only
def merge_category(category_id: int) -> Response:
    target = request.form.get("target", type=int) or 0

    def change(s: Any) -> None:
        source, into = merge_categories(s, category_id, target)
        log_action(s, actor_id=moderator_id(), via="web", action="category-merge", before=source, after=into)
    return _apply(change, _("The categories are merged."), url_for("moderation_topics.categories"))
