"""File names as the file system has them: shown safely, and kept within its length limit.

* :func:`display_path` turns any path into one printable line: bytes that are not
  UTF-8 become ``\\xNN`` and control characters (a newline, an escape sequence, a
  right-to-left override) are escaped, so a name can neither break a log line nor
  raise ``UnicodeEncodeError`` when printed; :func:`display_message` does the same to
  each line of a message that has several (a missing weight file's sources).
* :func:`name_limit` and :func:`fit_name` keep a file name within the folder's limit
  (``NAME_MAX``, 255 bytes on most Linux and macOS file systems), counted in bytes of
  the file-system encoding, with room left for what is added to it later (a stage
  suffix, a temporary file's prefix and suffix).
"""

from __future__ import annotations

import hashlib
import os
import unicodedata

__all__ = ["DEFAULT_NAME_MAX", "display_message", "display_path", "fit_name", "name_limit"]

#: Name length limit in bytes when the folder cannot be asked (POSIX NAME_MAX on Linux).
DEFAULT_NAME_MAX = 255

# Characters that are escaped in displayed names: Unicode "other" (control, format,
# surrogate, private use, unassigned) and line/paragraph separators.
_ESCAPED_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def display_path(path: str | bytes | os.PathLike) -> str:
    """A path as one printable line, for messages and logs (not for opening the file).

    Parameters
    ----------
    path : str, bytes or os.PathLike
        Any path; ``str`` paths may hold surrogate escapes (how Python represents name
        bytes that are not valid in the file-system encoding).

    Returns
    -------
    str
        The path with every byte that is not UTF-8 written ``\\xNN`` and every control,
        format or separator character written ``\\n``, ``\\t``, ``\\r``, ``\\xNN`` or
        ``\\uNNNN``. Printable names (accents, CJK, emoji) are unchanged. The result
        encodes to UTF-8 without error.
    """
    raw = os.fsencode(path)
    text = raw.decode("utf-8", errors="backslashreplace")
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif char != " " and unicodedata.category(char) in _ESCAPED_CATEGORIES:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                       else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


def display_message(text: str, indent: str = "    ") -> str:
    """A message of one or more lines, each made printable as :func:`display_path` does.

    Parameters
    ----------
    text : str
        The message; its own line breaks are kept.
    indent : str, optional
        Put before every line after the first, so that they read as one message.

    Returns
    -------
    str
        The lines joined by ``"\\n" + indent``.
    """
    return ("\n" + indent).join(display_path(line) for line in text.split("\n"))


def name_limit(folder: str | os.PathLike) -> int:
    """The longest file name, in bytes, that ``folder``'s file system accepts.

    Parameters
    ----------
    folder : str or os.PathLike
        An existing folder, or one to be created (its nearest existing parent is asked).

    Returns
    -------
    int
        ``os.pathconf(folder, "PC_NAME_MAX")``, or :data:`DEFAULT_NAME_MAX` (255) where
        the system cannot say.
    """
    folder = os.path.abspath(os.fspath(folder))
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return DEFAULT_NAME_MAX
    return limit if isinstance(limit, int) and limit > 0 else DEFAULT_NAME_MAX


def fit_name(stem: str, suffix: str, *, limit: int = DEFAULT_NAME_MAX, reserve: int = 0,
             tag: str | None = None) -> str:
    """``stem + suffix``, with ``stem`` shortened when the name would be too long.

    A shortened stem keeps its beginning (whole characters only) and ends in ``~`` and
    8 hex digits of the SHA-1 of the full stem, so two long names that share their
    beginning still get different names, and the same stem always the same name.

    Parameters
    ----------
    stem, suffix : str
        The name's parts; only ``stem`` is ever shortened.
    limit : int
        The file system's limit in bytes (see :func:`name_limit`).
    reserve : int
        Bytes to keep free for what is added to the name later (a ``_stylized``
        stage suffix, say).
    tag : str, optional
        What marks a shortened stem (default ``~`` and 8 hex digits of the stem's SHA-1);
        the catalogue job passes a hash of the photo's whole path.

    Returns
    -------
    str
        A name of at most ``limit - reserve`` bytes in the file-system encoding.

    Raises
    ------
    ValueError
        When ``suffix`` and ``reserve`` alone leave no room for a shortened stem.
    """
    budget = limit - reserve
    if len(os.fsencode(stem + suffix)) <= budget:
        return stem + suffix
    if tag is None:
        tag = "~" + hashlib.sha1(os.fsencode(stem)).hexdigest()[:8]
    room = budget - len(os.fsencode(tag + suffix))
    if room < 1:
        raise ValueError(f"no room for a file name ending in {suffix!r} within {budget} bytes")
    kept = stem
    while kept and len(os.fsencode(kept)) > room:
        kept = kept[:-1]
    return kept + tag + suffix
