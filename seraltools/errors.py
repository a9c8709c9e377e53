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
