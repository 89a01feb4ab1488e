"""E-mail addresses, validated once: by config, import, composing and (later) web forms.

Addresses are checked by the ``email-validator`` library (syntax only, no DNS):
no display name or angle brackets, ASCII local part of at most 64 characters
(quoted local parts are allowed), a real domain name (no ``_``, no leading
``-``, at most 255 characters, no special-use names such as ``.local``). The
normal form is lowercase with the domain in its ASCII (IDNA) form, e.g.
``Kim@한국.KR`` -> ``kim@xn--3e0b707e.kr``. An address is only accepted when
the email package writes and reads it back unchanged, so an accepted address can
always be put into a header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import errors as email_errors
from email.headerregistry import Address, AddressHeader
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

_SHOWN = 60
_MAX_LOCAL = 64
_MAX_ADDRESS = 254
# A plain local part (letters, digits, ``_+-``, dots between) needs no check but its
# length; the domain is checked once per process through the full path.
_PLAIN = re.compile(r"([A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*)@([^@\s]+)")


class AddressError(ValueError):
    """An address (or ``Name <address>`` value) was refused; ``str()`` is one line."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"{shown(value)} is not an e-mail address: {reason}")


@dataclass(frozen=True)
class Mailbox:
    """A display name (as written, possibly RFC 2047 encoded) and a normalised address."""

    name: str
    address: str


def shown(value: str) -> str:
    """``value`` for an error message: quoted, escaped to one line, at most 60 characters."""
    if len(value) > _SHOWN:
        return repr(value[:_SHOWN]) + f"... ({len(value)} characters)"
    return repr(value)


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()).rstrip(".")
    return text[:1].lower() + text[1:] if text else type(exc).__name__


def normalize_address(value: str) -> str:
    """Return the normal form of the address ``value``, or raise :class:`AddressError`.

    Surrounding spaces and tabs are dropped; anything else that is not a plain
    address (a display name, ``<...>``, a line break, a NUL) is refused.
    """
    text = value.strip(" \t")
    return _plain_address(text) or _checked_address(value, text)


def _checked_address(value: str, text: str) -> str:
    """The full check of ``text`` (``value`` stripped) by email-validator and the email package."""
    try:
        checked = validate_email(
            text,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_quoted_local=True,
            allow_display_name=False,
            strict=True,
        )
    except EmailNotValidError as exc:
        raise AddressError(value, _reason(exc)) from None
    address = str(checked.ascii_email).lower()
    _check_composable(value, address)
    return address


def _plain_address(text: str) -> str | None:
    """The normal form of a plain address whose domain is valid; None: take the full path.

    Same answer as the full path, without running it per address: an import of
    100,000 rows from a few domains checks each domain once.
    """
    match = _PLAIN.fullmatch(text)
    if match is None or len(match[1]) > _MAX_LOCAL:
        return None
    domain = _checked_domain(match[2])
    if domain is None:
        return None
    address = f"{match[1].lower()}@{domain}"
    return address if len(address) <= _MAX_ADDRESS else None


@lru_cache(maxsize=4096)
def _checked_domain(domain: str) -> str | None:
    """``domain`` in normal form when an address at it is accepted, else None."""
    try:
        return _checked_address(domain, f"postmaster@{domain}").partition("@")[2]
    except AddressError:
        return None


def _check_composable(value: str, address: str) -> None:
    """Refuse an address the email package would not write and read back unchanged."""
    try:
        written = Address(addr_spec=address).addr_spec
        parsed = AddressHeader.value_parser(f"<{written}>")
    except (ValueError, IndexError, email_errors.MessageError) as exc:
        raise AddressError(value, f"cannot be written in a mail header ({_reason(exc)})") from None
    if parsed.all_defects or [m.addr_spec for m in parsed.all_mailboxes] != [address]:
        raise AddressError(value, "cannot be written in a mail header unchanged")


def normalize_domain(host: str) -> str:
    """Return ``host`` as a lowercase ASCII (IDNA) domain name, or raise :class:`AddressError`."""
    return normalize_address(f"postmaster@{host}").partition("@")[2]


def parse_mailbox(value: str) -> Mailbox:
    """Parse a configured ``Name <address>`` (or a bare address) into a :class:`Mailbox`.

    The address is normalised by :func:`normalize_address`. The display name is
    returned as parsed (RFC 2047 decoded, control characters not yet removed):
    the mail module cleans and encodes it. More than one address, a group or
    text the parser cannot place raise :class:`AddressError`.
    """
    try:
        tree = AddressHeader.value_parser(value)
    except (ValueError, IndexError, email_errors.MessageError) as exc:
        raise AddressError(value, _reason(exc)) from None
    if len(tree.all_mailboxes) != 1 or len(tree.mailboxes) != 1 or len(tree.addresses) != 1:
        invalid = [d for d in tree.all_defects if isinstance(d, email_errors.InvalidHeaderDefect)]
        reason = _reason(invalid[0]) if invalid else "no address"
        raise AddressError(value, f"{reason}; give one address, e.g. 'News <news@example.kr>'")
    if tree.addresses[0][0].token_type != "mailbox":
        raise AddressError(value, "a group is not a sender address")
    mailbox = tree.mailboxes[0]
    return Mailbox(mailbox.display_name or "", normalize_address(mailbox.addr_spec))
