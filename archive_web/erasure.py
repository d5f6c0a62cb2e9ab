"""The administrators' erasure page (/admin/erase): erase a person (GDPR article 17) under
the configured policy or the other one, as `relais members erase` does. The search index is
rebuilt in the background afterwards (see mailgateway.erasure)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from archive_web.auth import current_reader, members_only
from archive_web.db import db, forum_config, write_session
from mailgateway.erasure import erase_person, rebuild_in_background
from storage.models import Role
from storage.people import normalise_address, person_by_address

bp = Blueprint("erasure", __name__, url_prefix="/admin")

POLICIES = ("redact", "delete")


def _admin_only() -> None:
    if current_reader().role is not Role.ADMIN:
        abort(403)


@bp.get("/erase")
@members_only
def erase_form() -> str:
    _admin_only()
    return render_template("erase.html", policy=forum_config().privacy.erasure_policy, policies=POLICIES)


@bp.post("/erase")
@members_only
def erase() -> Response | str:
    _admin_only()
    config = forum_config()
    address = normalise_address(request.form.get("address", ""))[:320]
    policy = request.form.get("policy", "")
    if policy not in POLICIES or request.form.get("confirm") != "yes":
        flash(_("Please choose what becomes of the messages and confirm the erasure."))
        return redirect(url_for("erasure.erase_form"))
    person = person_by_address(db(), address) if address else None
    if person is None:
        flash(_("No member has the address %(address)s.", address=address))
        return redirect(url_for("erasure.erase_form"))
    with write_session() as s:
        erase_person(s, config, person.id, policy, via="web")  # type: ignore[arg-type]
    current_app.extensions["relais.erasure_reindex"] = rebuild_in_background(
        current_app.extensions["relais.engine"], config)
    flash(_("The person is erased. The search index is being rebuilt."))
    return redirect(url_for("erasure.erase_form"))
