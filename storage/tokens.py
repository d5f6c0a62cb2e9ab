"""Signed tokens for links and addresses in mail (unsubscribe, sign-in, confirmations).

A token carries a small payload, is bound to a purpose (a sign-in token is no unsubscribe
token) and signed with the instance's secret key; it can expire. What must be single-use
is recorded in the database by the caller.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


def _serializer(secret: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"relais:{purpose}")


def make_token(secret: str, purpose: str, payload: Any) -> str:
    return _serializer(secret, purpose).dumps(payload)


def read_token(secret: str, purpose: str, token: str, max_age: int | None = None) -> Any | None:
    """The payload, or None if the token is forged, for another purpose, or expired."""
    try:
        return _serializer(secret, purpose).loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return None
