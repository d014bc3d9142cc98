"""Manifest signatures as evidence: made at registration with the server's key, checked
whenever a gate or a verifier reads them (against the version's recorded manifest and a
key Charter trusts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from charter.audit import log as audit
from charter.audit.keys import load_public_key, parse_verifier_key, public_key_pem
from charter.domain.enums import NodeKind
from charter.domain.errors import NotFound
from charter.domain.evidence import ComputedKind, EvidenceSource, SignatureReport
from charter.evidence import manifest_signing
from charter.registry import lineage
from charter.registry.common import find_version
from charter.store import ids as store_ids
from charter.store import tables as t
from charter.store.engine import Database

SERVER = "charter"


def trusted_keys(session: Session) -> dict[str, Ed25519PublicKey]:
    """key id -> public key: the server's keys (those registered for the audit log) and
    every principal's registered, unrevoked key."""
    keys: dict[str, Ed25519PublicKey] = {}
    for text in session.execute(select(t.AuditKey.verifier_key)).scalars():
        _, public = parse_verifier_key(text)
        keys[manifest_signing.key_id(public)] = public
    rows = session.execute(
        select(t.PrincipalKey.key_id, t.PrincipalKey.public_key).where(
            t.PrincipalKey.revoked_at.is_(None)
        )
    ).all()
    for key, text in rows:
        keys[key] = load_public_key(text)
    return keys


@dataclass(frozen=True)
class Registered:
    """A version just inserted, as the registration signs it."""

    model: str
    version_id: int
    version: int
    manifest_digest: str
    files: list[dict[str, Any]]


def sign_registrations(
    session: Session, key: Ed25519PrivateKey, new: Sequence[Registered], now: datetime
) -> list[audit.Event]:
    """Sign each new version's manifest with the server's key, as evidence with its
    lineage edge, in the registration's own transaction. Returns the audit events the
    caller appends (together with its own, so the log's head is read and written once)."""
    statements = [
        manifest_signing.sign(
            v.model, v.version, v.manifest_digest, v.files, key, now.isoformat(), SERVER
        )
        for v in new
    ]
    # Core statements with reserved ids: no flush of the unit of work, no RETURNING.
    table = cast(Table, t.Evidence.__table__)
    ids = store_ids.reserve(session, table, len(new))
    session.connection().execute(
        insert(table),
        [
            {
                "id": evidence_id,
                "version_id": v.version_id,
                "kind": ComputedKind.SIGNATURE.value,
                "title": f"manifest signature ({statement['key_id']})",
                "source": EvidenceSource.COMPUTED.value,
                "details": {"statement": statement},
                "submitted_by": SERVER,
                "submitter_roles": [],
                "media_type": "application/json",
                "created_at": now,
            }
            for evidence_id, v, statement in zip(ids, new, statements, strict=True)
        ],
    )
    lineage.add_edges(
        session,
        [
            (
                lineage.node(NodeKind.EVIDENCE, evidence_id),
                lineage.node(NodeKind.MODEL_VERSION, v.version_id),
                lineage.ATTESTS,
            )
            for evidence_id, v in zip(ids, new, strict=True)
        ],
    )
    return [
        (
            "evidence.signature",
            f"model:{v.model}@{v.version}",
            {"key_id": statement["key_id"], "manifest_digest": v.manifest_digest},
        )
        for v, statement in zip(new, statements, strict=True)
    ]


def latest(session: Session, version_id: int) -> dict[str, Any] | None:
    found = session.execute(
        select(t.Evidence.details)
        .where(t.Evidence.version_id == version_id, t.Evidence.kind == ComputedKind.SIGNATURE.value)
        .order_by(t.Evidence.id.desc())
        .limit(1)
    ).scalar()
    return dict(found) if found is not None else None


def problems(session: Session, mv: t.ModelVersion, details: dict[str, Any]) -> list[str]:
    """What is wrong with a signature of `mv`: it must verify with a trusted key and cover
    exactly the version's recorded manifest."""
    statement = details.get("statement")
    if not isinstance(statement, dict):
        return ["the signature evidence holds no statement"]
    found = manifest_signing.verify_statement(statement, trusted_keys(session))
    if statement.get("manifest_digest") != mv.manifest_digest:
        found.append(
            f"the statement signs manifest {statement.get('manifest_digest')}, but the version "
            f"records {mv.manifest_digest}"
        )
    return found


def is_valid(session: Session, mv: t.ModelVersion) -> bool:
    details = latest(session, mv.id)
    return details is not None and not problems(session, mv, details)


def report(db: Database, model: str, version: int) -> SignatureReport:
    with db.reading() as session:
        m, mv = find_version(session, model, version)
        details = latest(session, mv.id)
        if details is None:
            raise NotFound(
                f"{model}@{version} has no signature: it was registered without a server "
                "signing key (run `charter init`, which creates one, and register again)"
            )
        found = problems(session, mv, details)
        statement = dict(details["statement"])
        public = trusted_keys(session).get(str(statement.get("key_id")))
        return SignatureReport(
            model=m.name,
            version=mv.version,
            statement=statement,
            valid=not found,
            problems=found,
            public_key=public_key_pem(public) if public is not None else None,
        )
