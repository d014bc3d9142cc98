"""Authenticated tokens remembered for a moment, so most requests read no database.

Every API request authenticates its token; reading the token and its principal is a
database round trip, and on PostgreSQL that round trip (with the thread hop it needs)
costs more than a typical read the request then makes. A token seen less than `ttl`
seconds ago is answered from memory instead, with its expiry still checked each time.

What that costs in freshness, and the bound on it:
- A revocation, a deactivation or a change of roles or attributes made through this
  process is seen at once: those services call `tokens.changed`, which empties every
  cache in the process, and an answer read before that is never stored after it.
- One made by another worker or replica is seen within `ttl` seconds (default 1), the
  same bound the policy bundle has (policy/store.py). `ttl` 0 turns the cache off.
- A refused token is never remembered, so a new token works at once.

Hand-written: it is a dictionary with a clock and a generation counter, which no cache
library makes smaller.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from charter.access import tokens
from charter.domain.identity import Actor
from charter.store.engine import Database
from charter.store.tables import utcnow

MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class _Entry:
    actor: Actor
    expires_at: datetime | None
    read_at: float


class TokenCache:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, _Entry] = {}
        self._generation = tokens.generation()
        self._lock = threading.Lock()

    def get(self, secret: str) -> Actor | None:
        """The token's actor if it was read less than `ttl` seconds ago and has not
        expired since; None means: ask `authenticate`."""
        if self.ttl <= 0:
            return None
        current = tokens.generation()
        if self._generation != current:
            self._entries = {}
            self._generation = current
            return None
        entry = self._entries.get(tokens.hash_secret(secret))
        if entry is None or time.monotonic() - entry.read_at >= self.ttl:
            return None
        if entry.expires_at is not None and entry.expires_at <= utcnow():
            return None
        return entry.actor

    def authenticate(self, db: Database, secret: str) -> Actor:
        """Authenticate against the database (raising Unauthenticated as it does) and
        remember the answer."""
        generation, read_at = tokens.generation(), time.monotonic()
        actor, expires_at = tokens.lookup(db, secret)
        if self.ttl > 0:
            with self._lock:
                # An answer read before a change committed may be stale: not stored.
                if generation == tokens.generation():
                    if len(self._entries) >= MAX_ENTRIES:
                        self._entries = {}
                    self._entries[tokens.hash_secret(secret)] = _Entry(actor, expires_at, read_at)
        return actor
