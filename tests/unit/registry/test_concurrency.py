"""Concurrent writers through the service layer: gapless numbering, no 'database is locked'."""

from __future__ import annotations

import threading
from collections.abc import Callable

from charter.artifacts.blobstore import LocalBlobStore
from charter.domain.enums import RiskTier
from charter.domain.registry import ModelCreate, ModelVersionCreate
from charter.registry import models, registration, versions
from charter.store.engine import Database
from tests.conftest import Admin
from tests.unit.registry.conftest import audit_events

THREADS = 8


def test_parallel_versions_of_one_model(
    db: Database,
    blobs: LocalBlobStore,
    admin: Admin,
    version_body: Callable[..., ModelVersionCreate],
) -> None:
    models.create_model(db, admin.actor, ModelCreate(name="hot", risk_tier=RiskTier.HIGH))
    bodies = [version_body(tags={"thread": str(i)}) for i in range(THREADS)]
    start = threading.Barrier(THREADS)
    got: list[int] = []
    errors: list[BaseException] = []

    def register(i: int) -> None:
        start.wait()
        try:
            got.append(
                registration.create_version(db, blobs, admin.actor, "hot", bodies[i]).version
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(got) == list(range(1, THREADS + 1))
    listed = versions.list_versions(db, model="hot").items
    assert sorted(v.version for v in listed) == list(range(1, THREADS + 1))
    assert sorted(v.tags["thread"] for v in listed) == sorted(str(i) for i in range(THREADS))
    events = audit_events(db)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert sum(e.action == "version.create" for e in events) == THREADS
