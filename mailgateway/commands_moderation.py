"""Moderators' email commands (mailgateway.command_lines): recorded from posts by the gateway
(mailgateway.command_mail) and from mail to <local>-request@ (`handle_moderation_mail`, called
by the request job), then applied here.

Never on the From header alone: the commands job (`process_command_mails`) applies a command
mail at once only when mailgateway.authentication proves it comes from the moderator's
domain; otherwise the moderator gets a confirmation request — a one-time link (the web's
/moderation/confirm/<token>) and a reply-to-confirm address (<local>-request+confirm.<id>.
<sig>@) — and the commands take effect on confirmation. Every command is answered by mail.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailgateway.addresses import classify, confirm_address, confirmed_command
from mailgateway.authentication import DnsFunc, authenticate
from mailgateway.automated import is_automated
from mailgateway.command_lines import Command, body_text, language_of_commands, resolution_named, split_commands
from mailgateway.held_decisions import approve_held, reject_held
from mailgateway.command_targets import Targets, find_targets, whole_mail_headers
from mailgateway.notices import may_answer, queue_notice
from mailgateway.parse import parse_message
from mailgateway.topic_status import close_and_notify, reopen_and_notify
from storage.categories import CategoryError
from storage.config import Config, secret_key
from storage.db import Engine, Session, session_scope
from storage.models import CommandMail, CommandStatus, HeldMessage, HeldStatus, Topic, utcnow
from storage.moderation import (
    ModerationError,
    add_command_mail,
    claim_confirmation,
    is_moderator,
    received_command_mails,
    record_signed_mail,
    signed_mail_acted,
    set_topic_category,
)
from storage.people import guess_language, person_by_address, poster
from storage.tokens import make_token, read_token

log = logging.getLogger(__name__)

CONFIRM_PURPOSE = "moderation-confirm"
MAX_SHOWN_ARGUMENT = 200
MODERATION_WORDS = {"close", "reopen", "category", "approve", "reject", "topic"}


def confirmation_token(secret: str, command_id: int) -> str:
    return make_token(secret, CONFIRM_PURPOSE, command_id)


def command_id_of_token(config: Config, secret: str, token: str) -> int | None:
    payload = read_token(secret, CONFIRM_PURPOSE, token, max_age=config.moderation.confirm_hours * 3600)
    return payload if isinstance(payload, int) else None


# --- The job: authenticate (DNS, outside any transaction), then apply or ask to confirm.

def process_command_mails(engine: Engine, config: Config, dnsfunc: DnsFunc | None = None,
                          limit: int = 50) -> int:
    """Act on the command mails waiting; returns how many were handled."""
    secret = secret_key(config)
    with session_scope(engine, readonly=True) as db:
        waiting = received_command_mails(db, limit)
    for command_id, raw, from_address in waiting:
        try:
            proof = authenticate(raw, from_address, config.moderation.trusted_authserv_id, dnsfunc)
            with session_scope(engine) as db:
                row = db.get(CommandMail, command_id)
                if row is None or row.status is not CommandStatus.RECEIVED:
                    continue
                if not proof.authenticated:
                    # The moderator will confirm what the mail names, read whole; the
                    # request shows it.
                    _set_targets(row, find_targets(db, config, secret, row, whole_mail_headers(row.raw)))
                    ask_confirmation(db, config, secret, row, proof.by)
                elif proof.signature and signed_mail_acted(db, proof.signature):
                    row.status = CommandStatus.DONE  # a replay: this signed mail has acted once
                    # Whoever replays it may be anyone: within the daily allowance of answers.
                    _answer(db, config, row.from_address, "", [{"key": "replayed", "line": ""}], limited=True)
                else:
                    if proof.signature:
                        record_signed_mail(db, proof.signature, row.id)
                    row.authenticated_by = proof.by[:64]
                    _set_targets(row, find_targets(db, config, secret, row, proof.covered))
                    apply_command_mail(db, config, secret, row, via="mail")
        except Exception:
            log.exception("command mail %s could not be handled; it is set aside", command_id)
            with session_scope(engine) as db:
                row = db.get(CommandMail, command_id)
                if row is not None:
                    row.status = CommandStatus.DONE
    return len(waiting)


def _set_targets(row: CommandMail, targets: Targets) -> None:
    row.topic_id, row.held_id, row.answered_id = targets.topic_id, targets.held_id, targets.answered_id


def ask_confirmation(session: Session, config: Config, secret: str, row: CommandMail, why: str) -> None:
    """Ask the moderator whose address the mail bears to confirm. Anybody may have written
    it: the request shows the commands as Relais read them (not the mail's other text), and
    an address gets few such requests a day — past them the mail is set aside."""
    if not may_answer(session, config, row.from_address, utcnow()):
        row.status = CommandStatus.DONE
        log.warning("command mail %s set aside: %s had enough answers today", row.id, row.from_address)
        return
    row.status = CommandStatus.AWAITING
    session.flush()
    queue_notice(session, config, to=row.from_address, name="command-confirm", purpose="command-confirm",
                 reply_to=confirm_address(config, secret, row.id), language=language_of_commands(row.commands.splitlines()),
                 commands=[_as_read(Command.read(line)) for line in row.commands.splitlines()], why=why,
                 hours=config.moderation.confirm_hours,
                 link=f"{config.forum.base_url}/moderation/confirm/{confirmation_token(secret, row.id)}",
                 **confirmation_target(session, config, row))


def _as_read(command: Command) -> str:
    """A command line as Relais understood it: its word, and its argument bounded."""
    if not command.word:
        return "# ?"
    argument = " ".join(command.argument.split())[:MAX_SHOWN_ARGUMENT]
    return f"#{command.word} {argument}".rstrip()


def confirmation_target(session: Session, config: Config, row: CommandMail) -> dict[str, Any]:
    """What a confirmation request names (so that the moderator knows what they confirm):
    the held message and the topic the commands act on, each with its subject."""
    topic = session.get(Topic, row.topic_id) if row.topic_id is not None else None
    held = session.get(HeldMessage, row.held_id) if row.held_id is not None else None
    return {"topic_id": topic.id if topic else None, "topic_subject": topic.subject if topic else "",
            "topic_url": f"{config.forum.base_url}/topics/{topic.id}" if topic else "",
            "held_id": held.id if held else None, "held_subject": held.subject if held else "",
            "held_sender": held.from_address if held else ""}


def confirm_command_mail(session: Session, config: Config, secret: str, command_id: int, *, via: str,
                         now: datetime | None = None) -> list[dict[str, Any]] | None:
    """Apply a command mail its moderator confirmed; None if unknown, used or expired."""
    row = claim_confirmation(session, command_id, now or utcnow(), config.moderation.confirm_hours)
    if row is None:
        return None
    row.authenticated_by = via
    return apply_command_mail(session, config, secret, row, via=via)


# --- Mail to <local>-request@ (called by the request job before member commands).

def handle_moderation_mail(session: Session, config: Config, secret: str, recipient: str,
                           envelope_from: str, raw: bytes, now: datetime | None = None) -> bool:
    """Handle a -request mail if it is for moderation (a confirmation reply, or `#` commands
    of the moderators' set); False leaves it to the member commands."""
    address = classify(config, secret, recipient)
    parsed = parse_message(raw, config.domain)
    command_id = confirmed_command(secret, address.token if address else None)
    if command_id is not None:
        if not is_automated(parsed, envelope_from):  # a vacation reply confirms nothing
            if confirm_command_mail(session, config, secret, command_id, via="mail-confirmed", now=now) is None:
                _answer(session, config, parsed.from_address, "", [{"key": "confirmation-invalid", "line": ""}],
                        limited=True)
        return True
    commands, _ = split_commands(body_text(raw))
    if not any(c.word in MODERATION_WORDS for c in commands):
        return False
    if is_automated(parsed, envelope_from) or not parsed.from_address:
        return True
    author = poster(session, parsed.from_address)
    if author is None or not is_moderator(session, author.person_id):
        # From proves nothing: the answer echoes none of the mail's text.
        _answer(session, config, parsed.from_address, "", [{"key": "not-moderator", "line": ""}], limited=True)
        return True
    add_command_mail(session, message_id=parsed.message_id, from_address=parsed.from_address,
                     person_id=author.person_id, raw=raw, commands=[c.line for c in commands])
    return True


# --- Applying the commands of one mail.

@dataclass
class _Target:
    topic_id: int | None
    held_id: int | None
    actor_id: int | None
    via: str
    answered: int | None = None  # the message the mail replies to: `#close solution` marks it


def apply_command_mail(session: Session, config: Config, secret: str, row: CommandMail, *,
                       via: str) -> list[dict[str, Any]]:
    """Run each command line in order, answer the moderator by mail; the results."""
    row.status = CommandStatus.DONE
    lines = row.commands.splitlines()
    if not is_moderator(session, row.person_id):
        results = [{"key": "not-moderator", "line": line} for line in lines]
    else:
        # Found by the commands job from what the mail's proof covers (mailgateway.command_targets).
        target = _Target(row.topic_id, row.held_id, row.person_id, via, row.answered_id)
        results = [_run(session, config, secret, Command.read(line), target) for line in lines]
    language = language_of_commands(lines)
    guess_language(person_by_address(session, row.from_address), language)
    _answer(session, config, row.from_address, row.message_id, results, language=language)
    return results


def _answer(session: Session, config: Config, to: str, in_reply_to: str, results: list[dict[str, Any]], *,
            limited: bool = False, language: str | None = None) -> None:
    """Answer with the results, in the language of the commands when known (else the
    person's); `limited` for an answer to an address that proved nothing (within its daily
    allowance; such answers echo none of the mail's text)."""
    if to and (not limited or may_answer(session, config, to, utcnow())):
        queue_notice(session, config, to=to, name="command-results", purpose="command-answer",
                     in_reply_to=in_reply_to or None, results=results, language=language)


def _topic_facts(session: Session, topic_id: int | None) -> dict[str, Any] | None:
    topic = session.get(Topic, topic_id) if topic_id is not None else None
    return {"topic": topic.id, "subject": topic.subject} if topic is not None else None


def _run(session: Session, config: Config, secret: str, command: Command, target: _Target) -> dict[str, Any]:
    result: dict[str, Any] = {"line": command.line}
    word, argument = command.word, command.argument
    if not word:
        return {**result, "key": "unknown-command"}
    if word in ("approve", "reject"):
        return {**result, **_decide(session, config, secret, word, argument, target)}
    if word == "topic":
        number = argument.lstrip("#")
        target.topic_id = int(number) if number.isdigit() else None
        facts = _topic_facts(session, target.topic_id)
        return {**result, "key": "topic" if facts else "no-topic", **(facts or {"topic": argument})}
    facts = _topic_facts(session, target.topic_id)
    if facts is None:
        return {**result, "key": "no-topic", "topic": target.topic_id or ""}
    who = {"actor_id": target.actor_id, "via": target.via}
    if word == "close":
        resolution = resolution_named(argument)
        if resolution is None:
            return {**result, "key": "bad-resolution", "given": argument}
        close_and_notify(session, config, target.topic_id, resolution, answer_message_id=target.answered, **who)
        return {**result, **facts, "key": "closed", "resolution": resolution.value}
    if word == "reopen":
        reopen_and_notify(session, config, target.topic_id, **who)
        return {**result, **facts, "key": "reopened"}
    if not argument:
        return {**result, "key": "missing-category"}
    try:
        change, created = set_topic_category(session, target.topic_id, argument, **who)
    except CategoryError as error:  # a name with no letter or digit
        return {**result, "key": "failed", "error": str(error)}
    return {**result, **facts, "key": "categorised", "category": change.after, "created": created}


def _decide(session: Session, config: Config, secret: str, word: str, argument: str,
            target: _Target) -> dict[str, Any]:
    held = session.get(HeldMessage, target.held_id) if target.held_id is not None else None
    if held is None:
        return {"key": "no-held"}
    facts = {"held": held.id, "subject": held.subject, "sender": held.from_address}
    if held.status is not HeldStatus.PENDING:
        return {**facts, "key": "held-decided", "status": held.status.value}
    who = {"actor_id": target.actor_id, "via": target.via}
    try:
        with session.begin_nested():  # a failing approval leaves the other commands applied
            if word == "reject":
                reject_held(session, config, held.id, reason=argument, **who)
                return {**facts, "key": "rejected", "reason": " ".join(argument.split())}
            _, outcome = approve_held(session, config, secret, held.id, **who)
    except ModerationError as error:
        return {**facts, "key": "failed", "error": str(error)}
    return {**facts, "key": "approved", "topic": outcome.stored.topic_id if outcome.stored else ""}
