"""What the moderation log stores as codes ("approve", "category-create", "web-confirmed",
"closed (bat)"), in the reader's language: the page shows these words, never the codes."""

from __future__ import annotations

import re

from flask_babel import gettext as _


def _actions() -> dict[str, str]:
    return {"close": _("closed the topic"), "reopen": _("reopened the topic"), "category": _("set the category"),
            "category-create": _("created a category"), "category-rename": _("renamed a category"),
            "category-merge": _("merged categories"), "approve": _("published a held message"),
            "reject": _("rejected a held message"), "allow-sender": _("always allowed a sender"),
            "split": _("split a topic"), "merge": _("merged topics"), "sheet-create": _("wrote a sheet"),
            "sheet-edit": _("edited a sheet"), "sheet-delete": _("deleted a sheet"),
            "erase-member": _("erased a person"), "answer": _("chose the accepted answer")}


def _ways() -> dict[str, str]:
    return {"mail": _("by mail"), "mail-confirmed": _("by mail, confirmed"), "web": _("on the web"),
            "web-confirmed": _("by mail, confirmed on the web"), "cli": _("on the command line")}


def resolution_labels() -> dict[str, str]:
    return {"solution": _("solution found"), "bat": _("technical-assistance voucher"), "study": _("study"),
            "legal-impossibility": _("legal impossibility"),
            "escalated": _("escalated (unresolved, reported upwards)")}


def _values() -> dict[str, str]:
    # Before and after of status changes, of erasures and of sheets (their kind).
    return {"open": _("open"), "closed": _("closed"), "redact": _("kept, without name or addresses"),
            "delete": _("removed"), "obstacle": _("Obstacle"), "good-practice": _("Good practice")}


_CLOSED = re.compile(r"closed \(([a-z-]+)\)")
_KIND = re.compile(r"(obstacle|good-practice): ")
_TOPIC = re.compile(r"topic #(\d+)")


def log_action_label(code: str) -> str:
    return _actions().get(code, code)


def log_way_label(code: str) -> str:
    return _ways().get(code, code)


def log_value_label(value: str) -> str:
    """A before/after value in words: codes translated, names and subjects as they are."""
    if value in _values():
        return _values()[value]
    if (closed := _CLOSED.fullmatch(value)) and closed.group(1) in resolution_labels():
        return _("closed (%(resolution)s)", resolution=resolution_labels()[closed.group(1)])
    if topic := _TOPIC.fullmatch(value):
        return _("topic #%(id)d", id=int(topic.group(1)))
    if kind := _KIND.match(value):
        return f"{_values()[kind.group(1)]}: {value[kind.end():]}"
    return value
