"""Evaluations as evidence: the version's files are re-verified against its manifest,
loaded (skops or ONNX), and evaluated on a registered dataset's verified content; each
result is stored apart from the author's self-reported metrics."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy import select

from charter.artifacts.blobstore import BlobStore
from charter.artifacts.manifest import write_verified
from charter.domain.artifacts import ManifestEntry
from charter.domain.enums import NodeKind
from charter.domain.errors import InvalidInput
from charter.domain.evidence import ComputedKind, EvaluationRequest, Evidence
from charter.domain.identity import Actor
from charter.evidence import contents, model_eval
from charter.evidence.documents import to_schema
from charter.evidence.supply_chain import _authorized, _record
from charter.gates import promotions
from charter.gates.engine import Gate
from charter.registry import lineage
from charter.registry.common import find_dataset_version, find_version
from charter.store import tables as t
from charter.store.engine import Database

KINDS = {
    "performance": ComputedKind.PERFORMANCE,
    "fairness": ComputedKind.FAIRNESS,
    "robustness": ComputedKind.ROBUSTNESS,
    "explainability": ComputedKind.EXPLAINABILITY,
}


def _dataset_id(db: Database, mv_id: int, body: EvaluationRequest) -> int:
    with db.reading() as session:
        if body.dataset is not None:
            return find_dataset_version(session, body.dataset.dataset, body.dataset.version).id
        node = lineage.node(NodeKind.MODEL_VERSION, mv_id)
        source = session.execute(
            select(t.LineageEdge.source).where(
                t.LineageEdge.target == node, t.LineageEdge.relation == "evaluated_on"
            )
        ).scalar()
    if source is None:
        raise InvalidInput(
            "dataset: the version names no evaluation dataset; pass one as NAME@VERSION"
        )
    return int(source.split(":", 1)[1])


def evaluate(
    db: Database,
    blobs: BlobStore,
    gate: Gate,
    actor: Actor,
    model: str,
    version: int,
    body: EvaluationRequest,
) -> list[Evidence]:
    _authorized(db, actor, model, version)
    with db.reading() as session:
        _, mv = find_version(session, model, version)
        mv_id, flavor = mv.id, mv.flavor
        entries = [ManifestEntry(**e) for e in mv.manifest]
    dataset_id = _dataset_id(db, mv_id, body)
    features, labels, label = contents.load(db, blobs, dataset_id)
    if labels is None:
        raise InvalidInput(f"dataset {label} has no target column; evaluation needs labels")
    missing = [c for c in body.sensitive_features if c not in features.columns]
    if missing:
        raise InvalidInput(f"sensitive_features: {missing} are not columns of {label}")
    with tempfile.TemporaryDirectory(prefix="charter-eval-") as tmp:
        root = Path(tmp)
        for entry in entries:  # the files are checked against the manifest on the way
            write_verified(blobs.open_chunks(entry.sha256), root / entry.path, entry)
        try:
            loaded = model_eval.load(root, flavor)
            results = model_eval.evaluate_all(loaded, features, labels, body.sensitive_features)
        except ValueError as exc:
            raise InvalidInput(f"{model}@{version} cannot be evaluated: {exc}") from None
    with db.transaction() as session:
        m, mv = find_version(session, model, version, lock=True)
        rows = [
            _record(
                session,
                actor,
                m,
                mv,
                KINDS[name],
                f"{name} on {label} (computed by Charter)",
                {"dataset": label, "computed_by": "charter", **details},
            )
            for name, details in results.items()
        ]
        promotions.reevaluate_open(db, session, gate, actor, m, mv)
        return [to_schema(row, m.name, mv.version) for row in rows]
