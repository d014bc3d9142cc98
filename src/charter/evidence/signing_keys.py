"""Principals' own signing keys, and signatures they submit for the versions they
registered (checked against their registered, unrevoked key and the version's manifest)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from charter.audit import log as audit
from charter.audit.keys import KeyFileError, load_public_key, public_key_pem
from charter.domain.enums import Action
from charter.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from charter.domain.evidence import ComputedKind, Evidence, EvidenceSource, SigningKey
from charter.domain.identity import Actor
from charter.evidence import manifest_signing
from charter.evidence.documents import to_schema
from charter.gates import promotions
from charter.gates.engine import Gate
from charter.policy.access import authorize
from charter.registry import lineage
from charter.registry.common import find_version
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.tables import utcnow


def _schema(row: t.PrincipalKey) -> SigningKey:
    return SigningKey(
        key_id=row.key_id,
        principal=row.principal,
        public_key=row.public_key,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def _may_manage(db: Database, actor: Actor, principal: str) -> None:
    """Principals manage their own keys; someone else's takes principal administration."""
    if actor.name != principal:
        authorize(db, actor, Action.PRINCIPAL_ADMIN, subject=f"principal:{principal}")


def register(db: Database, actor: Actor, principal: str, pem: str) -> SigningKey:
    _may_manage(db, actor, principal)
    try:
        public = load_public_key(pem)
    except KeyFileError as exc:
        raise InvalidInput(f"public_key: {exc}") from None
    key_id = manifest_signing.key_id(public)
    with db.transaction() as session:
        owner = session.execute(select(t.Principal.id).where(t.Principal.name == principal))
        if owner.first() is None:
            raise NotFound(f"no user or service account named '{principal}'")
        if session.execute(
            select(t.PrincipalKey.id).where(t.PrincipalKey.key_id == key_id)
        ).first():
            raise Conflict(f"key {key_id} is already registered")
        row = t.PrincipalKey(principal=principal, key_id=key_id, public_key=public_key_pem(public))
        session.add(row)
        session.flush()
        audit.append(
            session, actor, "signing_key.register", f"principal:{principal}", {"key_id": key_id}
        )
        return _schema(row)


def list_keys(db: Database, principal: str) -> list[SigningKey]:
    with db.reading() as session:
        rows = session.execute(
            select(t.PrincipalKey)
            .where(t.PrincipalKey.principal == principal)
            .order_by(t.PrincipalKey.id)
        ).scalars()
        return [_schema(row) for row in rows]


def revoke(db: Database, actor: Actor, principal: str, key_id: str) -> SigningKey:
    _may_manage(db, actor, principal)
    with db.transaction() as session:
        row = session.execute(
            select(t.PrincipalKey).where(
                t.PrincipalKey.key_id == key_id, t.PrincipalKey.principal == principal
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"'{principal}' has no signing key {key_id}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit.append(
                session, actor, "signing_key.revoke", f"principal:{principal}", {"key_id": key_id}
            )
        return _schema(row)


def submit(
    db: Database,
    gate: Gate,
    actor: Actor,
    model: str,
    version: int,
    statement: dict[str, Any],
) -> Evidence:
    """Record the author's own signature of a version, after checking it."""
    with db.transaction() as session:
        m, mv = find_version(session, model, version, lock=True)
        if mv.author != actor.name:
            raise PermissionDenied(
                f"only {mv.author!r}, who registered {model}@{version}, signs it with their key"
            )
        rows = session.execute(
            select(t.PrincipalKey.key_id, t.PrincipalKey.public_key).where(
                t.PrincipalKey.principal == actor.name, t.PrincipalKey.revoked_at.is_(None)
            )
        ).all()
        keys = {key: load_public_key(pem) for key, pem in rows}
        problems = manifest_signing.verify_statement(statement, keys)
        if (statement.get("model"), statement.get("version")) != (m.name, mv.version):
            problems.append(f"the statement is not about {m.name}@{mv.version}")
        if statement.get("manifest_digest") != mv.manifest_digest:
            problems.append("the statement signs another manifest than the version's")
        if problems:
            raise InvalidInput("statement: " + "; ".join(problems))
        row = t.Evidence(
            version_id=mv.id,
            kind=ComputedKind.SIGNATURE.value,
            title=f"manifest signature by {actor.name} ({statement['key_id']})",
            source=EvidenceSource.SUBMITTED.value,
            details={"statement": statement},
            submitted_by=actor.name,
            submitter_roles=sorted(r.value for r in actor.roles),
            media_type="application/json",
        )
        session.add(row)
        lineage.link_evidence(session, row)
        audit.append(
            session,
            actor,
            "evidence.signature",
            f"model:{m.name}@{mv.version}",
            {"key_id": statement["key_id"], "signer": actor.name},
        )
        promotions.reevaluate_open(db, session, gate, actor, m, mv)
        return to_schema(row, m.name, mv.version)
