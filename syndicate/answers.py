"""What an SMTP refusal means for a send: deferred, bounced, failed, and whether by policy.

Plain decisions on reply codes and texts (RFC 3463 enhanced codes), no I/O.
"""

from __future__ import annotations

import re

from syndicate.model import SendState

NO_MAILBOX_CODES = frozenset({"5.1.1", "5.1.10", "5.2.1"})
"""Enhanced status codes saying the mailbox does not exist (or is disabled): a bounce."""
_ENHANCED_RE = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
_USER_UNKNOWN_RE = re.compile(
    r"\b(no such (user|mailbox|recipient)|user unknown|unknown (user|recipient|mailbox)"
    r"|(user|mailbox|recipient) (does not|doesn't) exist)\b",
    re.IGNORECASE,
)
_USER_UNKNOWN_REPLIES = frozenset({550, 551, 553})


def enhanced_code(text: str) -> str | None:
    """The enhanced status code (RFC 3463) at the start of a reply text, e.g. ``5.1.1``."""
    match = _ENHANCED_RE.match(text)
    return ".".join(match.groups()) if match else None


def classify_answer(code: int, text: str) -> tuple[SendState, bool]:
    """The state an SMTP refusal leaves a send in, and whether it is a policy refusal.

    * 4xx (421, 450, 451, 452, ...) or a code outside 5xx: ``deferred``;
    * enhanced code 5.1.1, 5.1.10 or 5.2.1 (no such mailbox): ``bounced``;
    * enhanced code 5.7.x (policy, spam): ``failed``, and a policy refusal;
    * 550, 551 or 553 without an enhanced code whose text plainly says the user
      is unknown ("no such user", "user unknown", ...): ``bounced``;
    * any other 5xx: ``failed``.
    """
    if not 500 <= code < 600:
        return SendState.DEFERRED, False
    enhanced = enhanced_code(text)
    if enhanced in NO_MAILBOX_CODES:
        return SendState.BOUNCED, False
    if enhanced is not None and enhanced.startswith("5.7."):
        return SendState.FAILED, True
    if enhanced is None and code in _USER_UNKNOWN_REPLIES and _USER_UNKNOWN_RE.search(text):
        return SendState.BOUNCED, False
    return SendState.FAILED, False
