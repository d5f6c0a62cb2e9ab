"""The privacy page (/privacy): who the controller is, why and on which basis the forum
processes personal data, how long it keeps what, and how to exercise one's rights. Its
content comes from [privacy] and [retention] in config.toml, in the reader's language."""

from __future__ import annotations

from flask import Blueprint, render_template

from archive_web.db import forum_config
from archive_web.i18n import current_language

bp = Blueprint("privacy", __name__)


@bp.get("/privacy")
def privacy() -> str:
    config = forum_config()
    english = current_language() != "fr"  # the settings hold French and English: English for every other reader
    texts = config.privacy
    return render_template(
        "privacy.html", privacy=texts, retention=config.retention, session_days=config.web.session_days,
        purposes=texts.purposes_en if english else texts.purposes_fr,
        legal_basis=texts.legal_basis_en if english else texts.legal_basis_fr,
        visibility=config.archive.visibility)
