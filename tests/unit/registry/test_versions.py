"""Model version services: blob checks, numbering, stages, aliases and version search."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from charter.artifacts.blobstore import LocalBlobStore
from charter.domain.artifacts import ManifestEntry
from charter.domain.common import DatasetVersionRef, ModelVersionRef
from charter.domain.enums import RiskTier, Stage
from charter.domain.errors import InvalidInput, NotFound, PreconditionFailed
from charter.domain.registry import (
    DatasetCreate,
    DatasetVersionCreate,
    ModelCreate,
    ModelUpdate,
    ModelVersionCreate,
    ModelVersionSummary,
    ModelVersionUpdate,
)
from charter.registry import datasets, models, registration, versions
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.migrate import downgrade, upgrade
from tests.conftest import Admin
from tests.support.stages import put_in_stage
from tests.unit.registry.conftest import FileMaker, audit_events, audit_size

Body = Callable[..., ModelVersionCreate]
DIGEST = "sha256:" + "a" * 64


@pytest.fixture
def credit(db: Database, admin: Admin) -> str:
    models.create_model(db, admin.actor, ModelCreate(name="credit", risk_tier=RiskTier.HIGH))
    return "credit"


def test_create_with_real_blobs(
    db: Database, blobs: LocalBlobStore, admin: Admin, credit: str, files: FileMaker
) -> None:
    entries = files(**{"model.skops": b"m" * 100, "meta/config.json": b"{}"})
    created = registration.create_version(
        db,
        blobs,
        admin.actor,
        credit,
        ModelVersionCreate(files=entries, flavor="skops", params={"C": 1.0}, metrics={"auc": 0.9}),
    )
    assert (created.model, created.version, created.stage) == ("credit", 1, Stage.NONE)
    assert [f.path for f in created.files] == ["meta/config.json", "model.skops"]
    assert len(created.manifest_digest) == 64
    assert versions.get_version(db, credit, 1) == created
    assert models.get_model(db, credit).latest_version == 1
    with pytest.raises(NotFound):
        versions.get_version(db, credit, 2)
    with pytest.raises(NotFound):
        versions.get_version(db, "nope", 1)


def test_missing_blob_or_wrong_size_writes_nothing(
    db: Database, blobs: LocalBlobStore, admin: Admin, credit: str, files: FileMaker
) -> None:
    real = files()[0]
    before = audit_size(db)
    missing = ManifestEntry(path="model.bin", size=3, sha256="b" * 64)
    with pytest.raises(InvalidInput, match="no uploaded blob"):
        registration.create_version(
            db, blobs, admin.actor, credit, ModelVersionCreate(files=[missing], flavor="skops")
        )
    wrong = ManifestEntry(path="model.bin", size=real.size + 1, sha256=real.sha256)
    with pytest.raises(InvalidInput, match="size"):
        registration.create_version(
            db, blobs, admin.actor, credit, ModelVersionCreate(files=[wrong], flavor="skops")
        )
    dup = ModelVersionCreate(files=[real, real], flavor="skops")
    with pytest.raises(InvalidInput, match="duplicate"):
        registration.create_version(db, blobs, admin.actor, credit, dup)
    assert models.get_model(db, credit).latest_version is None
    assert audit_size(db) == before
    assert versions.list_versions(db).items == []


def test_bad_references_write_nothing(
    db: Database, blobs: LocalBlobStore, admin: Admin, credit: str, version_body: Body
) -> None:
    before = audit_size(db)
    bad = [
        version_body(training_datasets=[DatasetVersionRef(dataset="ghost", version=1)]),
        version_body(parent=ModelVersionRef(model=credit, version=7)),
        version_body(run_id=12345),
    ]
    for body in bad:
        with pytest.raises(InvalidInput):
            registration.create_version(db, blobs, admin.actor, credit, body)
    with pytest.raises(NotFound):
        registration.create_version(db, blobs, admin.actor, "ghost-model", version_body())
    assert models.get_model(db, credit).latest_version is None
    assert audit_size(db) == before


def test_numbering_is_per_model(
    db: Database, blobs: LocalBlobStore, admin: Admin, credit: str, version_body: Body
) -> None:
    models.create_model(db, admin.actor, ModelCreate(name="churn", risk_tier=RiskTier.MINIMAL))
    got = [
        (name, registration.create_version(db, blobs, admin.actor, name, version_body()).version)
        for name in ["credit", "churn", "credit", "credit", "churn"]
    ]
    assert got == [("credit", 1), ("churn", 1), ("credit", 2), ("credit", 3), ("churn", 2)]


def test_links_are_recorded(
    db: Database, blobs: LocalBlobStore, admin: Admin, credit: str, version_body: Body
) -> None:
    datasets.create_dataset(db, admin.actor, DatasetCreate(name="loans"))
    datasets.create_dataset_version(
        db, admin.actor, "loans", DatasetVersionCreate(uri="s3://a", digest=DIGEST)
    )
    datasets.create_dataset_version(
        db, admin.actor, "loans", DatasetVersionCreate(uri="s3://b", digest=DIGEST)
    )
    registration.create_version(db, blobs, admin.actor, credit, version_body())
    v2 = registration.create_version(
        db,
        blobs,
        admin.actor,
        credit,
        version_body(
            parent=ModelVersionRef(model=credit, version=1),
            training_datasets=[DatasetVersionRef(dataset="loans", version=1)],
            evaluation_datasets=[DatasetVersionRef(dataset="loans", version=2)],
        ),
    )
    assert v2.parent == ModelVersionRef(model=credit, version=1)
    assert v2.training_datasets == [DatasetVersionRef(dataset="loans", version=1)]
    assert v2.evaluation_datasets == [DatasetVersionRef(dataset="loans", version=2)]


def test_update_stage_history_and_concurrency(
    db: Database, blobs: LocalBlobStore, admin: Admin, credit: str, version_body: Body
) -> None:
    registration.create_version(db, blobs, admin.actor, credit, version_body(tags={"a": "1"}))
    updated = versions.update_version(
        db, admin.actor, credit, 1, 1, ModelVersionUpdate(description="d", tags={"b": "2"})
    )
    assert (updated.revision, updated.description, updated.tags) == (2, "d", {"b": "2"})
    with pytest.raises(PreconditionFailed):
        versions.update_version(db, admin.actor, credit, 1, 1, ModelVersionUpdate(description="x"))
    put_in_stage(db, credit, 1, Stage.STAGING, "ok", admin.actor)
    put_in_stage(db, credit, 1, Stage.PRODUCTION, actor=admin.actor)
    history = versions.stage_history(db, credit, 1)
    assert [(h.from_stage, h.to_stage, h.actor) for h in history] == [
        (Stage.NONE, Stage.STAGING, "admin"),
        (Stage.STAGING, Stage.PRODUCTION, "admin"),
    ]
    assert history[0].comment == "ok"
    assert [e.action for e in audit_events(db)][-4:] == [
        "version.create",
        "version.update",
        "version.stage",
        "version.stage",
    ]


def test_aliases(
    db: Database, blobs: LocalBlobStore, admin: Admin, credit: str, version_body: Body
) -> None:
    for _ in range(2):
        registration.create_version(db, blobs, admin.actor, credit, version_body())
    assert versions.set_alias(db, admin.actor, credit, "champion", 1).aliases == ["champion"]
    assert versions.get_by_alias(db, credit, "champion").version == 1
    moved = versions.set_alias(db, admin.actor, credit, "champion", 2)
    assert moved.version == 2 and moved.aliases == ["champion"]
    assert versions.get_version(db, credit, 1).aliases == []
    assert models.get_model(db, credit).aliases == {"champion": 2}
    for bad in ["7", "latest", "-x", "a b"]:
        with pytest.raises(InvalidInput):
            versions.set_alias(db, admin.actor, credit, bad, 1)
    with pytest.raises(NotFound):
        versions.set_alias(db, admin.actor, credit, "x", 9)
    versions.delete_alias(db, admin.actor, credit, "champion")
    with pytest.raises(NotFound):
        versions.get_by_alias(db, credit, "champion")
    with pytest.raises(NotFound):
        versions.delete_alias(db, admin.actor, credit, "champion")
    changes = [e.payload["change"] for e in audit_events(db) if e.action.startswith("alias.")]
    assert changes == [{"from": None, "to": 1}, {"from": 1, "to": 2}, {"from": 2}]


def test_search_filters_and_pages(
    db: Database, blobs: LocalBlobStore, admin: Admin, scientist_name: str, version_body: Body
) -> None:
    models.create_model(
        db, admin.actor, ModelCreate(name="credit", risk_tier=RiskTier.HIGH, business_unit="retail")
    )
    models.create_model(db, admin.actor, ModelCreate(name="churn", risk_tier=RiskTier.MINIMAL))
    plan = [
        ("credit", {"bu": "retail", "risk": "high"}),
        ("churn", {"bu": "retail", "risk": "low"}),
        ("credit", {"bu": "corporate", "risk": "high"}),
        ("credit", {"bu": "retail", "risk": "high", "team": "a"}),
        ("churn", {"bu": "retail", "risk": "high"}),
    ]
    for name, tags in plan:
        registration.create_version(db, blobs, admin.actor, name, version_body(tags=tags))
    put_in_stage(db, "churn", 2, Stage.STAGING)

    def found(**filters: object) -> list[str]:
        page = versions.list_versions(db, **filters)  # type: ignore[arg-type]
        return [f"{v.model}@{v.version}" for v in page.items]

    everything = ["credit@1", "churn@1", "credit@2", "credit@3", "churn@2"]
    assert found() == everything
    assert found(tags=["bu:retail", "risk:high"]) == ["credit@1", "credit@3", "churn@2"]
    assert found(tags=["risk:high", "bu:retail"]) == ["credit@1", "credit@3", "churn@2"]
    assert found(tags=["team", "bu:retail"]) == ["credit@3"]
    assert found(tags=["team"]) == ["credit@3"]
    assert found(tags=["bu:nowhere"]) == []
    assert found(model="churn") == ["churn@1", "churn@2"]
    assert found(model_prefix="cr") == ["credit@1", "credit@2", "credit@3"]
    assert found(stage=Stage.STAGING) == ["churn@2"]
    assert found(owner="admin") == everything
    assert found(owner=scientist_name) == []
    assert found(business_unit="retail") == ["credit@1", "credit@2", "credit@3"]
    assert found(risk_tier=RiskTier.MINIMAL) == ["churn@1", "churn@2"]
    assert found(risk_tier=RiskTier.HIGH, tags=["bu:retail"]) == ["credit@1", "credit@3"]
    with pytest.raises(NotFound):
        found(model="ghost")

    for filters in ({}, {"tags": ["bu:retail", "risk:high"]}, {"tags": ["team"]}):
        seen: list[str] = []
        cursor = None
        while True:
            page = versions.list_versions(db, cursor=cursor, limit=2, **filters)  # type: ignore[arg-type]
            assert len(page.items) <= 2
            seen += [f"{v.model}@{v.version}" for v in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == found(**filters)


@pytest.fixture
def scientist_name(scientist: object) -> str:
    return "dora"


def test_stored_documents_match_the_tables_after_every_change(
    db: Database, blobs: LocalBlobStore, admin: Admin, credit: str, version_body: Body
) -> None:
    """Rebuilding the read copies from the tables (migration 0003) changes no answer."""
    datasets.create_dataset(db, admin.actor, DatasetCreate(name="loans"))
    for uri in ["s3://a", "s3://b"]:
        datasets.create_dataset_version(
            db, admin.actor, "loans", DatasetVersionCreate(uri=uri, digest=DIGEST)
        )
    registration.create_version(db, blobs, admin.actor, credit, version_body(tags={"a": "1"}))
    registration.create_version(
        db,
        blobs,
        admin.actor,
        credit,
        version_body(
            parent=ModelVersionRef(model=credit, version=1),
            training_datasets=[DatasetVersionRef(dataset="loans", version=2)],
            evaluation_datasets=[DatasetVersionRef(dataset="loans", version=1)],
            params={"C": 0.5},
            metrics={"auc": 0.91},
        ),
    )
    versions.update_version(
        db, admin.actor, credit, 1, 1, ModelVersionUpdate(description="d", tags={"b": "2"})
    )
    put_in_stage(db, credit, 2, Stage.STAGING)
    versions.set_alias(db, admin.actor, credit, "champion", 1)
    versions.set_alias(db, admin.actor, credit, "challenger", 1)
    versions.set_alias(db, admin.actor, credit, "champion", 2)
    versions.delete_alias(db, admin.actor, credit, "challenger")
    before = [versions.get_version(db, credit, v) for v in (1, 2)]
    assert [v.aliases for v in before] == [[], ["champion"]]
    assert before[0].tags == {"b": "2"} and before[1].stage == Stage.STAGING
    page = versions.list_versions(db, model=credit).items
    summary_fields = set(ModelVersionSummary.model_fields)
    assert [s.model_dump() for s in page] == [v.model_dump(include=summary_fields) for v in before]
    model = models.get_model(db, credit)
    assert (model.latest_version, model.aliases) == (2, {"champion": 2})
    assert models.list_models(db, name_prefix="cre").items == [model]
    downgrade(db.engine, "0002")
    upgrade(db.engine)
    after = [versions.get_version(db, credit, v) for v in (1, 2)]
    assert [v.model_dump() for v in after] == [v.model_dump() for v in before]
    assert models.get_model(db, credit).model_dump() == model.model_dump()


def test_registering_versions_leaves_the_model_document_equal_to_the_tables(
    db: Database, blobs: LocalBlobStore, admin: Admin, credit: str, version_body: Body
) -> None:
    """Registration patches the model's document; it must equal a rebuild from the tables."""
    models.update_model(db, admin.actor, credit, 1, ModelUpdate(tags={"team": "risk"}))
    registration.create_version(db, blobs, admin.actor, credit, version_body())
    versions.set_alias(db, admin.actor, credit, "champion", 1)
    registration.create_version(db, blobs, admin.actor, credit, version_body())
    with db.reading() as session:
        row = session.execute(select(t.Model).where(t.Model.name == credit)).scalar_one()
        rebuilt = models.to_schemas(session, [row])[0]
    stored = models.get_model(db, credit)
    assert stored == rebuilt
    assert (stored.latest_version, stored.aliases, stored.tags) == (
        2,
        {"champion": 1},
        {"team": "risk"},
    )
