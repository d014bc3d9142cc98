"""Supply-chain evidence for a version: its ML bill of materials and its vulnerability
scan, and the offline advisory database that scans read (imports re-scan every version
in staging or production)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.artifacts.blobstore import BlobStore
from charter.audit import log as audit
from charter.domain.enums import Action, NodeKind, Stage
from charter.domain.errors import InvalidInput, NotFound
from charter.domain.evidence import ComputedKind, EvidenceSource
from charter.domain.identity import Actor
from charter.evidence import mlbom, osv
from charter.gates import promotions
from charter.gates.engine import Gate
from charter.policy.access import authorize
from charter.policy.entities import version_resource
from charter.registry import lineage, models
from charter.registry.common import find_version
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.tables import utcnow

SYSTEM = "charter"


def _record(
    session: Session,
    actor: Actor,
    m: t.Model,
    mv: t.ModelVersion,
    kind: ComputedKind,
    title: str,
    details: dict[str, Any],
    sha256: str | None = None,
    size: int | None = None,
    media_type: str = "application/json",
) -> t.Evidence:
    row = t.Evidence(
        version_id=mv.id,
        kind=kind.value,
        title=title,
        sha256=sha256,
        size=size,
        media_type=media_type,
        source=EvidenceSource.COMPUTED.value,
        details=details,
        submitted_by=SYSTEM,
        submitter_roles=[],
    )
    session.add(row)
    lineage.link_evidence(session, row)
    summary = {k: v for k, v in details.items() if k != "findings"}
    audit.append(
        session,
        actor,
        f"evidence.{kind.value}",
        f"model:{m.name}@{mv.version}",
        {"id": row.id, "sha256": sha256, **summary},
    )
    return row


def _datasets(session: Session, mv: t.ModelVersion) -> list[mlbom.DatasetPart]:
    edges = t.LineageEdge
    node = lineage.node(NodeKind.MODEL_VERSION, mv.id)
    rows = session.execute(
        select(edges.source, edges.relation).where(
            edges.target == node, edges.relation.in_(("trained_on", "evaluated_on"))
        )
    ).all()
    out = []
    for source, relation in rows:
        dv = session.get(t.DatasetVersion, int(source.split(":", 1)[1]))
        if dv is None:
            continue
        name = session.execute(select(t.Dataset.name).where(t.Dataset.id == dv.dataset_id)).scalar()
        out.append(
            mlbom.DatasetPart(
                name=str(name),
                version=dv.version,
                digest=dv.digest,
                role="training" if relation == "trained_on" else "evaluation",
                region=dv.data_region,
                legal_basis=dv.legal_basis,
                contains_pii=dv.contains_pii,
                rows=dv.row_count,
            )
        )
    return sorted(out, key=lambda d: (d.role, d.name, d.version))


def _packages(mv: t.ModelVersion) -> dict[str, str]:
    environment = mv.environment or {}
    packages = environment.get("packages") or {}
    return {str(k): str(v) for k, v in packages.items()}


@dataclass(frozen=True)
class Target:
    model: str
    version: int


def _authorized(db: Database, actor: Actor, model: str, version: int) -> None:
    with db.reading() as session:
        m, mv = find_version(session, model, version)
        target = version_resource(models.resource_of(m), mv.version, mv.author, mv.stage)
    authorize(db, actor, Action.EVIDENCE_WRITE, target, subject=f"model:{model}@{version}")


def produce_bom(
    db: Database, blobs: BlobStore, gate: Gate, actor: Actor, model: str, version: int
) -> t.Evidence:
    """Generate and store the version's CycloneDX ML-BOM (validated), as evidence."""
    _authorized(db, actor, model, version)
    with db.transaction() as session:
        m, mv = find_version(session, model, version, lock=True)
        part = mlbom.ModelPart(
            model=m.name,
            version=mv.version,
            manifest_digest=mv.manifest_digest,
            files=list(mv.manifest),
            flavor=mv.flavor,
            framework=mv.framework,
            description=mv.description,
            risk_tier=m.risk_tier,
            intended_use=m.intended_use,
            metrics={k: float(v) for k, v in (mv.metrics or {}).items()},
            datasets=_datasets(session, mv),
            packages=sorted(_packages(mv).items()),
        )
        text = mlbom.build(part, utcnow())
        info = blobs.put_bytes(text.encode())
        row = _record(
            session,
            actor,
            m,
            mv,
            ComputedKind.ML_BOM,
            "CycloneDX 1.6 ML bill of materials",
            {
                "spec_version": "1.6",
                "packages": len(part.packages),
                "datasets": len(part.datasets),
                "validated": True,
            },
            info.sha256,
            info.size,
            "application/vnd.cyclonedx+json",
        )
        promotions.reevaluate_open(db, session, gate, actor, m, mv)
        return row


def _advisories(session: Session) -> list[dict[str, Any]]:
    return [dict(data) for data in session.execute(select(t.Advisory.data)).scalars()]


