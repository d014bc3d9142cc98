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

# Module-level, so pydantic's weakly cached generic class is built once, not per call.
RunPage = Page[Run]


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


def _edge_refs(
    session: Session, nodes: dict[str, int]
) -> tuple[dict[int, list[DatasetVersionRef]], dict[int, list[ModelVersionRef]]]:
    """Inputs and outputs of the given runs in three queries, however many edges there are."""
    inputs: dict[int, list[DatasetVersionRef]] = {i: [] for i in nodes.values()}
    outputs: dict[int, list[ModelVersionRef]] = {i: [] for i in nodes.values()}
    if not nodes:
        return inputs, outputs
    input_of: dict[int, list[int]] = {}
    output_of: dict[int, list[int]] = {}
    for source, target, relation in session.execute(
        select(t.LineageEdge.source, t.LineageEdge.target, t.LineageEdge.relation).where(
            (t.LineageEdge.source.in_(nodes)) | (t.LineageEdge.target.in_(nodes))
        )
    ):
        if relation == INPUT and target in nodes:
            input_of.setdefault(int(source.partition(":")[2]), []).append(nodes[target])
        elif relation == PRODUCED and source in nodes:
            output_of.setdefault(int(target.partition(":")[2]), []).append(nodes[source])
    if input_of:
        for dv_id, name, version in session.execute(
            select(t.DatasetVersion.id, t.Dataset.name, t.DatasetVersion.version)
            .join(t.Dataset, t.Dataset.id == t.DatasetVersion.dataset_id)
            .where(t.DatasetVersion.id.in_(input_of))
            .order_by(t.DatasetVersion.id)
        ):
            for run_id in input_of[dv_id]:
                inputs[run_id].append(DatasetVersionRef(dataset=name, version=version))
    if output_of:
        for mv_id, name, version in session.execute(
            select(t.ModelVersion.id, t.Model.name, t.ModelVersion.version)
            .join(t.Model, t.Model.id == t.ModelVersion.model_id)
            .where(t.ModelVersion.id.in_(output_of))
            .order_by(t.ModelVersion.id)
        ):
            for run_id in output_of[mv_id]:
                outputs[run_id].append(ModelVersionRef(model=name, version=version))
    return inputs, outputs


def _to_schemas(session: Session, rows: list[t.Run]) -> list[Run]:
    ids = [r.id for r in rows]
    tags = tagstore.load(session, KIND, ids)
    inputs, outputs = _edge_refs(session, {lineage.node(NodeKind.RUN, i): i for i in ids})
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
    ended = body.ended_at
    if ended is not None and ended < started:
        raise InvalidInput("ended_at is before started_at")
    if ended is None and body.status != RunStatus.RUNNING:
        # A run recorded as already over has ended, at the latest now.
        ended = max(started, utcnow())
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
            ended_at=ended,
            created_by=actor.name,
        )
        session.add(row)
        session.flush()
        tagstore.add(session, KIND, row.id, body.tags)
        target = lineage.node(NodeKind.RUN, row.id)
        lineage.add_edges(
            session,
            ((lineage.node(NodeKind.DATASET_VERSION, ds_id), target, INPUT) for ds_id in input_ids),
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
    filters = tagstore.parse_filters(tags or [])
    query, order_key = tagstore.restrict(select(t.Run), KIND, t.Run.id, filters, after)
    if status is not None:
        query = query.where(t.Run.status == status.value)
    if owner is not None:
        query = query.where(t.Run.created_by == owner)
    if name_prefix:
        query = query.where(t.Run.name.startswith(name_prefix, autoescape=True))
    with db.reading() as session:
        rows = list(session.execute(query.order_by(order_key).limit(limit + 1)).scalars())
        items = _to_schemas(session, rows[:limit])
    nxt = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return RunPage(items=items, next_cursor=nxt)


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
