"""Decoding local text files written by Korean tools: UTF-8 first, then CP949."""

from __future__ import annotations


def decode_local_text(data: bytes) -> tuple[str, str]:
    """Return ``(text, encoding)``: UTF-8 (a BOM is dropped), else CP949 (EUC-KR's superset).

    Raises UnicodeDecodeError when the bytes are neither.
    """
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp949"), "cp949"
