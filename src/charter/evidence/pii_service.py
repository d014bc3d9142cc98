"""PII scans of dataset versions, as evidence about the dataset version; a scan
re-evaluates the open promotions of every model version trained on it."""

from __future__ import annotations

from sqlalchemy import select

from charter.artifacts.blobstore import BlobStore
from charter.audit import log as audit
from charter.domain.enums import NodeKind
from charter.domain.evidence import ComputedKind, DatasetEvidence, EvidenceSource
from charter.domain.identity import Actor
from charter.evidence import contents, pii_scan
from charter.gates import promotions
from charter.gates.engine import Gate
from charter.registry import lineage
from charter.registry.common import find_dataset_version, lock_models
from charter.store import tables as t
from charter.store.engine import Database


def _schema(row: t.Evidence, dataset: str, version: int) -> DatasetEvidence:
    return DatasetEvidence(
        id=row.id,
        dataset=dataset,
        version=version,
        kind=row.kind,
        title=row.title,
        details=dict(row.details),
        submitted_by=row.submitted_by,
        created_at=row.created_at,
    )


def scan(
    db: Database,
    blobs: BlobStore,
    gate: Gate,
    actor: Actor,
    dataset: str,
    version: int,
    sample_rows: int | None = None,
) -> DatasetEvidence:
    with db.reading() as session:
        dv_id = find_dataset_version(session, dataset, version).id
    features, labels, _ = contents.load(db, blobs, dv_id)
    frame = (
        features
        if labels is None
        else features.join(labels.to_frame() if labels.ndim == 1 else labels)
    )
    report = pii_scan.scan(frame, sample_rows).to_json()
    with db.transaction() as session:
        dv = find_dataset_version(session, dataset, version)
        found = report["pii_columns"]
        row = t.Evidence(
            dataset_version_id=dv.id,
            kind=ComputedKind.PII_SCAN.value,
            title=f"PII scan: {len(found)} column(s) with personal data",
            source=EvidenceSource.COMPUTED.value,
            details=report,
            submitted_by="charter",
            submitter_roles=[],
            media_type="application/json",
        )
        session.add(row)
        lineage.link_evidence(session, row)
        node = lineage.node(NodeKind.DATASET_VERSION, dv.id)
        targets = (
            session.execute(
                select(t.LineageEdge.target).where(
                    t.LineageEdge.source == node, t.LineageEdge.relation == "trained_on"
                )
            )
            .scalars()
            .all()
        )
        found_versions = (session.get(t.ModelVersion, int(n.split(":", 1)[1])) for n in targets)
        trained_versions = [mv for mv in found_versions if mv is not None]
        # The scan may let their promotions execute: their models are locked before the
        # event is appended (lock order: registry/common.lock_models).
        locked = {m.id: m for m in lock_models(session, [v.model_id for v in trained_versions])}
        audit.append(
            session,
            actor,
            "evidence.pii_scan",
            f"dataset:{dataset}@{version}",
            {"id": row.id, "rows_scanned": report["rows_scanned"], "pii_columns": found},
        )
        for mv in trained_versions:
            promotions.reevaluate_open(db, session, gate, actor, locked[mv.model_id], mv)
        return _schema(row, dataset, version)


def list_for(db: Database, dataset: str, version: int) -> list[DatasetEvidence]:
    with db.reading() as session:
        dv = find_dataset_version(session, dataset, version)
        rows = session.execute(
            select(t.Evidence).where(t.Evidence.dataset_version_id == dv.id).order_by(t.Evidence.id)
        ).scalars()
        return [_schema(row, dataset, version) for row in rows]
