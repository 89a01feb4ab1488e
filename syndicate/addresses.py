"""E-mail addresses, validated once: by config, import, composing and (later) web forms.

Addresses are checked by the ``email-validator`` library (syntax only, no DNS):
no display name or angle brackets, ASCII local part of at most 64 characters
(quoted local parts are allowed), a real domain name (no ``_``, no leading
``-``, at most 255 characters, no special-use names such as ``.local``). The
normal form is lowercase with the domain in its ASCII (IDNA) form, e.g.
``Kim@한국.KR`` -> ``kim@xn--3e0b707e.kr``. An address is only accepted when
the email package writes and reads it back unchanged, so an accepted address can
always be put into a header.

Plain addresses (ASCII letters and digits joined by ``.``, ``_``, ``+`` or
``-``, at a host name with a letters-only top-level domain) are decided by
:data:`_PLAIN` without loading ``email-validator``, whose import compiles
Unicode-wide patterns (about 20 ms, most of ``syndicate check``'s budget). The
pattern accepts a subset of what the library accepts, with the same normal form
(tests/hostile/test_addresses.py proves it); everything else goes to the library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import errors as email_errors
from email.headerregistry import Address, AddressHeader

_SHOWN = 60
_PLAIN = re.compile(
    r"[A-Za-z0-9]+(?:[._+-][A-Za-z0-9]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
# Top-level domains of the special-use names email-validator refuses (RFC 6761 and
# later): an address under one of these is left to the library to refuse.
_SPECIAL_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})


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


def normalize_address(value: str, *, fast: bool = True) -> str:
    """Return the normal form of the address ``value``, or raise :class:`AddressError`.

    Surrounding spaces and tabs are dropped; anything else that is not a plain
    address (a display name, ``<...>``, a line break, a NUL) is refused.
    ``fast=False`` sends every address to ``email-validator`` (what the public
    subscribe form does: input from anyone is judged by the library alone).
    """
    text = value.strip(" \t")
    address = (plain_address(text) if fast else None) or _validated(value, text)
    _check_composable(value, address)
    return address


def plain_address(text: str) -> str | None:
    """The normal form of ``text`` when it is a plain address; None means "ask the library".

    None does not mean the address is wrong: quoted local parts, international
    domains and rare characters are valid but left to ``email-validator``.
    """
    if len(text) > 254 or not _PLAIN.fullmatch(text):
        return None
    local, _, domain = text.lower().partition("@")
    if len(local) > 64 or "--" in domain or domain.rpartition(".")[2] in _SPECIAL_TLDS:
        return None
    return f"{local}@{domain}"


def _validated(value: str, text: str) -> str:
    """The normal form of ``text`` by ``email-validator`` (syntax only, no DNS)."""
    from email_validator import EmailNotValidError, validate_email

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
    return str(checked.ascii_email).lower()


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
