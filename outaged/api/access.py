"""Who may do what on a request, and what the routes need from the daemon."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry

from outaged.api.alertmanager import DEFAULT_LABEL
from outaged.api.auth import Permission, Role, allowed
from outaged.api.inputs import HttpError
from outaged.api.middleware import TOKEN
from outaged.api.ops import Operations
from outaged.directory.index import Directory
from outaged.intake import Limits
from outaged.pipeline import Pipeline
from outaged.probes.probers import Probers
from outaged.records.actions import ActionRequest
from outaged.signals import Signal
from outaged.steps import IdemKey, Ingested, Outcome, Queued
from outaged.store.base import Store, Token
from outaged.topology.graph import GraphIndex

log = logging.getLogger("outaged.api")


class Decider(Protocol):
    async def ingest(
        self,
        signals: list[Signal],
        ext_ids: list[str | None],
        actor: str,
        idem: IdemKey | None = None,
        render: Callable[[Ingested], str] | None = None,
    ) -> Outcome | Queued: ...

    async def act(
        self, outage_id: int, request: ActionRequest, actor: str, idem: IdemKey | None = None
    ) -> Outcome | Queued: ...


@dataclass(slots=True)
class Api:
    """What the routes need from the daemon."""

    index: GraphIndex
    store: Store
    pipeline: Pipeline
    clock: Callable[[], float]
    status: Callable[[], str]  # "starting", "ready" or "stopping"
    max_batch: int = 1000
    probers: Probers | None = None
    limits: Limits = field(default_factory=Limits)
    registry: CollectorRegistry | None = None  # None: no /metrics
    ops: Operations | None = None  # None: no /status and /reload
    alert_label: str = DEFAULT_LABEL  # the Alertmanager label naming the element
    alerts_counted: Callable[[str], None] = lambda result: None  # metrics, per alert
    directory: Directory | None = None  # built from the topology; None: lookups find nothing
    front: Decider | None = None  # several instances (outaged.ha): where requests go

    def decider(self) -> Decider:
        """What takes reports, signals and actions: the decision loop, or with
        several instances the leader's loop or the inbox."""
        return self.front if self.front is not None else self.pipeline


def require(request: web.Request, permission: Permission, what: str, **kw: Any) -> Token:
    token = request[TOKEN]
    return check(token, permission, what, request, **kw)


def check(
    token: Token, permission: Permission, what: str, request: web.Request, **kw: Any
) -> Token:
    if not allowed(Role(token.role), permission, **kw):
        log.warning(
            "refused %s %s: token %r (%s) may not %s",
            request.method,
            request.path,
            token.name,
            token.role,
            what,
        )
        raise HttpError(403, f"role {token.role!r} may not {what}")
    return token
