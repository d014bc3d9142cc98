"""Dataset and run services: versions, derivation, run status, metrics and time checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from charter.domain.common import DatasetVersionRef
from charter.domain.enums import RunStatus
from charter.domain.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from charter.domain.registry import (
    DatasetCreate,
    DatasetUpdate,
    DatasetVersionCreate,
    RunCreate,
    RunUpdate,
)
from charter.registry import datasets, runs
from charter.store.engine import Database
from tests.conftest import Admin
from tests.unit.registry.conftest import audit_size

DIGEST = "sha256:" + "c" * 64


def test_datasets_and_versions(db: Database, admin: Admin) -> None:
    created = datasets.create_dataset(
        db, admin.actor, DatasetCreate(name="loans", owner="admin", tags={"pii": "yes"})
    )
    assert created.latest_version is None
    with pytest.raises(Conflict):
        datasets.create_dataset(db, admin.actor, DatasetCreate(name="loans"))
    with pytest.raises(InvalidInput):
        datasets.create_dataset(db, admin.actor, DatasetCreate(name="x", owner="ghost"))
    v1 = datasets.create_dataset_version(
        db,
        admin.actor,
        "loans",
        DatasetVersionCreate(
            uri="s3://b/l.csv",
            digest=DIGEST,
            row_count=10,
            data_region="eu-west-1",
            legal_basis="contract",
            contains_pii=True,
        ),
    )
    v2 = datasets.create_dataset_version(
        db,
        admin.actor,
        "loans",
        DatasetVersionCreate(
            uri="s3://b/l2.csv",
            digest=DIGEST,
            derived_from=DatasetVersionRef(dataset="loans", version=1),
        ),
    )
    assert (v1.version, v2.version) == (1, 2)
    assert v2.derived_from == DatasetVersionRef(dataset="loans", version=1)
    assert datasets.get_dataset_version(db, "loans", 1) == v1
    before = audit_size(db)
    with pytest.raises(InvalidInput):
        datasets.create_dataset_version(
            db,
            admin.actor,
            "loans",
            DatasetVersionCreate(
                uri="s3://x",
                digest=DIGEST,
                derived_from=DatasetVersionRef(dataset="loans", version=9),
            ),
        )
    assert audit_size(db) == before
    assert datasets.get_dataset(db, "loans").latest_version == 2
    page = datasets.list_dataset_versions(db, "loans", limit=1)
    rest = datasets.list_dataset_versions(db, "loans", cursor=page.next_cursor)
    assert [v.version for v in page.items + rest.items] == [1, 2]
    with pytest.raises(NotFound):
        datasets.get_dataset_version(db, "loans", 3)
    datasets.create_dataset(db, admin.actor, DatasetCreate(name="other", business_unit="bu"))
    assert [d.name for d in datasets.list_datasets(db, tags=["pii:yes"]).items] == ["loans"]
    assert [d.name for d in datasets.list_datasets(db, owner="admin").items] == ["loans"]
    assert [d.name for d in datasets.list_datasets(db, business_unit="bu").items] == ["other"]
    assert [d.name for d in datasets.list_datasets(db, name_prefix="oth").items] == ["other"]
    updated = datasets.update_dataset(
        db, admin.actor, "other", 1, DatasetUpdate(description="d", tags={"k": "v"})
    )
    assert (updated.revision, updated.tags) == (2, {"k": "v"})
    with pytest.raises(PreconditionFailed):
        datasets.update_dataset(db, admin.actor, "other", 1, DatasetUpdate(description="e"))


def test_runs(db: Database, admin: Admin) -> None:
    datasets.create_dataset(db, admin.actor, DatasetCreate(name="loans"))
    datasets.create_dataset_version(
        db, admin.actor, "loans", DatasetVersionCreate(uri="s3://x", digest=DIGEST)
    )
    run = runs.create_run(
        db,
        admin.actor,
        RunCreate(
            name="train",
            params={"C": 1},
            metrics={"loss": 0.5},
            inputs=[DatasetVersionRef(dataset="loans", version=1)],
            tags={"team": "a"},
        ),
    )
    assert (run.status, run.ended_at, run.revision) == (RunStatus.RUNNING, None, 1)
    assert run.inputs == [DatasetVersionRef(dataset="loans", version=1)]
    updated = runs.update_run(db, admin.actor, run.id, 1, RunUpdate(metrics={"auc": 0.8}))
    assert updated.metrics == {"loss": 0.5, "auc": 0.8}
    finished = runs.update_run(
        db, admin.actor, run.id, 2, RunUpdate(status=RunStatus.FINISHED, metrics={"loss": 0.4})
    )
    assert finished.status == RunStatus.FINISHED
    assert finished.ended_at is not None and finished.ended_at >= finished.started_at
    assert finished.metrics == {"loss": 0.4, "auc": 0.8}
    with pytest.raises(PreconditionFailed):
        runs.update_run(db, admin.actor, run.id, 2, RunUpdate(status=RunStatus.FAILED))
    before = audit_size(db)
    early = finished.started_at - timedelta(hours=1)
    with pytest.raises(InvalidInput, match="before"):
        runs.update_run(db, admin.actor, run.id, 3, RunUpdate(ended_at=early))
    assert runs.get_run(db, run.id).ended_at == finished.ended_at
    assert audit_size(db) == before
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="before"):
        runs.create_run(
            db, admin.actor, RunCreate(started_at=start, ended_at=start - timedelta(seconds=1))
        )
    with pytest.raises(ValidationError, match="timezone"):
        RunCreate(started_at=datetime(2026, 1, 1))
    with pytest.raises(InvalidInput):
        runs.create_run(
            db, admin.actor, RunCreate(inputs=[DatasetVersionRef(dataset="loans", version=2)])
        )
    done = runs.create_run(db, admin.actor, RunCreate(status=RunStatus.FAILED, started_at=start))
    assert done.ended_at is not None and done.ended_at >= start
    assert audit_size(db) == before + 1
    with pytest.raises(NotFound):
        runs.get_run(db, 999_999)
    assert [r.id for r in runs.list_runs(db, status=RunStatus.FAILED).items] == [done.id]
    assert [r.id for r in runs.list_runs(db, tags=["team:a"]).items] == [run.id]
    assert [r.id for r in runs.list_runs(db, name_prefix="tr").items] == [run.id]
    assert len(runs.list_runs(db, owner="admin").items) == 2


def test_run_schemas_batch_their_queries(db: Database, admin: Admin) -> None:
    """Listing runs costs the same number of queries for 1 run as for 20, with many edges."""
    from sqlalchemy import event

    datasets.create_dataset(db, admin.actor, DatasetCreate(name="d"))
    for _ in range(3):
        datasets.create_dataset_version(
            db, admin.actor, "d", DatasetVersionCreate(uri="s3://x", digest=DIGEST)
        )
    refs = [DatasetVersionRef(dataset="d", version=v) for v in (1, 2, 3)]

    def count_queries() -> int:
        statements: list[str] = []

        def record(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            runs.list_runs(db)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        return sum(1 for s in statements if s.lstrip().upper().startswith("SELECT"))

    runs.create_run(db, admin.actor, RunCreate(inputs=refs))
    one = count_queries()
    for _ in range(19):
        runs.create_run(db, admin.actor, RunCreate(inputs=refs))
    assert count_queries() == one
    assert all(r.inputs == refs for r in runs.list_runs(db).items)
