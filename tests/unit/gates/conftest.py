"""A small world for gate tests: people in every role, a dataset, a model and a version."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from charter.access.principals import create_principal
from charter.artifacts.blobstore import LocalBlobStore
from charter.audit import ledger
from charter.domain.enums import Role
from charter.domain.evidence import Evidence, EvidenceCreate, EvidenceKind
from charter.domain.identity import Actor, PrincipalCreate
from charter.domain.policy import PolicyPush
from charter.domain.registry import (
    DatasetCreate,
    DatasetVersionCreate,
    ModelCreate,
    ModelVersionCreate,
)
from charter.evidence import documents
from charter.gates.engine import CedarGate
from charter.policy import store
from charter.registry import datasets, models, registration
from charter.store import tables as t
from charter.store.engine import Database
from tests.conftest import Admin
from tests.support.bundles import approvals_only_files
from tests.unit.registry.conftest import FileMaker, files  # noqa: F401  (fixture)

PEOPLE = {
    "dana": ([Role.DATA_SCIENTIST], "retail"),  # the author
    "olga": ([Role.DATA_SCIENTIST], "retail"),  # the business owner
    "vic": ([Role.VALIDATOR], None),
    "val": ([Role.VALIDATOR], None),
    "rita": ([Role.RISK_OFFICER], None),
    "ada": ([Role.ADMIN], None),
    "bert": ([Role.ADMIN], None),
    "aud": ([Role.AUDITOR], None),
}


@dataclass
class World:
    db: Database
    blobs: LocalBlobStore
    gate: CedarGate
    people: dict[str, Actor]
    make_version: Callable[..., int]

    def __getitem__(self, name: str) -> Actor:
        return self.people[name]

    def attach(
        self, who: str, kind: EvidenceKind, model: str = "credit", version: int = 1
    ) -> Evidence:
        info = self.blobs.put_bytes(f"# {kind.value} by {who}\n".encode())
        body = EvidenceCreate(kind=kind, sha256=info.sha256, title=kind.value)
        return documents.attach(self.db, self.blobs, self.gate, self[who], model, version, body)

    def complete(self, model: str = "credit", version: int = 1) -> None:
        """Everything a high-risk version needs except approvals."""
        self.attach("dana", EvidenceKind.MODEL_CARD, model, version)
        self.attach("dana", EvidenceKind.TRANSPARENCY_NOTICE, model, version)
        self.attach("vic", EvidenceKind.VALIDATION_REPORT, model, version)

    def events(self, prefix: str) -> list[t.AuditEvent]:
        with self.db.reading() as session:
            rows = session.execute(
                select(t.AuditEvent)
                .where(t.AuditEvent.action.startswith(prefix))
                .order_by(t.AuditEvent.seq)
            ).scalars()
            return list(rows)


@pytest.fixture
def world(db: Database, blobs: LocalBlobStore, admin: Admin, files: FileMaker) -> World:  # noqa: F811
    # The server's signing key, registered the way a server does at start, so the
    # versions below are signed at registration.
    key = Ed25519PrivateKey.generate()
    ledger.register_key(db, admin.actor, ledger.Signer(key))
    people: dict[str, Actor] = {}
    for number, (name, (roles, unit)) in enumerate(PEOPLE.items(), start=100):
        create_principal(
            db, admin.actor, PrincipalCreate(name=name, roles=roles, business_unit=unit)
        )
        people[name] = Actor(
            principal_id=number, name=name, roles=frozenset(roles), business_unit=unit
        )
    datasets.create_dataset(db, admin.actor, DatasetCreate(name="applicants"))
    for region in ("eu", "us"):
        datasets.create_dataset_version(
            db,
            admin.actor,
            "applicants",
            DatasetVersionCreate(
                uri=f"s3://data/applicants-{region}.parquet",
                digest="sha256:" + ("a" if region == "eu" else "b") * 64,
                data_region=region,
            ),
        )
    models.create_model(
        db,
        admin.actor,
        ModelCreate(
            name="credit",
            risk_tier="high",
            business_unit="retail",
            business_owner="olga",
            approved_regions=["eu-west-1"],
        ),
    )

    def make_version(model: str = "credit", author: str = "dana", dataset_version: int = 1) -> int:
        body = ModelVersionCreate(
            files=files(),
            flavor="skops",
            metrics={"auc": 0.81},
            training_datasets=[{"dataset": "applicants", "version": dataset_version}],
        )
        return registration.create_version(db, blobs, people[author], model, body, key).version

    make_version()
    # These tests are about approvals; evidence Charter computes has its own tests.
    store.push(db, admin.actor, PolicyPush(files=approvals_only_files(), comment="tests"))
    return World(db, blobs, CedarGate(), people, make_version)
