"""Export a store as JSON Lines and import it into another (``syndicate export`` / ``import``).

The file is one JSON object per line: first a header
(``{"type": "syndicate-export", "version": 1, ...}``), then one line per row,
``{"type": "<table>", <column>: <value>, ...}``, parents before the rows that
refer to them. Articles keep their ingest sequence and public id, subscribers
their consent and unsubscribe dates, editions their frozen article lists, sends
their states; a store rebuilt from an export serves the same ids. Both ways
stream: a row at a time out, a batch at a time in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from syndicate.errors import SyndicateError

if TYPE_CHECKING:
    from syndicate.store import Record, Store

FORMAT = "syndicate-export"
"""The ``type`` of an export's header line."""
VERSION = 1
"""The version of the export format this syndicate writes and reads."""


class TransferError(SyndicateError):
    """An export file that cannot be read; the message names the line."""


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def export_store(store: Store, out: IO[str], *, now: datetime) -> dict[str, int]:
    """Write the header and every row of ``store`` to ``out``; counts per table."""
    header = {
        "type": FORMAT,
        "version": VERSION,
        "schema": store.current_revision(),
        "exported_at": now.isoformat(),
    }
    out.write(_dump(header))
    counts: dict[str, int] = {}
    for kind, values in store.export_records():
        out.write(_dump({"type": kind, **values}))
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _object(raw: bytes, number: int) -> dict[str, Any]:
    """Line ``number`` as a JSON object with a text ``type``; TransferError otherwise."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise TransferError(f"line {number}: not UTF-8 (byte {exc.start + 1})") from None
    except json.JSONDecodeError as exc:
        raise TransferError(f"line {number}: not JSON: {exc.msg} at column {exc.colno}") from None
    except ValueError as exc:
        raise TransferError(f"line {number}: {exc}") from None
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise TransferError(f'line {number}: expected an object with a "type", such as "articles"')
    return value


def _check_header(header: dict[str, Any], number: int) -> None:
    if header.get("type") != FORMAT:
        raise TransferError(f'line {number}: not a syndicate export (no "{FORMAT}" header)')
    if header.get("version") != VERSION:
        version = header.get("version")
        raise TransferError(
            f"line {number}: export format version {version!r}; this syndicate reads {VERSION}"
        )


def read_records(lines: Iterable[bytes]) -> Iterator[Record]:
    """The records of an export, each with its line number; TransferError names a bad line."""
    from syndicate.store import Record

    numbered = enumerate(lines, start=1)
    header = next((item for item in numbered if item[1].strip()), None)
    if header is None:
        raise TransferError("line 1: the file is empty (expected a syndicate export)")
    _check_header(_object(header[1], header[0]), header[0])
    for number, raw in numbered:
        if not raw.strip():
            continue
        values = _object(raw, number)
        kind = values.pop("type")
        yield Record(number, kind, values)


def import_store(store: Store, lines: Iterable[bytes], *, replace: bool = False) -> dict[str, int]:
    """Store every record of an export in one transaction; counts per table.

    Refuses a store that holds anything unless ``replace``; on a bad line
    nothing is stored and the error names the line.
    """
    return store.import_records(read_records(lines), replace=replace)
