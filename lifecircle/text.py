"""Text as planners save it: file encodings (UTF-8 with or without BOM, GBK/GB18030, other code
pages), and the cell values every loader parses alike (administrative codes, numbers).

This module sits at the bottom of the stack so that ``geo/`` (population tables) and ``layers/``
(registers, townships, units) share one copy of each helper.

Examples
--------
>>> clean_code(329901100201.0), township_code("329901001000"), township_code(" 329901 ")
('329901100201', '329901001', '329901')
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import numpy as np
import pandas as pd

from lifecircle.errors import InputError

__all__ = [
    "clean_code",
    "detect_encoding",
    "detect_file_encoding",
    "parse_numbers",
    "township_code",
]

_BLOCK = 1 << 20


def _decodes(blocks: list[bytes] | object, encoding: str) -> bool:
    """Whether every block decodes as ``encoding`` (incrementally: the text is not kept)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for block in blocks:  # type: ignore[union-attr]
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _blocks_of(data: bytes) -> list[memoryview]:
    view = memoryview(data)
    return [view[i : i + _BLOCK] for i in range(0, len(view), _BLOCK)] or [view]


def _guess(head: bytes, blocks_again) -> str:
    """The encoding of a text whose first bytes are ``head``; ``blocks_again()`` re-reads it."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if _decodes(blocks_again(), "utf-8"):
        return "utf-8"
    if _decodes(blocks_again(), "gb18030"):
        return "gb18030"
    from charset_normalizer import from_bytes

    guess = from_bytes(head).best()
    if guess is None:
        raise InputError(
            "cannot detect the text encoding (not UTF-8 or GBK): save the file as "
            'UTF-8 or set encoding = "…" for the layer'
        )
    return guess.encoding


def detect_encoding(data: bytes) -> str:
    """Guess a text's encoding: UTF-8 (with or without BOM), then GB18030, then
    charset-normalizer's best guess.

    GB18030 is a superset of GBK and GB2312, so GBK files decode with it.

    >>> detect_encoding("名称".encode("gbk"))
    'gb18030'
    """
    return _guess(data[:_BLOCK], lambda: _blocks_of(data))


def detect_file_encoding(path: str | Path) -> str:
    """:func:`detect_encoding` for a file, read in 1 MiB blocks (memory stays flat).

    Raises
    ------
    InputError
        Naming the file, when the encoding cannot be detected.
    """
    path = Path(path)

    def blocks():
        with path.open("rb") as handle:
            while block := handle.read(_BLOCK):
                yield block

    with path.open("rb") as handle:
        head = handle.read(_BLOCK)
    try:
        return _guess(head, blocks)
    except InputError as exc:
        raise InputError(f"{path.name}: {exc}") from None


def clean_code(value: object) -> str:
    """An administrative code as text: no spaces, ``329901100201.0`` -> ``'329901100201'``,
    blanks, NaN and ``"nan"`` -> ``''``.

    Spreadsheets and shapefiles often store codes as floats; the decimal part is dropped only
    when it is zero.
    """
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = re.sub(r"\s", "", str(value))
    text = re.sub(r"^(\d+)\.0+$", r"\1", text)
    return "" if text.lower() in ("nan", "none", "<na>") else text


def township_code(value: object) -> str:
    """:func:`clean_code`, with the 12-digit village-level form of a township code
    (``329901001000``) cut to its 9 digits.

    >>> township_code(329901001000.0), township_code("329901001001")
    ('329901001', '329901001001')
    """
    text = clean_code(value)
    if len(text) == 12 and text.isdigit() and text.endswith("000"):
        return text[:9]
    return text


def parse_numbers(values: pd.Series | list[object]) -> np.ndarray:
    """Numbers from cells as planners write them: thousands separators (``1,200``, ``1，200``)
    and spaces removed; anything else not a number is NaN.

    >>> parse_numbers(pd.Series(["1,200", " 35 ", "约50", None])).tolist()
    [1200.0, 35.0, nan, nan]
    """
    text = pd.Series(values, dtype=object).astype("string")
    text = text.str.replace(r"[,，\s]", "", regex=True)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
