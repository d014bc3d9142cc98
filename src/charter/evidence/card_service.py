"""Generating a version's model card as evidence (Markdown and HTML blobs, with what is
missing for its risk tier), and reading it back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from charter.artifacts.blobstore import BlobStore
from charter.domain.enums import NodeKind
from charter.domain.errors import NotFound
from charter.domain.evidence import ComputedKind, Evidence
from charter.domain.identity import Actor
from charter.evidence import card_fields, cards
from charter.evidence.documents import to_schema
from charter.evidence.supply_chain import _authorized, _record
from charter.gates import promotions
from charter.gates.engine import Gate
from charter.registry import lineage
from charter.registry.common import find_version
from charter.store import tables as t
from charter.store.engine import Database

_COMPUTED = (
    ComputedKind.PERFORMANCE,
    ComputedKind.FAIRNESS,
    ComputedKind.ROBUSTNESS,
    ComputedKind.EXPLAINABILITY,
)


def _latest(session: Any, column: Any, owner: int, kind: str) -> dict[str, Any] | None:
    found = session.execute(
        select(t.Evidence.details)
        .where(column == owner, t.Evidence.kind == kind)
        .order_by(t.Evidence.id.desc())
        .limit(1)
    ).scalar()
    return dict(found) if found is not None else None


def _training(
    session: Any, mv: t.ModelVersion
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    node = lineage.node(NodeKind.MODEL_VERSION, mv.id)
    sources = session.execute(
        select(t.LineageEdge.source).where(
            t.LineageEdge.target == node, t.LineageEdge.relation == "trained_on"
        )
    ).scalars()
    datasets, pii = [], {}
    for source in list(sources):
        dv = session.get(t.DatasetVersion, int(source.split(":", 1)[1]))
        if dv is None:
            continue
        name = session.execute(select(t.Dataset.name).where(t.Dataset.id == dv.dataset_id)).scalar()
        label = f"{name}@{dv.version}"
        datasets.append({"name": label, "region": dv.data_region, "legal_basis": dv.legal_basis})
        scan = _latest(session, t.Evidence.dataset_version_id, dv.id, ComputedKind.PII_SCAN.value)
        if scan is not None:
            pii[label] = list(scan.get("pii_columns", []))
    return datasets, pii


def generate(
    db: Database, blobs: BlobStore, gate: Gate, actor: Actor, model: str, version: int
) -> Evidence:
    _authorized(db, actor, model, version)
    with db.transaction() as session:
        m, mv = find_version(session, model, version, lock=True)
        training, pii = _training(session, mv)
        facts = {
            "model": m.name,
            "version": mv.version,
            "flavor": mv.flavor,
            "framework": mv.framework,
            "risk_tier": m.risk_tier,
            "business_unit": m.business_unit,
            "author": mv.author,
            "business_owner": m.business_owner,
            "technical_owner": m.technical_owner,
            "created_at": mv.created_at.isoformat(),
            "manifest_digest": mv.manifest_digest,
            "description": mv.description or m.description,
            "intended_use": m.intended_use,
            "metrics": dict(mv.metrics or {}),
            "training": training,
            "pii": pii,
        }
        evidence = {
            kind.value: found
            for kind in _COMPUTED
            if (found := _latest(session, t.Evidence.version_id, mv.id, kind.value)) is not None
        }
        written = {k: text for k, (text, _) in card_fields.read(session, mv.id).items()}
        card = cards.build(facts, evidence, written)
        md = blobs.put_bytes(cards.markdown(card).encode())
        page = blobs.put_bytes(cards.html(card).encode())
        details = {**card.to_json(), "markdown_sha256": md.sha256, "html_sha256": page.sha256}
        missing = details["missing"]
        title = (
            "model card: complete" if not missing else f"model card: missing {', '.join(missing)}"
        )
        row = _record(
            session, actor, m, mv, ComputedKind.MODEL_CARD, title, details, md.sha256, md.size,
            "text/markdown",
        )  # fmt: skip
        promotions.reevaluate_open(db, session, gate, actor, m, mv)
        return to_schema(row, m.name, mv.version)


def read(db: Database, blobs: BlobStore, model: str, version: int, html: bool) -> bytes:
    with db.reading() as session:
        _, mv = find_version(session, model, version)
        details = _latest(session, t.Evidence.version_id, mv.id, ComputedKind.MODEL_CARD.value)
    if details is None:
        raise NotFound(
            f"{model}@{version} has no generated model card; make one with "
            f"`charter evidence card {model} {version}`"
        )
    sha = details["html_sha256" if html else "markdown_sha256"]
    return b"".join(blobs.open_chunks(sha))
