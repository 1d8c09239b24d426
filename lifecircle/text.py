"""Text files as planners save them: UTF-8 with or without BOM, GBK/GB18030,, other code pages."""

from __future__ import annotations

from lifecircle.errors import InputError

__all__ = ["detect_encoding"]


def detect_encoding(data: bytes) -> str:
    """Guess a text file's encoding: UTF-8 (with or without BOM), then GB18030, then
    charset-normalizer's best guess.

    GB18030 is a superset of GBK and GB2312, so GBK files decode with it.

    >>> detect_encoding("名称".encode("gbk"))
    'gb18030'
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    guess = from_bytes(data).best()
    if guess is None:
        raise InputError("cannot detect the text encoding (not UTF-8 or GBK): save the file as "
                         "UTF-8 or set encoding = \"…\" for the layer")
    return guess.encoding