def scan(db: Database, gate: Gate, actor: Actor, model: str, version: int) -> t.Evidence:
    """Match the version's environment against the imported advisories, as evidence."""
    _authorized(db, actor, model, version)
    with db.transaction() as session:
        m, mv = find_version(session, model, version, lock=True)
        row = _scan(session, actor, m, mv, _advisories(session))
        promotions.reevaluate_open(db, session, gate, actor, m, mv)
        return row


def _scan(
    session: Session,
    actor: Actor,
    m: t.Model,
    mv: t.ModelVersion,
    advisories: list[dict[str, Any]],
) -> t.Evidence:
    if mv.environment is None:
        raise InvalidInput(
            f"{m.name}@{mv.version} records no environment; register versions with their "
            "installed packages (log_model does) so they can be scanned"
        )
    result = osv.match(advisories, _packages(mv))
    details = {"advisories": len(advisories), **result.to_json()}
    counts = result.counts()
    title = f"vulnerability scan: {counts['CRITICAL']} critical, {counts['HIGH']} high"
    return _record(session, actor, m, mv, ComputedKind.VULNERABILITY_SCAN, title, details)


def import_advisories(
    db: Database, gate: Gate, actor: Actor, name: str, data: bytes
) -> dict[str, Any]:
    """Import OSV advisories (a JSON document or a zip of them), then re-scan every
    version in staging or production; a version that became vulnerable gets its new scan
    as evidence and a `vulnerability.found` audit event."""
    try:
        advisories = list(osv.read_bytes(name, data))
    except (ValueError, KeyError) as exc:
        raise InvalidInput(f"advisories: {exc}") from None
    if not advisories:
        raise InvalidInput("advisories: the upload holds no OSV advisory")
    with db.transaction() as session:
        added = updated = 0
        for advisory in advisories:
            ecosystems = {
                str((a.get("package") or {}).get("ecosystem", ""))
                for a in advisory.get("affected") or []
            }
            row = session.get(t.Advisory, advisory["id"])
            if row is None:
                session.add(
                    t.Advisory(
                        id=advisory["id"],
                        ecosystem=",".join(sorted(ecosystems))[:64],
                        modified=str(advisory.get("modified", ""))[:64],
                        data=advisory,
                        imported_by=actor.name,
                    )
                )
                added += 1
            elif row.data != advisory:
                row.data, row.modified = advisory, str(advisory.get("modified", ""))[:64]
                updated += 1
        session.flush()
        audit.append(
            session,
            actor,
            "advisories.import",
            f"advisories:{name}",
            {"advisories": len(advisories), "added": added, "updated": updated},
        )
        everything = _advisories(session)
        deployed = session.execute(
            select(t.ModelVersion).where(
                t.ModelVersion.stage.in_((Stage.STAGING.value, Stage.PRODUCTION.value)),
                t.ModelVersion.environment.is_not(None),
            )
        ).scalars()
        became: list[str] = []
        for mv in list(deployed):
            m = session.get(t.Model, mv.model_id)
            assert m is not None
            before = osv.match(_previous(session, mv), _packages(mv))
            after = osv.match(everything, _packages(mv))
            new = {(f.advisory, f.package) for f in after.findings} - {
                (f.advisory, f.package) for f in before.findings
            }
            if not new:
                continue
            _scan(session, actor, m, mv, everything)
            audit.append(
                session,
                actor,
                "vulnerability.found",
                f"model:{m.name}@{mv.version}",
                {"stage": mv.stage, "advisories": sorted(a for a, _ in new)},
            )
            became.append(f"{m.name}@{mv.version}")
        return {
            "advisories": len(advisories),
            "added": added,
            "updated": updated,
            "rescanned_vulnerable": became,
        }


def _previous(session: Session, mv: t.ModelVersion) -> list[dict[str, Any]]:
    """The advisories behind the version's latest scan (their ids), as now stored."""
    latest = session.execute(
        select(t.Evidence.details)
        .where(
            t.Evidence.version_id == mv.id,
            t.Evidence.kind == ComputedKind.VULNERABILITY_SCAN.value,
        )
        .order_by(t.Evidence.id.desc())
        .limit(1)
    ).scalar()
    if latest is None:
        return []
    ids = {f["advisory"] for f in latest.get("findings", [])}
    rows = session.execute(select(t.Advisory.data).where(t.Advisory.id.in_(ids))).scalars()
    return [dict(r) for r in rows]


def bom_text(db: Database, blobs: BlobStore, model: str, version: int) -> bytes:
    with db.reading() as session:
        _, mv = find_version(session, model, version)
        sha = session.execute(
            select(t.Evidence.sha256)
            .where(t.Evidence.version_id == mv.id, t.Evidence.kind == ComputedKind.ML_BOM.value)
            .order_by(t.Evidence.id.desc())
            .limit(1)
        ).scalar()
    if sha is None:
        raise NotFound(
            f"{model}@{version} has no ML-BOM yet; make one with "
            f"`charter evidence compute {model} {version} --kind ml_bom`"
        )
    return b"".join(blobs.open_chunks(sha))
