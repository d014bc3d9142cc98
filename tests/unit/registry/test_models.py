"""Model services: create, read, list with every filter, update with optimistic concurrency."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from charter.access.principals import create_principal
from charter.artifacts.blobstore import LocalBlobStore
from charter.domain.enums import RiskTier, Role, Stage
from charter.domain.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from charter.domain.identity import PrincipalCreate
from charter.domain.registry import ModelCreate, ModelUpdate, ModelVersionCreate
from charter.registry import models, registration
from charter.store.engine import Database
from tests.conftest import Admin
from tests.support.stages import put_in_stage
from tests.unit.registry.conftest import audit_size


def test_create_and_get(db: Database, admin: Admin) -> None:
    created = models.create_model(
        db,
        admin.actor,
        ModelCreate(
            name="credit",
            risk_tier=RiskTier.HIGH,
            description="scores loan applications",
            business_owner="admin",
            technical_owner="admin",
            business_unit="retail",
            intended_use="pre-screening",
            approved_regions=["eu-west-1", "de", "de"],
            tags={"team": "risk"},
        ),
    )
    assert created.revision == 1
    assert created.latest_version is None
    assert created.approved_regions == ["de", "eu-west-1"]
    fetched = models.get_model(db, "credit")
    assert fetched == created
    assert fetched.created_by == "admin"
    with pytest.raises(NotFound):
        models.get_model(db, "missing")


def test_duplicate_name_conflicts_and_writes_nothing(db: Database, admin: Admin) -> None:
    models.create_model(db, admin.actor, ModelCreate(name="m", risk_tier=RiskTier.LIMITED))
    before = audit_size(db)
    with pytest.raises(Conflict, match="already exists"):
        models.create_model(db, admin.actor, ModelCreate(name="m", risk_tier=RiskTier.HIGH))
    assert audit_size(db) == before
    assert models.get_model(db, "m").risk_tier == RiskTier.LIMITED


@pytest.mark.parametrize("field", ["business_owner", "technical_owner"])
def test_unknown_owner_is_invalid(db: Database, admin: Admin, field: str) -> None:
    body = ModelCreate.model_validate({"name": "m", "risk_tier": "high", field: "nobody"})
    with pytest.raises(InvalidInput, match="nobody"):
        models.create_model(db, admin.actor, body)
    assert models.list_models(db).items == []


def test_update_with_revision(db: Database, admin: Admin) -> None:
    models.create_model(db, admin.actor, ModelCreate(name="m", risk_tier=RiskTier.HIGH))
    updated = models.update_model(
        db,
        admin.actor,
        "m",
        1,
        ModelUpdate(description="new", risk_tier=RiskTier.MINIMAL, tags={"a": "b"}),
    )
    assert (updated.revision, updated.description, updated.risk_tier) == (2, "new", "minimal")
    assert updated.tags == {"a": "b"}
    assert updated.updated_at >= updated.created_at
    with pytest.raises(PreconditionFailed, match="revision 1"):
        models.update_model(db, admin.actor, "m", 1, ModelUpdate(description="stale"))
    assert models.get_model(db, "m").description == "new"
    with pytest.raises(InvalidInput):
        models.update_model(db, admin.actor, "m", 2, ModelUpdate(business_owner="ghost"))
    assert models.get_model(db, "m").revision == 2


def test_list_filters_and_pages(
    db: Database,
    admin: Admin,
    blobs: LocalBlobStore,
    version_body: Callable[..., ModelVersionCreate],
) -> None:
    create_principal(db, admin.actor, PrincipalCreate(name="olga", roles=[Role.VALIDATOR]))
    specs = [
        ("alpha-1", RiskTier.HIGH, "retail", "olga", None, {"bu": "retail", "x": "1"}),
        ("alpha-2", RiskTier.LIMITED, "retail", None, "olga", {"bu": "retail"}),
        ("beta", RiskTier.HIGH, "corporate", None, None, {"bu": "corporate", "x": "2"}),
        ("a_b", RiskTier.MINIMAL, None, None, None, {}),
        ("axb", RiskTier.MINIMAL, None, None, None, {}),
    ]
    for name, tier, unit, bowner, towner, tags in specs:
        models.create_model(
            db,
            admin.actor,
            ModelCreate(
                name=name,
                risk_tier=tier,
                business_unit=unit,
                business_owner=bowner,
                technical_owner=towner,
                tags=tags,
            ),
        )
    registration.create_version(db, blobs, admin.actor, "beta", version_body())
    put_in_stage(db, "beta", 1, Stage.STAGING)

    def names(**filters: object) -> list[str]:
        return [m.name for m in models.list_models(db, **filters).items]  # type: ignore[arg-type]

    assert names() == ["alpha-1", "alpha-2", "beta", "a_b", "axb"]
    assert names(name="beta") == ["beta"]
    assert names(name_prefix="alpha") == ["alpha-1", "alpha-2"]
    assert names(name_prefix="a_") == ["a_b"]  # LIKE wildcards in a prefix are literal
    assert names(tags=["bu:retail"]) == ["alpha-1", "alpha-2"]
    assert names(tags=["bu:retail", "x"]) == ["alpha-1"]
    assert names(tags=["x", "bu:corporate"]) == ["beta"]
    assert names(tags=["x"]) == ["alpha-1", "beta"]
    assert names(tags=["bu:retail", "bu:corporate"]) == []
    assert names(owner="olga") == ["alpha-1", "alpha-2"]
    assert names(business_unit="corporate") == ["beta"]
    assert names(risk_tier=RiskTier.HIGH) == ["alpha-1", "beta"]
    assert names(stage=Stage.STAGING) == ["beta"]
    assert names(stage=Stage.PRODUCTION) == []
    assert names(risk_tier=RiskTier.HIGH, tags=["bu:retail"]) == ["alpha-1"]

    seen: list[str] = []
    cursor = None
    while True:
        page = models.list_models(db, cursor=cursor, limit=1)
        seen += [m.name for m in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["alpha-1", "alpha-2", "beta", "a_b", "axb"]
    page = models.list_models(db, tags=["bu:retail"], limit=1)
    rest = models.list_models(db, tags=["bu:retail"], limit=1, cursor=page.next_cursor)
    assert [m.name for m in page.items + rest.items] == ["alpha-1", "alpha-2"]
    assert rest.next_cursor is None
    with pytest.raises(InvalidInput):
        models.list_models(db, limit=0)
    with pytest.raises(InvalidInput):
        models.list_models(db, cursor="garbage!")
