"""The one error type every front end reports: `Error: ...` in the CLI, a JSON error body over HTTP."""

from __future__ import annotations


class QAError(Exception):
    """A problem the user can fix; `message` is shown as is, never with a traceback.

    `status` is the HTTP status the API answers with (the CLI exits with 2 for user
    mistakes below 500 and 1 otherwise).
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    @property
    def exit_code(self) -> int:
        return 2 if self.status < 500 else 1


def one_of(value: str, choices, what: str, status: int = 400) -> str:
    """`value` when it is one of `choices`, else the QAError that names them (`mode must be one of ...`)."""
    if value not in choices:
        raise QAError(f"{what} must be one of {', '.join(choices)}, not {value!r}", status=status)
    return value


class Unreachable(QAError):
    """The store's engine did not answer (a Qdrant server down, or nothing listening at its URL): 503."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=503)
