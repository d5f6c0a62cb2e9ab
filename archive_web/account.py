"""My subscription (/account): delivery mode, unsubscribing, followed and muted topics,
followed categories, and the addresses linked to the person. Every change is a POST form
(CSRF-checked) answered by a redirect back to the page with a confirmation.

Adding an address is confirmed from that mailbox (a signed link), so nobody can link an
address they do not own.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from archive_web.auth import members_only, signed_in_member
from archive_web.db import db, forum_config, write_session
from archive_web.i18n import current_language
from archive_web.redirects import safe_next
from archive_web.sign_in import WINDOW
from mailgateway.notices import queue_notice
from storage.accounts import account as load_account
from storage.accounts import attach_address, detach_address, ensure_subscription
from storage.config import secret_key
from storage.models import DeliveryMode, FollowLevel, Person, Topic, utcnow
from storage.people import normalise_address
from storage.personal_data import export_zip, personal_data
from storage.rate_limits import allow
from storage.subscriptions import set_category_follow, set_mode, set_topic_follow, subscribe, unsubscribe
from storage.tokens import make_token, read_token

bp = Blueprint("account", __name__)

ADD_ADDRESS = "add-address"
ADD_ADDRESS_DAYS = 2


def _back() -> Response:
    return redirect(url_for("account.account"))


@bp.get("/account")
@members_only
def account() -> str:
    person_id = signed_in_member()
    found = load_account(db(), person_id)
    if found is None:
        abort(404)
    return render_template("account.html", account=found, modes=list(DeliveryMode))


@bp.get("/account/data.zip")
@members_only
def download_data() -> Response:
    """Access and portability (GDPR articles 15 and 20): everything the forum holds about
    the signed-in person, in one archive."""
    data = personal_data(db(), signed_in_member())
    if data is None:
        abort(404)
    response = Response(export_zip(data), mimetype="application/zip")
    response.headers.set("Content-Disposition", "attachment", filename="relais-data.zip")
    return response


@bp.post("/account/mode")
@members_only
def change_mode() -> Response:
    person_id = signed_in_member()
    value = request.form.get("mode", "")
    if value not in {m.value for m in DeliveryMode}:
        flash(_("Please choose one of the delivery modes."))
        return _back()
    with write_session() as s:
        person = s.get(Person, person_id)
        set_mode(s, ensure_subscription(s, person), DeliveryMode(value))
    flash(_("Your choice is saved."))
    return _back()


@bp.post("/account/unsubscribe")
@members_only
def leave() -> Response:
    person_id = signed_in_member()
    with write_session() as s:
        unsubscribe(s, ensure_subscription(s, s.get(Person, person_id)).id)
    flash(_("You are unsubscribed: the forum sends you no more mail. You can still read it here."))
    return _back()


@bp.post("/account/subscribe")
@members_only
def rejoin() -> Response:
    """Mail again (after unsubscribing, or after bounces disabled the subscription)."""
    person_id = signed_in_member()
    with write_session() as s:
        subscribe(s, s.get(Person, person_id), DeliveryMode(forum_config().delivery.default_mode))
    flash(_("You receive the forum's mail again."))
    return _back()


@bp.post("/account/topics/<int:topic_id>")
@members_only
def follow_topic(topic_id: int) -> Response:
    person_id = signed_in_member()
    value = request.form.get("level", "")
    level = FollowLevel(value) if value in {lv.value for lv in FollowLevel} else None
    with write_session() as s:
        if s.get(Topic, topic_id) is None:
            abort(404)
        set_topic_follow(s, person_id, topic_id, level)
    flash({FollowLevel.FOLLOW: _("You follow this topic: you receive all its messages."),
           FollowLevel.MUTE: _("This topic is muted: you receive none of its messages."),
           None: _("This topic follows your delivery mode again.")}[level])
    return redirect(safe_next(request.form.get("next") or url_for("account.account")))


@bp.post("/account/categories")
@members_only
def follow_categories() -> Response:
    person_id = signed_in_member()
    chosen = set(request.form.getlist("category", type=int))
    with write_session() as s:
        for category, followed in load_account(s, person_id).categories:
            if (category.id in chosen) != followed:
                set_category_follow(s, person_id, category.id, category.id in chosen)
    flash(_("Your choice is saved."))
    return _back()


@bp.post("/account/addresses")
@members_only
def add_address() -> Response:
    person_id = signed_in_member()
    config = forum_config()
    address = normalise_address(request.form.get("address", ""))[:320]
    if "@" not in address.strip("@") or " " in address:
        flash(_("Please give an email address, such as name@example.org."))
        return _back()
    with write_session() as s:
        if not allow(s, {f"add-address:person:{person_id}": config.web.sign_in_limit_per_address}, WINDOW, utcnow()):
            flash(_("Several confirmations were asked for in a short time. Please wait an hour."))
            return _back()
        token = make_token(secret_key(config), ADD_ADDRESS, {"p": person_id, "a": address})
        link = config.forum.base_url.rstrip("/") + url_for("account.confirm_address", token=token)
        queue_notice(s, config, to=address, name="confirm_address", purpose="confirm-address",
                     language=current_language(), link=link, days=ADD_ADDRESS_DAYS)
    flash(_("A confirmation link has been sent to %(address)s. The address is added once you open it.",
            address=address))
    return _back()


def _address_token(token: str) -> dict[str, object] | None:
    payload = read_token(secret_key(forum_config()), ADD_ADDRESS, token, max_age=ADD_ADDRESS_DAYS * 86400)
    return payload if isinstance(payload, dict) and isinstance(payload.get("p"), int) else None


@bp.route("/account/addresses/confirm/<token>", methods=["GET", "POST"])
def confirm_address(token: str) -> str | Response | tuple[str, int]:
    """Opened from the confirmation mail; the button (POST) links the address. No sign-in
    needed: the link itself proves that its reader owns the mailbox."""
    payload = _address_token(token)
    if payload is None:
        return render_template("address_confirm.html", state="invalid"), 410
    if request.method == "GET":
        return render_template("address_confirm.html", state="confirm", token=token, address=payload["a"])
    with write_session() as s:
        outcome = attach_address(s, int(payload["p"]), str(payload["a"]))  # type: ignore[call-overload]
    return render_template("address_confirm.html", state=outcome, address=payload["a"])


@bp.post("/account/addresses/<int:address_id>/remove")
@members_only
def remove_address(address_id: int) -> Response:
    person_id = signed_in_member()
    with write_session() as s:
        removed = detach_address(s, person_id, address_id)
    flash(_("The address is removed.") if removed else
          _("This address cannot be removed: keep at least one address."))
    return _back()
