"""One exception root; subclasses are named by what failed."""

from __future__ import annotations

from dataclasses import dataclass


class OutagedError(Exception):
    """Root of every error outaged raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, located as precisely as we can."""

    source: str  # file name, "api", "line 12", ...
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


class InputError(OutagedError):
    """Bad input: carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class TopologyError(InputError):
    """topology.yaml (or a CSV it includes) is invalid."""


class SignalError(InputError):
    """A signal, report or action is malformed or names something unknown."""


class ConfigError(InputError):
    """The daemon configuration is invalid."""


class TransitionError(OutagedError):
    """An outage action is not allowed in the outage's current state.

    `action`, `state` and `allowed` (the states it is allowed in) let a client say
    the same in its reader's language.
    """

    def __init__(
        self, message: str, action: str = "", state: str = "", allowed: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.action = action
        self.state = state
        self.allowed = allowed


class NetworkStillDown(TransitionError):
    """A person verified an outage while the network still shows the fault."""

    def __init__(self, message: str, state: str, down: tuple[str, ...]) -> None:
        super().__init__(message, "verify", state, ())
        self.down = down


class AuthError(OutagedError):
    """Missing, unknown or revoked token, or a role that may not do this."""


class StoreError(OutagedError):
    """The persistent store failed or holds something unexpected."""


class StoreUnavailable(StoreError):
    """The store cannot take a write now (locked by another process past the busy
    timeout, disk I/O error, disk full): nothing was stored; the same request may
    succeed later."""


class UnstorableError(StoreError):
    """This item cannot be stored as it is (a string SQLite/UTF-8 refuses, an
    integer out of SQLite's range, a row a constraint refuses): retrying it the
    same way fails the same way (a 422, not the 503 of other StoreErrors).
    `problems` name the field when it is known."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class ListenError(OutagedError):
    """The HTTP API cannot bind its address (in use, not on this host, no permission)."""


class ProbeError(OutagedError):
    """A probe engine cannot start (no permission, bad address family...)."""


class NotFoundError(OutagedError):
    """An outage, element or token that the request names does not exist."""
