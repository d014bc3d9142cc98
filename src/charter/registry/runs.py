"""Training runs: parameters, metrics, code, environment, inputs and produced versions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.audit import log as audit
from charter.domain.common import CodeRef, DatasetVersionRef, Environment, ModelVersionRef, Page
from charter.domain.enums import NodeKind, RunStatus
from charter.domain.errors import InvalidInput, NotFound
from charter.domain.identity import Actor
from charter.domain.registry import Run, RunCreate, RunUpdate
from charter.registry import lineage
from charter.registry.common import check_revision, resolve_dataset_refs
from charter.store import tables as t
from charter.store import tags as tagstore
from charter.store.engine import Database
from charter.store.pagination import check_limit, decode_cursor, encode_cursor
from charter.store.tables import utcnow

KIND = "run"
INPUT, PRODUCED = "input", "produced"


def _find(session: Session, run_id: int, *, lock: bool = False) -> t.Run:
    query = select(t.Run).where(t.Run.id == run_id)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no run {run_id}")
    return row


def _to_schemas(session: Session, rows: list[t.Run]) -> list[Run]:
    ids = [r.id for r in rows]
    tags = tagstore.load(session, KIND, ids)
    inputs: dict[int, list[DatasetVersionRef]] = {i: [] for i in ids}
    outputs: dict[int, list[ModelVersionRef]] = {i: [] for i in ids}
    nodes = {lineage.node(NodeKind.RUN, i): i for i in ids}
    if nodes:
        for edge in session.execute(
            select(t.LineageEdge)
            .where((t.LineageEdge.source.in_(nodes)) | (t.LineageEdge.target.in_(nodes)))
            .order_by(t.LineageEdge.created_at)
        ).scalars():
            if edge.relation == INPUT and edge.target in nodes:
                dv = session.get(t.DatasetVersion, int(edge.source.partition(":")[2]))
                if dv is not None:
                    ds = session.get(t.Dataset, dv.dataset_id)
                    assert ds is not None
                    inputs[nodes[edge.target]].append(
                        DatasetVersionRef(dataset=ds.name, version=dv.version)
                    )
            elif edge.relation == PRODUCED and edge.source in nodes:
                mv = session.get(t.ModelVersion, int(edge.target.partition(":")[2]))
                if mv is not None:
                    m = session.get(t.Model, mv.model_id)
                    assert m is not None
                    outputs[nodes[edge.source]].append(
                        ModelVersionRef(model=m.name, version=mv.version)
                    )
    return [
        Run(
            id=r.id,
            name=r.name,
            status=RunStatus(r.status),
            params=r.params,
            metrics=r.metrics,
            code=CodeRef(**r.code) if r.code else None,
            environment=Environment(**r.environment) if r.environment else None,
            inputs=inputs[r.id],
            outputs=outputs[r.id],
            started_at=r.started_at,
            ended_at=r.ended_at,
            created_by=r.created_by,
            tags=tags.get(r.id, {}),
            created_at=r.created_at,
            revision=r.revision,
        )
        for r in rows
    ]


def _check_times(started: object, ended: object) -> None:
    for value, field in ((started, "started_at"), (ended, "ended_at")):
        if value is not None and getattr(value, "tzinfo", None) is None:
            raise InvalidInput(f"{field} needs a timezone, e.g. 2026-11-23T10:00:00Z")


def create_run(db: Database, actor: Actor, body: RunCreate) -> Run:
    _check_times(body.started_at, body.ended_at)
    started = body.started_at or utcnow()
    if body.ended_at is not None and body.ended_at < started:
        raise InvalidInput("ended_at is before started_at")
    with db.transaction() as session:
        input_ids = resolve_dataset_refs(session, body.inputs, "inputs")
        row = t.Run(
            name=body.name,
            status=body.status.value,
            params=body.params,
            metrics=body.metrics,
            code=body.code.model_dump() if body.code else None,
            environment=body.environment.model_dump() if body.environment else None,
            started_at=started,
            ended_at=body.ended_at,
            created_by=actor.name,
        )
        session.add(row)
        session.flush()
        tagstore.replace(session, KIND, row.id, body.tags)
        for ds_id in input_ids:
            lineage.add_edge(
                session,
                lineage.node(NodeKind.DATASET_VERSION, ds_id),
                lineage.node(NodeKind.RUN, row.id),
                INPUT,
            )
        session.flush()
        run = _to_schemas(session, [row])[0]
        audit.append(
            session,
            actor,
            "run.create",
            f"run:{row.id}",
            {"after": run.model_dump(mode="json", exclude={"environment"})},
        )
        return run


def get_run(db: Database, run_id: int) -> Run:
    with db.reading() as session:
        return _to_schemas(session, [_find(session, run_id)])[0]


def list_runs(
    db: Database,
    *,
    cursor: str | None = None,
    limit: int = 100,
    status: RunStatus | None = None,
    owner: str | None = None,
    tags: list[str] | None = None,
    name_prefix: str | None = None,
) -> Page[Run]:
    after, limit = decode_cursor(cursor), check_limit(limit)
    query = select(t.Run).where(t.Run.id > after)
    if status is not None:
        query = query.where(t.Run.status == status.value)
    if owner is not None:
        query = query.where(t.Run.created_by == owner)
    if name_prefix:
        query = query.where(t.Run.name.startswith(name_prefix, autoescape=True))
    for clause in tagstore.filter_clauses(KIND, t.Run.id, tagstore.parse_filters(tags or [])):
        query = query.where(clause)
    with db.reading() as session:
        rows = list(session.execute(query.order_by(t.Run.id).limit(limit + 1)).scalars())
        items = _to_schemas(session, rows[:limit])
    nxt = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return Page[Run](items=items, next_cursor=nxt)


def update_run(db: Database, actor: Actor, run_id: int, revision: int, body: RunUpdate) -> Run:
    _check_times(None, body.ended_at)
    with db.transaction() as session:
        row = _find(session, run_id, lock=True)
        check_revision("run", str(run_id), row.revision, revision)
        before = {
            "status": row.status,
            "metrics": dict(row.metrics),
            "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        }
        if body.status is not None:
            row.status = body.status.value
            if body.status != RunStatus.RUNNING and row.ended_at is None and body.ended_at is None:
                row.ended_at = utcnow()
        if body.metrics is not None:
            row.metrics = {**row.metrics, **body.metrics}
        if body.ended_at is not None:
            if body.ended_at < row.started_at:
                raise InvalidInput("ended_at is before the run's started_at")
            row.ended_at = body.ended_at
        if body.tags is not None:
            tagstore.replace(session, KIND, row.id, body.tags)
        row.revision += 1
        session.flush()
        after = {
            "status": row.status,
            "metrics": dict(row.metrics),
            "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        }
        audit.append(
            session, actor, "run.update", f"run:{run_id}", {"before": before, "after": after}
        )
        return _to_schemas(session, [row])[0]
