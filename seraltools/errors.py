"""The one exception tree of seral.

The command-line entry point turns these into a one-line message on stderr and an
exit status: :class:`BadInput` (the user's mistake: a file, row, column or option at
fault) exits 2, every other :class:`SeralError` (a failure while running) exits 1.
Library users catch them like any exception.
"""


class SeralError(Exception):
    """A failure while running (exit status 1)."""

    exit_code = 1


class BadInput(SeralError):
    """Bad usage or bad input (exit status 2). The message names what is at fault
    (file, row, column or option) and what to do about it."""

    exit_code = 2


def first_line(e: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none:
    what a one-line error quotes from a library's exception."""
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def printable(text) -> str:
    """``text`` safe to print on one line of a terminal: control characters (newlines, ESC
    sequences, ...) and bytes of file names that are not UTF-8 written as escapes
    (``caf\\xe9.wav``, ``a\\nb``), everything else as it is."""
    s = str(text)
    if any(0xDC80 <= ord(c) <= 0xDCFF for c in s):  # os.fsdecode's stand-ins for non-UTF-8 bytes
        s = s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in s)


def is_utf8(text) -> bool:
    """Whether ``text`` (a file name) is UTF-8 text: no stand-ins for undecodable bytes."""
    try:
        str(text).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


#: Optional packages -> the install command that brings them (pyproject.toml's extras).
EXTRAS = {
    "torch": "pip install 'seraltools[torch]'",
    "dvector": "pip install 'seraltools[dvector]' && pip install --no-deps resemblyzer",
    "ecapa": "pip install 'seraltools[ecapa]'",
    "webrtcvad": "pip install 'seraltools[dvector]'",
    "speechbrain": "pip install 'seraltools[ecapa]'",
    "ray": "pip install 'seraltools[ray]'",
    "opensmile": "pip install 'seraltools[opensmile]'",
    "transformers": "pip install 'seraltools[ssl]'",
    "ssl": "pip install 'seraltools[ssl]'",
}


def missing_package(error: ImportError) -> BadInput | None:
    """A one-line :class:`BadInput` for an optional package that is not installed, or None."""
    name = (getattr(error, "name", None) or "").split(".")[0]
    if name in EXTRAS:
        return BadInput(f"this needs {name}, which is not installed: {EXTRAS[name]}")
    return None
