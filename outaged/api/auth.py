"""Bearer tokens and roles: who may read, report, and act on outages."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

from outaged.outages.lifecycle import Action


class Role(StrEnum):
    REPORTER = "reporter"  # the call-centre system: posts customer reports only
    DISPATCHER = "dispatcher"  # works outages: every action, reads
    NOC = "noc"  # verifies restoration, posts every signal (manual faults, planned work), reads
    VIEWER = "viewer"  # reads
    AGENT = "agent"  # a call-centre agent: looks callers up, reads the board, posts reports
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"
    REPORT = "report"  # POST customer reports (by /reports or as kind "report" on /signals)
    SIGNAL = "signal"  # POST probe, trap, manual and maintenance signals
    ACT = "act"  # POST actions (further limited per action for noc)
    ADMIN = "admin"  # run the daemon: reload its configuration
    LOOKUP = "lookup"  # find subscribers (names, phones, addresses) and their outages


_WORK = frozenset(
    {Permission.READ, Permission.REPORT, Permission.SIGNAL, Permission.ACT, Permission.LOOKUP}
)
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.REPORTER: frozenset({Permission.REPORT}),
    Role.DISPATCHER: _WORK,
    Role.NOC: _WORK,
    Role.VIEWER: frozenset({Permission.READ}),
    Role.AGENT: frozenset({Permission.READ, Permission.REPORT, Permission.LOOKUP}),
    Role.ADMIN: frozenset(Permission),
}
NOC_ACTIONS = frozenset({Action.VERIFY, Action.VERIFY_FAILED, Action.NOTE, Action.PROGRESS})
# the interface person's estimate: dispatchers and admins (every action) set it too


def allowed(role: Role, permission: Permission, action: Action | None = None) -> bool:
    if permission not in GRANTS[role]:
        return False
    return not (role is Role.NOC and action is not None and action not in NOC_ACTIONS)


def new_token() -> tuple[str, str]:
    """A fresh token and the SHA-256 that is all the store keeps of it."""
    # The prefix keeps it from starting with "-" (a CLI would read `--token -x...` as
    # an option) and makes a leaked token recognisable.
    token = "otk_" + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
