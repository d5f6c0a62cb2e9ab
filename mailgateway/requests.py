"""The request job: acts on the mail the gateway kept for <local>-request@ (control_messages
of kind "request"), with a confirmation round-trip before any change.

A command that changes something (mailgateway.commands) is recorded as a MemberRequest and
a confirmation is mailed to the address it acts for; the change is made only when a reply
carrying the signed token (`confirm <token>`, in the subject of the confirmation) comes
back. A From header proves nothing, the round-trip does. So a request mail gets one answer
at most, however many commands it holds (one confirmation names them all), within the
address's daily allowance (mailgateway.notices.may_answer), and never echoes its text.
Mail written by machines is never answered.
"""

from __future__ import annotations

from datetime import datetime

from mailgateway.automated import is_automated, is_own_list_mail
from mailgateway.body import extract_body
from mailgateway.commands import COMMANDS, CONFIRM, HELP, CommandContext, CommandLine, Outcome, command_lines
from mailgateway.commands_moderation import handle_moderation_mail
from mailgateway.control_jobs import process_control_messages
from mailgateway.listheaders import CONFIRM as CONFIRM_PURPOSE
from mailgateway.notices import may_answer, queue_notice
from mailgateway.parse import parse_message
from storage.config import Config, secret_key
from storage.control import add_member_request, claim_member_request
from storage.db import Engine, Session
from storage.languages import supported_language
from storage.models import utcnow
from storage.people import guess_language, normalise_address, person_by_address
from storage.tokens import make_token, read_token

CONFIRM_DAYS = 7
MAX_COMMANDS = 10  # acted on per request mail; the rest of a long list is ignored
_BY_NAME = {command.name: command for command in COMMANDS}


def process_requests(engine: Engine, config: Config, now: datetime | None = None, limit: int = 100) -> int:
    """Handle the request mail waiting; returns how many were handled."""
    now = now or utcnow()
    secret = secret_key(config)
    def handle(db: Session, _control_id: int, recipient: str, envelope_from: str, raw: bytes) -> None:
        # Moderators' commands and confirmations first; the rest are member commands.
        if not handle_moderation_mail(db, config, secret, recipient, envelope_from, raw, now):
            handle_request(db, config, secret, raw, envelope_from, now)

    return process_control_messages(engine, "request", handle, now, limit)


def handle_request(db: Session, config: Config, secret: str, raw: bytes, envelope_from: str,
                   now: datetime) -> None:
    parsed = parse_message(raw, config.domain)
    if is_automated(parsed, envelope_from) or is_own_list_mail(parsed, config):
        return  # never answer a machine: no loops, no backscatter
    address = normalise_address(parsed.from_address or envelope_from.strip("<>"))
    if not address:
        return
    lines, unknown = command_lines(parsed.subject, extract_body(raw).text)
    # The answer is in the language of the command words; else in the person's (queue_notice).
    language = next((line.language for line in lines if line.language), None)

    confirmation = next((line for line in lines if line.command is CONFIRM), None)
    if confirmation is not None:
        _confirm(db, config, secret, confirmation, now, parsed.message_id)
        return
    # Whoever wrote this has proven nothing, From least of all: one answer at most, within
    # the address's daily allowance, without a word of their text (commands are named in
    # their canonical form) and not threaded under their Message-ID.
    if not may_answer(db, config, address, now):
        return
    acting = [line for line in lines if line.command is not HELP and line.argument is not None]
    bad = sorted({line.command.name for line in lines if line.command is not None and line.argument is None})
    not_understood = len(unknown) + len(bad)
    if acting:
        acting = acting[:MAX_COMMANDS]
        ids = [add_member_request(db, address, line.command.name, line.argument).id  # type: ignore[union-attr]
               for line in acting]
        token = make_token(secret, CONFIRM_PURPOSE, [ids, language])
        queue_notice(db, config, to=address, name="request-confirm", purpose="request-confirm", language=language,
                     token=token, address=address, days=CONFIRM_DAYS, not_understood=not_understood,
                     commands=[{"name": line.command.name, "argument": line.argument}  # type: ignore[union-attr]
                               for line in acting])
    else:
        queue_notice(db, config, to=address, name="request-help", purpose="request-answer", language=language,
                     not_understood=not_understood, bad=bad)


def _confirm(db: Session, config: Config, secret: str, line: CommandLine, now: datetime,
             in_reply_to: str) -> None:
    """Carry out the requests a confirmation token names, and answer the address they were
    confirmed from (it received the token: it owns the address)."""
    payload = read_token(secret, CONFIRM_PURPOSE, line.argument or "", max_age=CONFIRM_DAYS * 86400)
    if not (isinstance(payload, list) and len(payload) == 2):
        return  # forged or expired: whom to tell is unknown, so tell nobody
    named, language = payload
    ids = named if isinstance(named, list) else [named]
    results, address = [], ""
    for request_id in ids[:MAX_COMMANDS]:
        if not isinstance(request_id, int):
            continue
        request = claim_member_request(db, request_id, now)
        command = _BY_NAME.get(request.command) if request is not None else None
        if request is None or command is None or command.run is None:
            continue  # already confirmed (a second reply): done once is enough
        outcome: Outcome = command.run(CommandContext(db, config, request.address, now), request.argument)
        results.append({"key": outcome.key, "line": request.command, **outcome.values})
        address = request.address
    if results:
        language = supported_language(language)
        # The address is proven now: until the person chooses, the language they wrote in is theirs.
        guess_language(person_by_address(db, address), language)
        queue_notice(db, config, to=address, name="request-result", purpose="request-answer",
                     in_reply_to=in_reply_to, language=language, results=results, address=address)
