"""Auditing refused requests: every denial to a known principal, and floods of anonymous ones.

A denied principal is someone the organisation knows, so each denial is its own event.
Unauthenticated attempts are different: anyone can send millions, so they are counted per
time window and kept as one event per window with a few samples, which bounds what a
flood can add to the log while still showing that it happened.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from charter.audit import log
from charter.domain.identity import SYSTEM_ACTOR, Actor
from charter.store.engine import Database

SAMPLES_PER_WINDOW = 5


def record_denial(
    db: Database,
    actor: Actor,
    action: str,
    subject: str,
    reason: str,
    decision: dict[str, Any] | None = None,
) -> None:
    """Append an 'access.denied' event in its own transaction (the request changes nothing)."""
    with db.transaction() as session:
        log.append(
            session,
            actor,
            "access.denied",
            subject,
            {"action": action, "reason": reason, **(decision or {})},
        )


@dataclass
class _Window:
    started: float
    started_at: datetime
    count: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)


class UnauthenticatedSampler:
    """Counts anonymous attempts; `due()` hands back a finished window to write as one event.

    Thread-safe: requests are authenticated on worker threads.
    """

    def __init__(self, window_seconds: float) -> None:
        self.window_seconds = window_seconds
        self._lock = threading.Lock()
        self._window: _Window | None = None

    def record(self, client: str | None, method: str, path: str, reason: str) -> None:
        with self._lock:
            if self._window is None:
                self._window = _Window(time.monotonic(), datetime.now(UTC))
            self._window.count += 1
            if len(self._window.samples) < SAMPLES_PER_WINDOW:
                self._window.samples.append(
                    {"client": client, "method": method, "path": path[:256], "reason": reason}
                )

    def take(self, force: bool = False) -> dict[str, Any] | None:
        """The window's summary once it has run its length (or now, if forced)."""
        with self._lock:
            window = self._window
            if window is None:
                return None
            if not force and time.monotonic() - window.started < self.window_seconds:
                return None
            self._window = None
        return {
            "from": log.timestamp(window.started_at),
            "to": log.timestamp(datetime.now(UTC)),
            "attempts": window.count,
            "samples": window.samples,
        }

    def flush(self, db: Database, force: bool = False) -> bool:
        summary = self.take(force)
        if summary is None:
            return False
        with db.transaction() as session:
            log.append(session, SYSTEM_ACTOR, "access.unauthenticated", "api", summary)
        return True
