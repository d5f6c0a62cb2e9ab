"""Reading moderator commands from the top of a mail body, and taking them out of it.

Commands are lines starting with `#` before any other text (blank lines between them are
fine), in English, French or German; case and accents are ignored ("#Clôre", "#CATÉGORIE",
"#Schließen"):

    #close <resolution>   #clore <résolution>   #schliessen <Lösung>
        resolutions: solution/lösung | bat | study/etude/studie |
                     legal-impossibility/impossibilite-juridique/rechtliche-unmöglichkeit |
                     escalated/remonte/eskaliert
    #reopen               #rouvrir              #wiedereröffnen
    #category <name>      #categorie <nom>      #kategorie <Name>
    #approve              #approuver            #freigeben     (in reply to a held-message notice)
    #reject [reason]      #rejeter [motif]      #ablehnen [Begründung]
    #topic <id>           #sujet <id>           #thema <id>    (names the topic, in mail to -request)
"""

from __future__ import annotations

import email
import email.policy
import re
import unicodedata
from dataclasses import dataclass
from email.message import EmailMessage

from mailgateway.body import html_to_text
from storage.models import Resolution

WORDS = {
    "close": "close", "clore": "close", "cloturer": "close", "schliessen": "close", "schliesen": "close",
    "reopen": "reopen", "rouvrir": "reopen", "reouvrir": "reopen",
    "wiedereroffnen": "reopen", "wiedereroeffnen": "reopen",
    "category": "category", "categorie": "category", "kategorie": "category",
    "approve": "approve", "approuver": "approve", "freigeben": "approve",
    "reject": "reject", "rejeter": "reject", "ablehnen": "reject",
    "topic": "topic", "sujet": "topic", "thema": "topic",
}
# The language of each word that is not English: the answer is written in it. The English
# words are the canonical ones every help page shows, so they say nothing of the writer's.
WORD_LANGUAGES = {
    "clore": "fr", "cloturer": "fr", "rouvrir": "fr", "reouvrir": "fr", "categorie": "fr", "approuver": "fr",
    "rejeter": "fr", "sujet": "fr",
    "schliessen": "de", "schliesen": "de", "wiedereroffnen": "de", "wiedereroeffnen": "de", "kategorie": "de",
    "freigeben": "de", "ablehnen": "de", "thema": "de",
}
RESOLUTIONS = {
    "solution": Resolution.SOLUTION, "losung": Resolution.SOLUTION, "loesung": Resolution.SOLUTION,
    "bat": Resolution.BAT,
    "study": Resolution.STUDY, "etude": Resolution.STUDY, "studie": Resolution.STUDY,
    "legal-impossibility": Resolution.LEGAL_IMPOSSIBILITY,
    "impossibilite-juridique": Resolution.LEGAL_IMPOSSIBILITY,
    "rechtliche-unmoglichkeit": Resolution.LEGAL_IMPOSSIBILITY,
    "rechtliche-unmoeglichkeit": Resolution.LEGAL_IMPOSSIBILITY,
    "escalated": Resolution.ESCALATED, "remonte": Resolution.ESCALATED, "remontee": Resolution.ESCALATED,
    "eskaliert": Resolution.ESCALATED,
}
_COMMAND_RE = re.compile(r"^\s*#([^\s:]+):?(?:\s+(.*?))?\s*$")
# Where the quoted original begins in clients that do not quote with ">".
_QUOTE_STARTS = ("-----original message-----", "-----message d'origine-----", "-----ursprüngliche nachricht-----",
                 "________________________________")


def fold(word: str) -> str:
    """Lower case, without accents: how command words and resolutions are compared."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def language_of_commands(lines: list[str]) -> str | None:
    """The language the command words of `lines` are written in when one is French or
    German; None otherwise (the answer is then in the person's language)."""
    words = [fold(match.group(1)) for line in lines if (match := _COMMAND_RE.match(line))]
    return next((WORD_LANGUAGES[word] for word in words if word in WORD_LANGUAGES), None)


def resolution_named(text: str) -> Resolution | None:
    key = re.sub(r"[\s_]+", "-", fold(text.strip()))
    return RESOLUTIONS.get(key)


@dataclass(frozen=True)
class Command:
    word: str      # canonical English word, "" if unknown
    argument: str
    line: str      # as written

    @classmethod
    def read(cls, line: str) -> Command:
        match = _COMMAND_RE.match(line)
        assert match is not None
        return cls(WORDS.get(fold(match.group(1)), ""), (match.group(2) or "").strip(), line.strip())


def is_command_line(line: str) -> bool:
    return _COMMAND_RE.match(line) is not None


def split_commands(text: str) -> tuple[list[Command], str]:
    """(the command lines at the top of a body, the rest of the body)."""
    lines = text.replace("\r\n", "\n").split("\n")
    commands, index = [], 0
    while index < len(lines):
        line = lines[index]
        if line.strip() and not is_command_line(line):
            break
        if line.strip():
            commands.append(Command.read(line))
        index += 1
    if not commands:
        return [], text
    return commands, "\n".join(lines[index:])


def has_own_text(rest: str) -> bool:
    """Whether what follows the commands says something: not only blank lines, a signature,
    an attribution line ("Le … a écrit :") and the quoted message."""
    lines = []
    for line in rest.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if stripped in ("--", "-- ") or line == "-- " or stripped.lower() in _QUOTE_STARTS:
            break
        if stripped and not stripped.startswith(">"):
            lines.append(stripped)
    return not (not lines or (len(lines) == 1 and lines[0].endswith(":")))


def body_text(raw: bytes) -> str:
    """The text the commands are read from: the plain part, else the HTML turned into text."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        payload = part.get_payload(decode=True) or b""
    except (LookupError, ValueError, AssertionError):
        return ""
    content = _decoded(payload, part.get_content_charset())
    return html_to_text(content) if part.get_content_type() == "text/html" else content


def _decoded(payload: bytes, charset: str | None) -> str:
    """The text of a part as posts read it: its charset, else UTF-8, else cp1252. 8-bit mail
    without a charset (or mislabelled us-ascii) is common; email's default would turn every
    accented letter into U+FFFD ("#catégorie" unknown, "s��jour")."""
    for candidate in (charset, "utf-8", "cp1252"):
        if not candidate:
            continue
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1")


def strip_commands(raw: bytes) -> bytes:
    """The message without its command lines: the plain body rewritten, and an HTML
    alternative (which would still show them) dropped; headers and attachments kept."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return raw
    _, rest = split_commands(body_text(raw))
    for container in msg.walk():
        if container.get_content_type() == "multipart/alternative" and part in container.get_payload():
            container.set_payload([p for p in container.get_payload()  # type: ignore[union-attr]
                                   if p is part or p.get_content_type() != "text/html"])
    part.set_content(rest.lstrip("\n"), subtype="plain", charset="utf-8", cte="quoted-printable")
    if "MIME-Version" not in msg:
        msg["MIME-Version"] = "1.0"
    return msg.as_bytes(policy=email.policy.SMTP.clone(refold_source="none"))
