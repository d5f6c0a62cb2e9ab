"""The request job: acts on the mail the gateway kept for <local>-request@ (control_messages
of kind "request"), with a confirmation round-trip before any change.

A command that changes something (mailgateway.commands) is recorded as a MemberRequest and
a confirmation is mailed to the address it acts for; the change is made only when a reply
carrying the signed token (`confirm <token>`, in the subject of the confirmation) comes
back. A From header proves nothing, the round-trip does. Mail written by machines is never
answered.
"""

from __future__ import annotations

from datetime import datetime

from mailgateway.automated import is_automated, is_own_list_mail
from mailgateway.body import extract_body
from mailgateway.commands import COMMANDS, CONFIRM, HELP, CommandContext, CommandLine, Outcome, command_lines
from mailgateway.commands_moderation import handle_moderation_mail
from mailgateway.control_jobs import process_control_messages
from mailgateway.listheaders import CONFIRM as CONFIRM_PURPOSE
from mailgateway.notices import queue_notice
from mailgateway.parse import parse_message
from storage.config import Config, secret_key
from storage.control import add_member_request, claim_member_request
from storage.db import Engine, Session
from storage.models import utcnow
from storage.people import normalise_address
from storage.tokens import make_token, read_token

CONFIRM_DAYS = 7
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
    language = next((line.language for line in lines if line.language), config.forum.default_language)
    reply = dict(in_reply_to=parsed.message_id, language=language)

    confirmations = [line for line in lines if line.command is CONFIRM]
    if confirmations:
        for line in confirmations:
            _confirm(db, config, secret, line, now, parsed.message_id)
        return
    acting = [line for line in lines if line.command is not HELP]
    for line in acting:
        assert line.command is not None
        if line.argument is None:
            queue_notice(db, config, to=address, name="request-result", purpose="request-answer",
                         results=[{"key": "bad-argument", "line": line.line}], address=address, **reply)
            continue
        request = add_member_request(db, address, line.command.name, line.argument)
        token = make_token(secret, CONFIRM_PURPOSE, [request.id, line.language or language])
        queue_notice(db, config, to=address, name="request-confirm", purpose="request-confirm",
                     token=token, command=line.line.strip(), address=address, days=CONFIRM_DAYS, **reply)
    if not acting:
        queue_notice(db, config, to=address, name="request-help", purpose="request-answer",
                     unknown=unknown[:5], **reply)


def _confirm(db: Session, config: Config, secret: str, line: CommandLine, now: datetime,
             in_reply_to: str) -> None:
    payload = read_token(secret, CONFIRM_PURPOSE, line.argument or "", max_age=CONFIRM_DAYS * 86400)
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], int)):
        return  # forged or expired: whom to tell is unknown, so tell nobody
    request_id, language = payload
    request = claim_member_request(db, request_id, now)
    if request is None:
        return  # already confirmed (a second reply): done once is enough
    command = _BY_NAME.get(request.command)
    if command is None or command.run is None:
        return
    outcome: Outcome = command.run(CommandContext(db, config, request.address, now), request.argument)
    queue_notice(db, config, to=request.address, name="request-result", purpose="request-answer",
                 in_reply_to=in_reply_to, language=language if language in ("fr", "en") else None,
                 results=[{"key": outcome.key, "line": request.command, **outcome.values}],
                 address=request.address)
