"""The lineage graph: edges recorded by registrations, walked upstream or downstream."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from charter.domain.common import NAME_PATTERN
from charter.domain.enums import NodeKind
from charter.domain.errors import InvalidInput, NotFound
from charter.domain.lineage import Direction, LineageEdge, LineageGraph, LineageNode
from charter.registry.common import find_dataset_version, find_version
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.tables import utcnow

MAX_DEPTH = 50
MAX_ID = 2**62
MAX_VERSION = 2**31


def node(kind: NodeKind, internal_id: int) -> str:
    return f"{kind.value}:{internal_id}"


def add_edges(session: Session, edges: Iterable[tuple[str, str, str]]) -> None:
    """Record edges into a node created in this transaction, so none can exist yet.

    A plain insert, not a merge: merge would SELECT each edge first; and one Core
    executemany, not ORM objects, which nothing reads back in the transaction.
    Duplicates in the request (the same dataset listed twice) collapse to one edge.
    """
    rows = [
        {"source": source, "target": target, "relation": relation, "created_at": utcnow()}
        for source, target, relation in dict.fromkeys(edges)
    ]
    if rows:
        session.connection().execute(insert(cast(Table, t.LineageEdge.__table__)), rows)


_REF = re.compile(r"^(model|dataset):(" + NAME_PATTERN[1:-1] + r")@([1-9][0-9]{0,9})$")
_RUN_REF = re.compile(r"^run:([1-9][0-9]{0,18})$")


def parse_ref(session: Session, ref: str) -> str:
    """'model:NAME@V', 'dataset:NAME@V' or 'run:ID' to the internal node id.

    A malformed reference is InvalidInput; a well-formed one naming nothing is NotFound.
    Numbers are bounded before they reach the database, whose integer columns would
    otherwise fail on them.
    """
    if run := _RUN_REF.match(ref):
        run_id = int(run.group(1))
        if run_id > MAX_ID or session.get(t.Run, run_id) is None:
            raise NotFound(f"no run {run_id}")
        return node(NodeKind.RUN, run_id)
    found = _REF.match(ref)
    if found is None:
        raise InvalidInput(
            f"lineage node {ref[:200]!r} must look like 'model:NAME@VERSION', "
            "'dataset:NAME@VERSION' or 'run:ID'"
        )
    kind, name, raw_version = found.groups()
    version = int(raw_version)
    if version > MAX_VERSION:
        raise NotFound(f"{kind} '{name}' has no version {version}")
    if kind == NodeKind.MODEL_VERSION.value:
        return node(NodeKind.MODEL_VERSION, find_version(session, name, version)[1].id)
    return node(NodeKind.DATASET_VERSION, find_dataset_version(session, name, version).id)


def _neighbours(
    session: Session, frontier: list[str], direction: str
) -> list[tuple[str, str, str]]:
    e = t.LineageEdge
    column = e.target if direction == "upstream" else e.source
    query = select(e.source, e.target, e.relation).where(column.in_(frontier))
    return [(source, target, relation) for source, target, relation in session.execute(query)]


def _walk(session: Session, root: str, direction: str, depth: int) -> set[tuple[str, str, str]]:
    """Breadth-first, one query per level, so a depth-d walk costs d round trips."""
    seen = {root}
    edges: set[tuple[str, str, str]] = set()
    frontier = [root]
    for _ in range(depth):
        if not frontier:
            break
        nxt: list[str] = []
        for source, target, relation in _neighbours(session, frontier, direction):
            edges.add((source, target, relation))
            other = source if direction == "upstream" else target
            if other not in seen:
                seen.add(other)
                nxt.append(other)
        frontier = nxt
    return edges


def _describe(session: Session, ids: set[str]) -> dict[str, LineageNode]:
    by_kind: dict[str, list[int]] = {}
    for item in ids:
        kind, _, raw = item.partition(":")
        by_kind.setdefault(kind, []).append(int(raw))
    described: dict[str, LineageNode] = {}
    if model_ids := by_kind.get(NodeKind.MODEL_VERSION.value):
        for mv, m in session.execute(
            select(t.ModelVersion, t.Model)
            .join(t.Model, t.Model.id == t.ModelVersion.model_id)
            .where(t.ModelVersion.id.in_(model_ids))
        ):
            ref = f"{m.name}@{mv.version}"
            described[node(NodeKind.MODEL_VERSION, mv.id)] = LineageNode(
                id=f"model:{ref}",
                kind=NodeKind.MODEL_VERSION,
                label=f"model {ref}",
                attributes={
                    "stage": mv.stage,
                    "flavor": mv.flavor,
                    "author": mv.author,
                    "manifest_digest": mv.manifest_digest,
                    "risk_tier": m.risk_tier,
                },
            )
    if dataset_ids := by_kind.get(NodeKind.DATASET_VERSION.value):
        for dv, d in session.execute(
            select(t.DatasetVersion, t.Dataset)
            .join(t.Dataset, t.Dataset.id == t.DatasetVersion.dataset_id)
            .where(t.DatasetVersion.id.in_(dataset_ids))
        ):
            ref = f"{d.name}@{dv.version}"
            described[node(NodeKind.DATASET_VERSION, dv.id)] = LineageNode(
                id=f"dataset:{ref}",
                kind=NodeKind.DATASET_VERSION,
                label=f"dataset {ref}",
                attributes={
                    "digest": dv.digest,
                    "rows": dv.row_count,
                    "region": dv.data_region,
                    "contains_pii": dv.contains_pii,
                },
            )
    if evidence_ids := by_kind.get(NodeKind.EVIDENCE.value):
        rows = session.execute(select(t.Evidence).where(t.Evidence.id.in_(evidence_ids)))
        for row in rows.scalars():
            described[node(NodeKind.EVIDENCE, row.id)] = LineageNode(
                id=f"evidence:{row.id}",
                kind=NodeKind.EVIDENCE,
                label=f"evidence {row.id} ({row.kind})",
                attributes={
                    "kind": row.kind,
                    "source": row.source,
                    "by": row.submitted_by,
                    "sha256": row.sha256,
                },
            )
    if run_ids := by_kind.get(NodeKind.RUN.value):
        for run in session.execute(select(t.Run).where(t.Run.id.in_(run_ids))).scalars():
            label = f"run {run.id}" + (f" ({run.name})" if run.name else "")
            described[node(NodeKind.RUN, run.id)] = LineageNode(
                id=f"run:{run.id}",
                kind=NodeKind.RUN,
                label=label,
                attributes={"status": run.status, "created_by": run.created_by},
            )
    return described


def lineage(db: Database, ref: str, direction: Direction = "both", depth: int = 5) -> LineageGraph:
    if not 1 <= depth <= MAX_DEPTH:
        raise InvalidInput(f"depth must be between 1 and {MAX_DEPTH}, got {depth}")
    if direction not in ("upstream", "downstream", "both"):
        raise InvalidInput("direction must be 'upstream', 'downstream' or 'both'")
    with db.reading() as session:
        root = parse_ref(session, ref)
        edges: set[tuple[str, str, str]] = set()
        for way in ("upstream", "downstream"):
            if direction in (way, "both"):
                edges |= _walk(session, root, way, depth)
        ids = {root} | {e[0] for e in edges} | {e[1] for e in edges}
        described = _describe(session, ids)
    return LineageGraph(
        root=described[root].id,
        direction=direction,
        depth=depth,
        nodes=sorted(described.values(), key=lambda n: (n.kind.value, n.id)),
        edges=[
            LineageEdge(source=described[s].id, target=described[d].id, relation=r)
            for s, d, r in sorted(edges)
            if s in described and d in described
        ],
    )


ATTESTS = "attests"


def link_evidence(session: Session, row: t.Evidence) -> None:
    """Put a new evidence row in the graph, upstream of what it is about."""
    session.flush()
    if row.version_id is not None:
        target = node(NodeKind.MODEL_VERSION, row.version_id)
    elif row.dataset_version_id is not None:
        target = node(NodeKind.DATASET_VERSION, row.dataset_version_id)
    else:
        return
    add_edges(session, [(node(NodeKind.EVIDENCE, row.id), target, ATTESTS)])
