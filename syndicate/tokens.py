"""Random tokens, their stored hashes, and signed form tokens (CSRF).

A confirmation link carries a random token; the store keeps only its SHA-256
(:func:`token_hash`), so a copy of the database cannot confirm anything.

A form token is ``<issued unix time>.<HMAC-SHA256>`` over the form's purpose, the
value it is bound to (a subscription token, or the random value of the visitor's
form cookie) and the issue time, keyed by a server secret. It is valid for
``max_age`` and only for the same purpose and binding.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

TOKEN_BYTES = 32
FORM_TOKEN_AGE = timedelta(hours=24)
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


def mint_token() -> str:
    """A new random URL-safe token (256 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """The hex SHA-256 of ``token``: what the store keeps instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def well_formed(token: str) -> bool:
    """True when ``token`` looks like a token this program mints (URL-safe, 16-128 chars)."""
    return bool(_TOKEN_RE.match(token))


def _signature(secret: str, purpose: str, binding: str, issued: int) -> str:
    message = f"{purpose}\x00{binding}\x00{issued}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def form_token(secret: str, purpose: str, binding: str, now: datetime) -> str:
    """A token for the form ``purpose`` bound to ``binding``, issued at ``now``."""
    issued = int(now.timestamp())
    return f"{issued}.{_signature(secret, purpose, binding, issued)}"


def form_token_valid(
    secret: str,
    purpose: str,
    binding: str,
    token: str,
    *,
    now: datetime,
    max_age: timedelta = FORM_TOKEN_AGE,
) -> bool:
    """True when ``token`` was made by :func:`form_token` for this form, within ``max_age``."""
    issued_text, _, signature = token.partition(".")
    if not issued_text.isdigit() or len(issued_text) > 12 or not binding:
        return False
    issued = int(issued_text)
    age = now.timestamp() - issued
    if age < -60 or age > max_age.total_seconds():
        return False
    return hmac.compare_digest(signature, _signature(secret, purpose, binding, issued))
