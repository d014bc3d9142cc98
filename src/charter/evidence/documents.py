"""Documents people attach to a model version as evidence: model cards, transparency
notices, validation reports. Immutable once attached; each attachment is audited."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.artifacts.blobstore import BlobStore
from charter.audit import log as audit
from charter.domain.enums import Action
from charter.domain.errors import InvalidInput
from charter.domain.evidence import Evidence, EvidenceCreate, EvidenceSource
from charter.domain.identity import Actor
from charter.gates import promotions
from charter.gates.engine import Gate
from charter.policy.access import authorize
from charter.policy.entities import version_resource
from charter.registry import lineage, models
from charter.registry.common import find_version
from charter.store import tables as t
from charter.store.engine import Database


def to_schema(row: t.Evidence, model: str, version: int) -> Evidence:
    return Evidence(
        id=row.id,
        model=model,
        version=version,
        kind=row.kind,
        source=EvidenceSource(row.source),
        title=row.title,
        sha256=row.sha256,
        size=row.size,
        media_type=row.media_type,
        submitted_by=row.submitted_by,
        submitter_roles=list(row.submitter_roles),
        details=dict(row.details),
        created_at=row.created_at,
    )


def attach(
    db: Database,
    blobs: BlobStore,
    gate: Gate,
    actor: Actor,
    model: str,
    version: int,
    body: EvidenceCreate,
) -> Evidence:
    """Attach an uploaded document to a version, then re-evaluate the version's open
    promotion requests: new evidence may be what they were waiting for."""
    if not blobs.exists(body.sha256):
        raise InvalidInput(
            f"sha256: no blob {body.sha256} is stored; upload the document first "
            "(PUT /api/v1/blobs/{sha256}, or `charter evidence add` does both)"
        )
    with db.reading() as session:
        m, mv = find_version(session, model, version)
        target = version_resource(models.resource_of(m), mv.version, mv.author, mv.stage)
    authorize(db, actor, Action.EVIDENCE_WRITE, target, subject=f"model:{model}@{version}")
    with db.transaction() as session:
        m, mv = find_version(session, model, version, lock=True)
        row = t.Evidence(
            version_id=mv.id,
            kind=body.kind.value,
            title=body.title,
            sha256=body.sha256,
            size=blobs.size(body.sha256),
            media_type=body.media_type,
            source=EvidenceSource.SUBMITTED.value,
            details={},
            submitted_by=actor.name,
            submitter_roles=sorted(role.value for role in actor.roles),
        )
        session.add(row)
        lineage.link_evidence(session, row)
        audit.append(
            session,
            actor,
            "evidence.attach",
            f"model:{model}@{version}",
            {
                "id": row.id,
                "kind": row.kind,
                "title": row.title,
                "sha256": row.sha256,
                "size": row.size,
                "submitter_roles": row.submitter_roles,
            },
        )
        promotions.reevaluate_open(db, session, gate, actor, m, mv)
        return to_schema(row, m.name, mv.version)


def rows_for(session: Session, version_id: int) -> list[t.Evidence]:
    return list(
        session.execute(
            select(t.Evidence).where(t.Evidence.version_id == version_id).order_by(t.Evidence.id)
        ).scalars()
    )


def list_evidence(db: Database, model: str, version: int) -> list[Evidence]:
    with db.reading() as session:
        m, mv = find_version(session, model, version)
        return [to_schema(row, m.name, mv.version) for row in rows_for(session, mv.id)]
