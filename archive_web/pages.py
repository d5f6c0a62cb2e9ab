"""The help page (taking part by mail, for people who are not technical) and the list of the
network's organisations (members only)."""

from __future__ import annotations

from flask import Blueprint, render_template

from archive_web.auth import require_member
from archive_web.db import db, forum_config
from mailgateway.addresses import request_address
from storage.archive import organisations_with_members

bp = Blueprint("pages", __name__)


@bp.get("/help")
def help() -> str:
    config = forum_config()
    return render_template("help.html", request_address=request_address(config),
                           visibility=config.archive.visibility)


@bp.get("/organisations")
def organisations() -> str:
    require_member()
    return render_template("organisations.html", organisations=organisations_with_members(db()))
