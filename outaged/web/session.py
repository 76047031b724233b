"""Browser sessions: a token typed once becomes an HttpOnly, SameSite cookie.

In memory (a restart asks agents to log in again); the token itself is checked
again on every request, so revoking it ends its sessions. Clock passed in.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

COOKIE = "outaged_session"
TTL_S = 12 * 3600.0  # a call-centre shift
MAX_SESSIONS = 10_000


@dataclass(frozen=True, slots=True)
class Session:
    token_sha256: str
    name: str
    role: str
    expires: float


class Sessions:
    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}

    def create(self, token_sha256: str, name: str, role: str, now: float) -> str:
        if len(self._by_id) >= MAX_SESSIONS:
            self._by_id = {k: s for k, s in self._by_id.items() if s.expires > now}
            if len(self._by_id) >= MAX_SESSIONS:  # still full: the oldest goes
                self._by_id.pop(min(self._by_id, key=lambda k: self._by_id[k].expires))
        sid = secrets.token_urlsafe(32)
        self._by_id[sid] = Session(token_sha256, name, role, now + TTL_S)
        return sid

    def get(self, sid: str | None, now: float) -> Session | None:
        session = self._by_id.get(sid) if sid else None
        if session is None:
            return None
        if session.expires <= now:
            self._by_id.pop(sid or "", None)
            return None
        return session

    def drop(self, sid: str | None) -> None:
        self._by_id.pop(sid or "", None)
