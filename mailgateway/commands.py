"""The commands people mail to <local>-request@: the words that name them (English, French
and German; case and accents do not matter), their argument, whether they wait for a confirmation round-trip, and what they do.

COMMANDS is a table: a new command (moderators' too) is one more `Command` in it. Parsing
reads the subject, then the body's lines, as list servers do: quoted lines are skipped, and
reading stops at a signature, a quoted original or an `end`/`fin` line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from mailgateway.command_lines import fold
from storage.config import Config
from storage.db import Session
from storage.models import DeliveryMode, FollowLevel, Topic
from storage.subscriptions import member_by_address, set_mode, set_topic_follow, subscribe, unsubscribe


@dataclass(frozen=True)
class Outcome:
    """What a command did, for the answer: `key` picks the sentence in request-result.*.txt."""

    key: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandContext:
    session: Session
    config: Config
    address: str  # the address the command acts for (the one the confirmation reached)
    now: datetime


@dataclass(frozen=True)
class Command:
    name: str
    words: dict[str, str]  # word (folded) → language of the answer ("de", "en", "fr"; "" for none)
    run: Callable[[CommandContext, str], Outcome] | None  # None: answered by the processor
    confirm: bool = True  # acted on only once the address confirms
    # Normalises the argument; None means it is not a valid one. Absent: no argument taken.
    argument: Callable[[str], str | None] | None = None


# word (folded) → (mode, language the word is in)
MODE_WORDS = {"all": (DeliveryMode.ALL, "en"), "tout": (DeliveryMode.ALL, "fr"), "tous": (DeliveryMode.ALL, "fr"),
              "alle": (DeliveryMode.ALL, "de"),
              "topics": (DeliveryMode.TOPICS, "en"), "sujets": (DeliveryMode.TOPICS, "fr"),
              "themen": (DeliveryMode.TOPICS, "de"),
              "digest": (DeliveryMode.DIGEST, "en"), "resume": (DeliveryMode.DIGEST, "fr"),
              "zusammenfassung": (DeliveryMode.DIGEST, "de"),
              "none": (DeliveryMode.NONE, "en"), "aucun": (DeliveryMode.NONE, "fr"), "rien": (DeliveryMode.NONE, "fr"),
              "keine": (DeliveryMode.NONE, "de"), "nichts": (DeliveryMode.NONE, "de")}


def _mode_argument(text: str) -> str | None:
    found = MODE_WORDS.get(fold(text.strip()))
    return found[0].value if found else None


def _topic_argument(text: str) -> str | None:
    match = re.fullmatch(r"#?(\d{1,12})", text.strip())
    return match.group(1) if match else None


def _run_subscribe(ctx: CommandContext, argument: str) -> Outcome:
    person = member_by_address(ctx.session, ctx.address)
    if person is None:
        return Outcome("not-member")
    subscription = subscribe(ctx.session, person, DeliveryMode(ctx.config.delivery.default_mode))
    return Outcome("subscribed", {"mode": subscription.mode.value})


def _run_unsubscribe(ctx: CommandContext, argument: str) -> Outcome:
    person = member_by_address(ctx.session, ctx.address)
    if person is None or person.subscription is None:
        return Outcome("not-subscribed")
    unsubscribe(ctx.session, person.subscription.id)
    return Outcome("unsubscribed")


def _run_mode(ctx: CommandContext, argument: str) -> Outcome:
    person = member_by_address(ctx.session, ctx.address)
    if person is None:
        return Outcome("not-member")
    subscription = subscribe(ctx.session, person, DeliveryMode(argument))
    set_mode(ctx.session, subscription, DeliveryMode(argument))
    return Outcome("mode", {"mode": argument})


def _follow_run(level: FollowLevel) -> Callable[[CommandContext, str], Outcome]:
    def run(ctx: CommandContext, argument: str) -> Outcome:
        person = member_by_address(ctx.session, ctx.address)
        if person is None:
            return Outcome("not-member")
        topic = ctx.session.get(Topic, int(argument))
        if topic is None:
            return Outcome("no-topic", {"topic": argument})
        set_topic_follow(ctx.session, person.id, topic.id, level)
        return Outcome(level.value, {"topic": argument, "subject": topic.subject})
    return run


CONFIRM = Command("confirm", {"confirm": "en", "confirmer": "fr", "confirmation": "fr", "bestatigen": "de",
                              "bestaetigen": "de", "bestatigung": "de", "bestaetigung": "de"}, None, confirm=False,
                  argument=lambda text: text.strip() or None)
HELP = Command("help", {"help": "en", "aide": "fr", "info": "en", "hilfe": "de"}, None, confirm=False)

COMMANDS: tuple[Command, ...] = (
    Command("subscribe", {"subscribe": "en", "join": "en", "abonner": "fr", "abonnement": "fr",
                          "inscrire": "fr", "inscription": "fr", "abonnieren": "de", "anmelden": "de"},
            _run_subscribe),
    Command("unsubscribe", {"unsubscribe": "en", "leave": "en", "desabonner": "fr", "desabonnement": "fr",
                            "desinscrire": "fr", "abbestellen": "de", "abmelden": "de", "austragen": "de"},
            _run_unsubscribe),
    Command("mode", {"mode": "", "modus": "de"}, _run_mode, argument=_mode_argument),
    Command("follow", {"follow": "en", "suivre": "fr", "folgen": "de"}, _follow_run(FollowLevel.FOLLOW),
            argument=_topic_argument),
    Command("mute", {"mute": "en", "ignorer": "fr", "silence": "fr", "stummschalten": "de"},
            _follow_run(FollowLevel.MUTE), argument=_topic_argument),
    HELP,
    CONFIRM,
)

_BY_WORD = {word: command for command in COMMANDS for word in command.words}
# "se désabonner", "s'abonner", "je veux me désabonner", "bitte abbestellen": the verb is what counts.
_FILLER = {"se", "me", "je", "veux", "please", "merci", "bitte", "ich", "mochte", "moechte", "danke"}
_REPLY_PREFIX_RE = re.compile(r"^\s*(?:(?:re|ré|aw|fwd?|tr|wg)\s*:\s*|\[[^\]]*\]\s*)+", re.IGNORECASE)
_STOP_RE = re.compile(r"^(--\s*$|_{5,}|-{5,}|(from|de|von)\s*:|le .* a écrit|on .* wrote|am .* schrieb)",
                      re.IGNORECASE)
MAX_LINES = 30


@dataclass(frozen=True)
class CommandLine:
    line: str
    command: Command | None
    argument: str | None
    language: str  # "" when the word says nothing of it


def parse_line(line: str) -> CommandLine:
    tokens = line.replace("’", "'").split()
    for i, token in enumerate(tokens):
        word = re.sub(r"^(s'|m')", "", fold(token)).strip(".:!,;")
        if word in _FILLER or not word:
            continue
        command = _BY_WORD.get(word)
        if command is None:
            break
        rest = " ".join(tokens[i + 1:])
        argument = command.argument(rest) if command.argument else ""
        language = command.words[word]
        if command.name == "mode" and argument and not language:
            language = MODE_WORDS[fold(rest.strip())][1]
        return CommandLine(line, command, argument, language)
    return CommandLine(line, None, None, "")


def command_lines(subject: str, body: str) -> tuple[list[CommandLine], list[str]]:
    """The commands a request mail holds (subject first, no duplicates), and the lines not
    understood."""
    found: list[CommandLine] = []
    unknown: list[str] = []
    seen: set[tuple[str, str | None]] = set()
    subject = _REPLY_PREFIX_RE.sub("", subject).strip()
    lines = ([subject] if subject else []) + body.splitlines()[:MAX_LINES]
    for line in lines:
        if line.lstrip().startswith(">") or not line.strip():
            continue
        if _STOP_RE.match(line.strip()) or line.strip().lower() in ("end", "fin", "stop", "ende"):
            break
        parsed = parse_line(line)
        if parsed.command is None:
            unknown.append(line.strip())
            continue
        key = (parsed.command.name, parsed.argument)
        if key not in seen:
            seen.add(key)
            found.append(parsed)
    return found, unknown
