"""Audit log basics: one event per state change, none for failures, gapless, no secrets."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from charter.access import principals, tokens
from charter.artifacts.blobstore import LocalBlobStore
from charter.domain.enums import RiskTier, Role, RunStatus, Stage
from charter.domain.errors import CharterError, Conflict
from charter.domain.evidence import EvidenceCreate, EvidenceKind
from charter.domain.gates import PromotionCreate, Verdict
from charter.domain.identity import Actor, PrincipalCreate, PrincipalUpdate, TokenCreate
from charter.domain.registry import (
    DatasetCreate,
    DatasetUpdate,
    DatasetVersionCreate,
    ModelCreate,
    ModelUpdate,
    ModelVersionCreate,
    ModelVersionUpdate,
    RunCreate,
    RunUpdate,
)
from charter.evidence import documents
from charter.gates import promotions
from charter.gates.engine import CedarGate
from charter.registry import datasets, models, registration, runs, versions
from charter.store.engine import Database
from tests.conftest import Admin
from tests.unit.registry.conftest import audit_events

DIGEST = "sha256:" + "d" * 64


def test_every_change_appends_exactly_one_event(
    db: Database,
    blobs: LocalBlobStore,
    admin: Admin,
    scientist: Actor,
    version_body: Callable[..., ModelVersionCreate],
) -> None:
    a, s, gate = admin.actor, scientist, CedarGate()
    calls: list[tuple[str, Actor, Callable[[], object]]] = [
        (
            "model.create",
            s,
            lambda: models.create_model(db, s, ModelCreate(name="m", risk_tier=RiskTier.HIGH)),
        ),
        (
            "model.update",
            s,
            lambda: models.update_model(db, s, "m", 1, ModelUpdate(description="x")),
        ),
        (
            "version.create",
            s,
            lambda: registration.create_version(db, blobs, s, "m", version_body()),
        ),
        (
            "version.update",
            s,
            lambda: versions.update_version(db, s, "m", 1, 1, ModelVersionUpdate(description="y")),
        ),
        (
            "evidence.attach",
            s,
            lambda: documents.attach(
                db,
                blobs,
                gate,
                s,
                "m",
                1,
                EvidenceCreate(kind=EvidenceKind.MODEL_CARD, sha256=blobs.put_bytes(b"c").sha256),
            ),
        ),
        (
            "promotion.open",
            s,
            lambda: promotions.open_request(
                db, gate, s, PromotionCreate(model="m", version=1, to=Stage.STAGING)
            ),
        ),
        (
            "promotion.reject",
            a,
            lambda: promotions.decide(db, gate, a, 1, Verdict.REJECT, "not yet"),
        ),
        ("alias.set", a, lambda: versions.set_alias(db, a, "m", "best", 1)),
        ("alias.delete", a, lambda: versions.delete_alias(db, a, "m", "best")),
        ("dataset.create", s, lambda: datasets.create_dataset(db, s, DatasetCreate(name="d"))),
        (
            "dataset.update",
            s,
            lambda: datasets.update_dataset(db, s, "d", 1, DatasetUpdate(description="z")),
        ),
        (
            "dataset_version.create",
            s,
            lambda: datasets.create_dataset_version(
                db, s, "d", DatasetVersionCreate(uri="u", digest=DIGEST)
            ),
        ),
        ("run.create", s, lambda: runs.create_run(db, s, RunCreate(name="r"))),
        (
            "run.update",
            s,
            lambda: runs.update_run(db, s, 1, 1, RunUpdate(status=RunStatus.FINISHED)),
        ),
        (
            "principal.create",
            a,
            lambda: principals.create_principal(
                db, a, PrincipalCreate(name="p", roles=[Role.AUDITOR])
            ),
        ),
        (
            "principal.update",
            a,
            lambda: principals.update_principal(db, a, "p", 1, PrincipalUpdate(display_name="P")),
        ),
        ("token.issue", a, lambda: tokens.issue_token(db, a, TokenCreate(name="t", principal="p"))),
        ("token.revoke", a, lambda: tokens.revoke_token(db, a, 3)),
    ]
    for action, actor, call in calls:
        before = audit_events(db)
        call()
        after = audit_events(db)
        assert len(after) == len(before) + 1, action
        event = after[-1]
        assert (event.action, event.actor) == (action, actor.name)
        assert event.payload["actor"]["principal"] == actor.name
    seqs = [e.seq for e in audit_events(db)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_failures_append_nothing(
    db: Database,
    blobs: LocalBlobStore,
    admin: Admin,
    version_body: Callable[..., ModelVersionCreate],
) -> None:
    a = admin.actor
    models.create_model(db, a, ModelCreate(name="m", risk_tier=RiskTier.HIGH))
    registration.create_version(db, blobs, a, "m", version_body())
    datasets.create_dataset(db, a, DatasetCreate(name="d"))
    failing: list[Callable[[], object]] = [
        lambda: models.create_model(db, a, ModelCreate(name="m", risk_tier=RiskTier.HIGH)),
        lambda: models.update_model(db, a, "m", 5, ModelUpdate(description="x")),
        lambda: promotions.open_request(
            db, CedarGate(), a, PromotionCreate(model="m", version=1, to=Stage.NONE)
        ),
        lambda: versions.delete_alias(db, a, "m", "nothing"),
        lambda: datasets.create_dataset(db, a, DatasetCreate(name="d")),
        lambda: principals.create_principal(
            db, a, PrincipalCreate(name="admin", roles=[Role.ADMIN])
        ),
        lambda: principals.update_principal(db, a, "admin", 1, PrincipalUpdate(active=False)),
        lambda: tokens.revoke_token(db, a, 999),
        lambda: runs.update_run(db, a, 77, 1, RunUpdate(status=RunStatus.FAILED)),
    ]
    before = audit_events(db)
    for call in failing:
        with pytest.raises(CharterError):
            call()
    assert [e.seq for e in audit_events(db)] == [e.seq for e in before]
    with pytest.raises(Conflict):
        principals.bootstrap_admin(db, "second")
    assert len(audit_events(db)) == len(before)


def test_token_secrets_never_reach_the_log(db: Database, admin: Admin) -> None:
    principals.create_principal(
        db, admin.actor, PrincipalCreate(name="svc", roles=[Role.ML_ENGINEER])
    )
    issued = [
        tokens.issue_token(db, admin.actor, TokenCreate(name="ci", principal="svc")).secret,
        tokens.issue_token(db, admin.actor, TokenCreate(name="mine")).secret,
        admin.token,
    ]
    svc = tokens.authenticate(db, issued[0])
    tokens.revoke_token(db, svc, svc.token_id or 0)
    dump = json.dumps([[e.actor, e.action, e.subject, e.payload] for e in audit_events(db)])
    for secret in issued:
        assert secret not in dump
        assert secret[len("chr_") :] not in dump
        assert tokens.hash_secret(secret) not in dump
