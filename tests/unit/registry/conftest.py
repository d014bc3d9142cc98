"""Helpers for registry service tests: real blobs, principals and audit-log reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from charter.access.principals import create_principal
from charter.access.tokens import authenticate, issue_token
from charter.artifacts.blobstore import LocalBlobStore
from charter.domain.artifacts import ManifestEntry
from charter.domain.enums import RiskTier, Role
from charter.domain.identity import Actor, PrincipalCreate, TokenCreate
from charter.domain.registry import ModelCreate, ModelVersionCreate
from charter.registry import models, registration
from charter.store import tables as t
from charter.store.engine import Database
from tests.conftest import Admin

FileMaker = Callable[..., list[ManifestEntry]]


@pytest.fixture
def files(blobs: LocalBlobStore) -> FileMaker:
    """Store real bytes and describe them as manifest entries."""

    def make(**contents: bytes) -> list[ManifestEntry]:
        entries = []
        for name, data in (contents or {"model.bin": b"weights"}).items():
            info = blobs.put_bytes(data)
            entries.append(ManifestEntry(path=name, size=info.size, sha256=info.sha256))
        return entries

    return make


@pytest.fixture
def version_body(files: FileMaker) -> Callable[..., ModelVersionCreate]:
    def make(**fields: Any) -> ModelVersionCreate:
        fields.setdefault("files", files())
        fields.setdefault("flavor", "skops")
        return ModelVersionCreate(**fields)

    return make


@pytest.fixture
def scientist(db: Database, admin: Admin) -> Actor:
    create_principal(db, admin.actor, PrincipalCreate(name="dora", roles=[Role.DATA_SCIENTIST]))
    token = issue_token(db, admin.actor, TokenCreate(name="t", principal="dora"))
    return authenticate(db, token.secret)


def audit_events(db: Database) -> list[t.AuditEvent]:
    with db.reading() as session:
        return list(session.execute(select(t.AuditEvent).order_by(t.AuditEvent.seq)).scalars())


def audit_size(db: Database) -> int:
    with db.reading() as session:
        head = session.get(t.AuditHead, 1)
        assert head is not None
        return head.size


@pytest.fixture
def registered(
    db: Database,
    blobs: LocalBlobStore,
    admin: Admin,
    version_body: Callable[..., ModelVersionCreate],
) -> None:
    """Model 'credit' (high risk) with versions 1 and 2, for the point-lookup tests."""
    models.create_model(db, admin.actor, ModelCreate(name="credit", risk_tier=RiskTier.HIGH))
    for _ in range(2):
        registration.create_version(db, blobs, admin.actor, "credit", version_body())
