"""The links in the mail Relais sends that act on one subscription without sign-in: the
personal unsubscribe link (RFC 8058 one-click: a POST of `List-Unsubscribe=One-Click`
unsubscribes at once; a GET shows a page with one button) and the link that re-enables a
subscription that bounces had disabled. The signed token in the URL is the authority; the
page names the address concerned, masked (the link may have been passed on).
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from archive_web.csrf import csrf
from archive_web.db import db, forum_config, write_session
from mailgateway.listheaders import REENABLE, UNSUBSCRIBE, subscription_of_token
from storage.config import secret_key
from storage.models import Subscription
from storage.subscriptions import delivery_address
from storage.subscriptions import reenable as reenable_subscription
from storage.subscriptions import unsubscribe as unsubscribe_subscription

bp = Blueprint("unsubscribe", __name__)

ONE_CLICK = "One-Click"


def _subscription_id(purpose: str, token: str) -> int | None:
    return subscription_of_token(secret_key(forum_config()), purpose, token)


def masked_address(address: str) -> str:
    """alice@example.org → a•••e@example.org: enough for its owner to recognise it."""
    local, at, domain = address.partition("@")
    shown = local[0] + "•••" + (local[-1] if len(local) > 2 else "") if local else "•••"
    return f"{shown}{at}{domain}"


def _address_of(subscription_id: int) -> str | None:
    """The masked address a subscription's mail goes to; None if it does not exist."""
    subscription = db().get(Subscription, subscription_id)
    if subscription is None:
        return None
    return masked_address(delivery_address(db(), subscription.person_id) or "")


def _page(state: str, status: int = 200, address: str | None = None) -> tuple[str, int]:
    return render_template("unsubscribe.html", state=state, address=address), status


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
# The mailbox provider posts this without any form of ours (RFC 8058): the token in the URL
# authenticates it, so no CSRF token can be asked for.
@csrf.exempt
def unsubscribe(token: str) -> tuple[str, int]:
    subscription_id = _subscription_id(UNSUBSCRIBE, token)
    address = _address_of(subscription_id) if subscription_id is not None else None
    if subscription_id is None or address is None:
        return _page("invalid", 404)
    if request.method == "GET":
        return _page("confirm", address=address)
    if request.form.get("List-Unsubscribe") != ONE_CLICK:
        return _page("confirm", 400, address)
    with write_session() as s:
        if unsubscribe_subscription(s, subscription_id) is None:
            return _page("invalid", 404)
    return _page("unsubscribed", address=address)


@bp.route("/subscription/reenable/<token>", methods=["GET", "POST"])
def reenable(token: str) -> tuple[str, int]:
    subscription_id = _subscription_id(REENABLE, token)
    address = _address_of(subscription_id) if subscription_id is not None else None
    if subscription_id is None or address is None:
        return _page("invalid", 404)
    if request.method == "GET":
        return _page("reenable", address=address)
    with write_session() as s:
        subscription = s.get(Subscription, subscription_id)
        if subscription is None:
            return _page("invalid", 404)
        reenable_subscription(subscription)
    return _page("reenabled", address=address)
