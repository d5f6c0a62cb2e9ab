"""Reading the members CSV file (email,name,organisation,organisation_kind,role[,language])."""

from __future__ import annotations

import csv
import email.utils
from dataclasses import dataclass, field
from pathlib import Path

from storage.languages import available_languages, supported_language
from storage.models import OrganisationKind, Role
from storage.people import MemberRow

COLUMNS = ("email", "name", "organisation", "organisation_kind", "role", "language")
KINDS = {"member": OrganisationKind.MEMBER, "state": OrganisationKind.STATE, "team": OrganisationKind.TEAM}
ROLES = {"member": Role.MEMBER, "moderator": Role.MODERATOR, "admin": Role.ADMIN}


@dataclass
class MemberFile:
    rows: list[tuple[int, MemberRow]] = field(default_factory=list)  # (line number, row)
    invalid: list[tuple[int, str]] = field(default_factory=list)     # (line number, why)


def _row(values: dict[str, str]) -> MemberRow | str:
    address = (values.get("email") or "").strip()
    name, parsed = email.utils.parseaddr(address)
    if not parsed or "@" not in parsed or parsed != address or parsed.startswith("@") or parsed.endswith("@"):
        return f"email: {address!r} is not an email address"
    kind = (values.get("organisation_kind") or "member").strip().lower()
    if kind not in KINDS:
        return f"organisation_kind: {kind!r} is not one of member, state, team"
    role = (values.get("role") or "member").strip().lower()
    if role not in ROLES:
        return f"role: {role!r} is not one of member, moderator, admin"
    tag = (values.get("language") or "").strip()
    language = supported_language(tag)
    if tag and language is None:
        return f"language: {tag!r} is not one of {', '.join(available_languages())}"
    return MemberRow(email=parsed.lower(), name=(values.get("name") or "").strip(),
                     organisation=(values.get("organisation") or "").strip(),
                     organisation_kind=KINDS[kind], role=ROLES[role], language=language)


def read_member_file(path: Path) -> MemberFile:
    """Parse and check every row; a bad row is reported with its line number, never fatal."""
    result = MemberFile()
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("email",) if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: the header line must name the columns {', '.join(COLUMNS)}")
        seen: dict[str, int] = {}
        for values in reader:
            line = reader.line_num
            row = _row(values)
            if isinstance(row, str):
                result.invalid.append((line, row))
            elif row.email in seen:
                result.invalid.append((line, f"email: {row.email} already given on line {seen[row.email]}"))
            else:
                seen[row.email] = line
                result.rows.append((line, row))
    return result
