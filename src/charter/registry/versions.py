"""Model versions: immutable artifacts with their provenance, stage history and aliases."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.orm import Session

from charter.artifacts.blobstore import BlobStore
from charter.audit import log as audit
from charter.domain.artifacts import Manifest, ManifestEntry
from charter.domain.common import (
    CodeRef,
    ColumnSchema,
    DatasetVersionRef,
    Environment,
    ModelVersionRef,
    Page,
    is_name,
)
from charter.domain.enums import NodeKind, RiskTier, Stage
from charter.domain.errors import Conflict, InvalidInput, NotFound
from charter.domain.identity import Actor
from charter.domain.registry import (
    ModelVersion,
    ModelVersionCreate,
    ModelVersionSummary,
    ModelVersionUpdate,
    StageChange,
    StageTransition,
)
from charter.registry import lineage
from charter.registry.common import (
    check_revision,
    find_model,
    find_version,
    resolve_dataset_refs,
    resolve_model_ref,
)
from charter.store import tables as t
from charter.store import tags as tagstore
from charter.store.engine import Database
from charter.store.pagination import check_limit, decode_cursor, encode_cursor

# Module-level, so pydantic's weakly cached generic class is built once, not per call.
ModelVersionSummaryPage = Page[ModelVersionSummary]


KIND = "model_version"
TRAINED_ON, EVALUATED_ON, PARENT, PRODUCED = "trained_on", "evaluated_on", "parent", "produced"
SUMMARY_COLUMNS = (
    t.ModelVersion.id,
    t.ModelVersion.version,
    t.ModelVersion.stage,
    t.ModelVersion.flavor,
    t.ModelVersion.manifest_digest,
    t.ModelVersion.author,
    t.ModelVersion.run_id,
    t.ModelVersion.description,
    t.ModelVersion.created_at,
    t.ModelVersion.revision,
)


# Read statements are built once and reused with bound parameters: SQLAlchemy's per-call
# statement construction and result adaptation cost more than these indexed queries.
_ALIASES = select(t.ModelAlias.version_id, t.ModelAlias.alias).where(
    t.ModelAlias.version_id.in_(bindparam("ids", expanding=True))
)
_INPUT_EDGES = select(t.LineageEdge.source, t.LineageEdge.relation).where(
    t.LineageEdge.target == bindparam("target"),
    t.LineageEdge.relation.in_([TRAINED_ON, EVALUATED_ON]),
)
_DATASET_REFS = (
    select(t.DatasetVersion.id, t.Dataset.name, t.DatasetVersion.version)
    .join(t.Dataset, t.Dataset.id == t.DatasetVersion.dataset_id)
    .where(t.DatasetVersion.id.in_(bindparam("ids", expanding=True)))
    .order_by(t.DatasetVersion.id)
)
_PARENT = (
    select(t.ModelVersion.version, t.Model.name)
    .join(t.Model, t.Model.id == t.ModelVersion.model_id)
    .where(t.ModelVersion.id == bindparam("id"))
)
_VERSION = (
    select(t.ModelVersion.__table__, t.Model.name.label("model_name"))
    .join(t.Model, t.Model.id == t.ModelVersion.model_id)
    .where(t.Model.name == bindparam("model"), t.ModelVersion.version == bindparam("version"))
)
Executor = Session | Connection
_SUMMARY_LIST = TypeAdapter(list[ModelVersionSummary])


def _summaries(session: Executor, rows: list[tuple[Any, str]]) -> list[ModelVersionSummary]:
    """Rows are model versions or plain rows of SUMMARY_COLUMNS, each with its model's name."""
    ids = [mv.id for mv, _ in rows]
    tags = tagstore.load(session, KIND, ids)
    aliases: dict[int, list[str]] = {}
    if ids:
        for version_id, alias in session.execute(_ALIASES, {"ids": ids}):
            aliases.setdefault(version_id, []).append(alias)
    # One validation call for the whole page: pydantic-core validates a list of plain
    # dicts far faster than it constructs the models one by one.
    return _SUMMARY_LIST.validate_python(
        [
            {
                "model": model_name,
                "version": mv.version,
                "stage": mv.stage,
                "flavor": mv.flavor,
                "manifest_digest": mv.manifest_digest,
                "author": mv.author,
                "run_id": mv.run_id,
                "description": mv.description,
                "tags": tags.get(mv.id, {}),
                "aliases": sorted(aliases.get(mv.id, [])),
                "created_at": mv.created_at,
                "revision": mv.revision,
            }
            for mv, model_name in rows
        ]
    )


def _dataset_inputs(session: Executor, version_id: int) -> dict[str, list[DatasetVersionRef]]:
    found: dict[str, list[DatasetVersionRef]] = {TRAINED_ON: [], EVALUATED_ON: []}
    target = lineage.node(NodeKind.MODEL_VERSION, version_id)
    edges = session.execute(_INPUT_EDGES, {"target": target}).all()
    ids = {int(source.partition(":")[2]): relation for source, relation in edges}
    if not ids:
        return found
    for dv_id, name, version in session.execute(_DATASET_REFS, {"ids": list(ids)}):
        found[ids[dv_id]].append(DatasetVersionRef(dataset=name, version=version))
    return found


def to_schema(session: Executor, mv: Any, model_name: str) -> ModelVersion:
    """`mv` is a ModelVersion object or a row with all of its columns."""
    summary = _summaries(session, [(mv, model_name)])[0]
    inputs = _dataset_inputs(session, mv.id)
    parent = None
    if mv.parent_id is not None:
        pv, pm = session.execute(_PARENT, {"id": mv.parent_id}).one()
        parent = ModelVersionRef(model=pm, version=pv)
    return ModelVersion(
        **summary.model_dump(),
        framework=mv.framework,
        files=[ManifestEntry(**f) for f in mv.manifest],
        input_schema=[ColumnSchema(**c) for c in mv.input_schema],
        output_schema=[ColumnSchema(**c) for c in mv.output_schema],
        params=mv.params,
        metrics=mv.metrics,
        code=CodeRef(**mv.code) if mv.code else None,
        environment=Environment(**mv.environment) if mv.environment else None,
        training_datasets=inputs[TRAINED_ON],
        evaluation_datasets=inputs[EVALUATED_ON],
        parent=parent,
    )


def _check_blobs(blobs: BlobStore, files: list[ManifestEntry]) -> None:
    for entry in files:
        if not blobs.exists(entry.sha256):
            raise InvalidInput(
                f"file '{entry.path}': no uploaded blob with sha256 {entry.sha256}; "
                "upload it with PUT /api/v1/blobs/{sha256} first"
            )
        size = blobs.size(entry.sha256)
        if size != entry.size:
            raise InvalidInput(
                f"file '{entry.path}': size {entry.size} declared, but the uploaded blob "
                f"{entry.sha256} has {size} bytes"
            )


def _distinct(refs: list[DatasetVersionRef]) -> list[DatasetVersionRef]:
    return list({(r.dataset, r.version): r for r in refs}.values())


def create_version(
    db: Database, blobs: BlobStore, actor: Actor, model: str, body: ModelVersionCreate
) -> ModelVersion:
    try:
        manifest = Manifest(entries=body.files)
    except ValueError as exc:
        raise InvalidInput(f"files: {exc}") from exc
    _check_blobs(blobs, body.files)
    with db.transaction() as session:
        # Locking the model serialises version numbering per model. Models of the
        # 'unacceptable' tier may still register versions, so the record exists;
        # deployment gates refuse them later.
        m = find_model(session, model, lock=True)
        train_ids = resolve_dataset_refs(session, body.training_datasets, "training_datasets")
        eval_ids = resolve_dataset_refs(session, body.evaluation_datasets, "evaluation_datasets")
        parent = resolve_model_ref(session, body.parent, "parent") if body.parent else None
        if body.run_id is not None and session.get(t.Run, body.run_id) is None:
            raise InvalidInput(f"run_id: no run {body.run_id}; create the run first")
        m.latest_version += 1
        m.revision += 1
        mv = t.ModelVersion(
            model_id=m.id,
            version=m.latest_version,
            stage=Stage.NONE.value,
            flavor=body.flavor,
            framework=body.framework,
            description=body.description,
            manifest=[e.model_dump() for e in sorted(body.files, key=lambda e: e.path)],
            manifest_digest=manifest.digest,
            input_schema=[c.model_dump() for c in body.input_schema],
            output_schema=[c.model_dump() for c in body.output_schema],
            params=body.params,
            metrics=body.metrics,
            code=body.code.model_dump() if body.code else None,
            environment=body.environment.model_dump() if body.environment else None,
            parent_id=parent.id if parent else None,
            run_id=body.run_id,
            author=actor.name,
        )
        session.add(mv)
        session.flush()
        tagstore.add(session, KIND, mv.id, body.tags)
        target = lineage.node(NodeKind.MODEL_VERSION, mv.id)
        edges = [(lineage.node(NodeKind.DATASET_VERSION, i), target, TRAINED_ON) for i in train_ids]
        edges += [
            (lineage.node(NodeKind.DATASET_VERSION, i), target, EVALUATED_ON) for i in eval_ids
        ]
        if parent is not None:
            edges.append((lineage.node(NodeKind.MODEL_VERSION, parent.id), target, PARENT))
        if body.run_id is not None:
            edges.append((lineage.node(NodeKind.RUN, body.run_id), target, PRODUCED))
        lineage.add_edges(session, edges)
        session.flush()
        # Built from what was just written rather than read back: the same facts, fewer
        # round trips on the hottest write path.
        version = ModelVersion(
            model=m.name,
            version=mv.version,
            stage=Stage.NONE,
            flavor=mv.flavor,
            manifest_digest=mv.manifest_digest,
            author=mv.author,
            run_id=mv.run_id,
            description=mv.description,
            tags=dict(body.tags),
            aliases=[],
            created_at=mv.created_at,
            revision=mv.revision,
            framework=mv.framework,
            files=sorted(body.files, key=lambda e: e.path),
            input_schema=body.input_schema,
            output_schema=body.output_schema,
            params=body.params,
            metrics=body.metrics,
            code=body.code,
            environment=body.environment,
            training_datasets=_distinct(body.training_datasets),
            evaluation_datasets=_distinct(body.evaluation_datasets),
            parent=body.parent,
        )
        audit.append(
            session,
            actor,
            "version.create",
            f"model:{m.name}@{mv.version}",
            {
                "after": version.model_dump(mode="json", exclude={"environment"}),
                "environment_packages": len(body.environment.packages) if body.environment else 0,
            },
        )
        return version


def get_version(db: Database, model: str, version: int) -> ModelVersion:
    with db.rows() as connection:
        row = connection.execute(_VERSION, {"model": model, "version": version}).first()
        if row is not None:
            return to_schema(connection, row, row.model_name)
    with db.reading() as session:
        find_version(session, model, version)  # raises the NotFound that says which part
    raise NotFound(f"model '{model}' has no version {version}")


def get_by_alias(db: Database, model: str, alias: str) -> ModelVersion:
    with db.reading() as session:
        m = find_model(session, model)
        row = session.execute(
            select(t.ModelVersion)
            .join(t.ModelAlias, t.ModelAlias.version_id == t.ModelVersion.id)
            .where(t.ModelAlias.model_id == m.id, t.ModelAlias.alias == alias)
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"model '{model}' has no alias '{alias}'")
        return to_schema(session, row, m.name)


@functools.lru_cache(maxsize=512)
def _search_statement(tag_shape: tuple[bool, ...], present: frozenset[str]) -> Any:
    """The search statement for one combination of filters, built once, values bound.

    Building a select with its joins and tag probes costs SQLAlchemy several times what
    SQLite needs to run it, so each shape is built once and reused with parameters.
    Plain rows of the summary columns: manifests, schemas and environments stay on disk.
    """
    query: Any = select(*SUMMARY_COLUMNS, t.Model.name.label("model_name"))
    filters = tagstore.bound_filters(tag_shape)
    query, order_key = tagstore.restrict(
        query, KIND, t.ModelVersion.id, filters, bindparam("after")
    )
    query = query.join(t.Model, t.Model.id == t.ModelVersion.model_id)
    columns = {
        "model": t.Model.name,
        "stage": t.ModelVersion.stage,
        "owner": t.ModelVersion.author,
        "business_unit": t.Model.business_unit,
        "risk_tier": t.Model.risk_tier,
    }
    for name, column in columns.items():
        if name in present:
            query = query.where(column == bindparam(name))
    if "prefix" in present:
        query = query.where(t.Model.name.like(bindparam("prefix"), escape=tagstore.LIKE_ESCAPE))
    return query.order_by(order_key).limit(bindparam("limit"))


def list_versions(
    db: Database,
    *,
    model: str | None = None,
    model_prefix: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
    stage: Stage | None = None,
    tags: list[str] | None = None,
    owner: str | None = None,
    business_unit: str | None = None,
    risk_tier: RiskTier | None = None,
) -> Page[ModelVersionSummary]:
    after, limit = decode_cursor(cursor), check_limit(limit)
    filters = tagstore.parse_filters(tags or [])
    present = {
        "model": model,
        "prefix": tagstore.like_prefix(model_prefix) if model_prefix else None,
        "stage": stage.value if stage is not None else None,
        "owner": owner,
        "business_unit": business_unit,
        "risk_tier": risk_tier.value if risk_tier is not None else None,
    }
    params: dict[str, Any] = {k: v for k, v in present.items() if v is not None}
    shape = tuple(value is not None for _, value in filters)
    query = _search_statement(shape, frozenset(params))
    params |= tagstore.filter_params(filters) | {"after": after, "limit": limit + 1}
    with db.rows() as connection:
        rows = [(row, row.model_name) for row in connection.execute(query, params)]
        items = _summaries(connection, rows[:limit])
    if model is not None and not rows:
        with db.reading() as session:
            find_model(session, model)  # a typo in the name is a 404, not an empty list
    nxt = encode_cursor(rows[limit - 1][0].id) if len(rows) > limit else None
    return ModelVersionSummaryPage(items=items, next_cursor=nxt)


def update_version(
    db: Database, actor: Actor, model: str, version: int, revision: int, body: ModelVersionUpdate
) -> ModelVersion:
    with db.transaction() as session:
        m, mv = find_version(session, model, version)
        check_revision("model version", f"{model}@{version}", mv.revision, revision)
        before = {
            "description": mv.description,
            "tags": tagstore.load(session, KIND, [mv.id])[mv.id],
        }
        if body.description is not None:
            mv.description = body.description
        if body.tags is not None:
            tagstore.replace(session, KIND, mv.id, body.tags)
        mv.revision += 1
        session.flush()
        after = {
            "description": mv.description,
            "tags": tagstore.load(session, KIND, [mv.id])[mv.id],
        }
        audit.append(
            session,
            actor,
            "version.update",
            f"model:{model}@{version}",
            {"before": before, "after": after},
        )
        return to_schema(session, mv, m.name)


def set_stage(
    db: Database, actor: Actor, model: str, version: int, revision: int, body: StageChange
) -> ModelVersion:
    with db.transaction() as session:
        m, mv = find_version(session, model, version)
        check_revision("model version", f"{model}@{version}", mv.revision, revision)
        if mv.stage == body.stage.value:
            raise Conflict(f"{model}@{version} is already in stage '{body.stage.value}'")
        transition = t.StageTransition(
            version_id=mv.id,
            from_stage=mv.stage,
            to_stage=body.stage.value,
            actor=actor.name,
            comment=body.comment,
        )
        session.add(transition)
        mv.stage = body.stage.value
        mv.revision += 1
        session.flush()
        audit.append(
            session,
            actor,
            "version.stage",
            f"model:{model}@{version}",
            {"from": transition.from_stage, "to": transition.to_stage, "comment": body.comment},
        )
        return to_schema(session, mv, m.name)


def stage_history(db: Database, model: str, version: int) -> list[StageTransition]:
    with db.reading() as session:
        m, mv = find_version(session, model, version)
        rows = session.execute(
            select(t.StageTransition)
            .where(t.StageTransition.version_id == mv.id)
            .order_by(t.StageTransition.id)
        ).scalars()
        return [
            StageTransition(
                model=m.name,
                version=mv.version,
                from_stage=Stage(r.from_stage),
                to_stage=Stage(r.to_stage),
                actor=r.actor,
                comment=r.comment,
                at=r.at,
            )
            for r in rows
        ]


def _check_alias(alias: str) -> None:
    if not is_name(alias) or alias.isdigit() or alias.lower() == "latest":
        raise InvalidInput(
            f"alias {alias!r} must be a name (letters, digits, '.', '_', '-'), not a number "
            "and not 'latest'"
        )


def set_alias(db: Database, actor: Actor, model: str, alias: str, version: int) -> ModelVersion:
    _check_alias(alias)
    with db.transaction() as session:
        find_model(session, model, lock=True)  # two writers of one alias queue up
        m, mv = find_version(session, model, version)
        existing = session.get(t.ModelAlias, (m.id, alias))
        previous = None
        if existing is None:
            session.add(t.ModelAlias(model_id=m.id, alias=alias, version_id=mv.id))
        else:
            previous = session.get(t.ModelVersion, existing.version_id)
            existing.version_id = mv.id
        session.flush()
        audit.append(
            session,
            actor,
            "alias.set",
            f"model:{model}#{alias}",
            {"from": previous.version if previous else None, "to": mv.version},
        )
        return to_schema(session, mv, m.name)


def delete_alias(db: Database, actor: Actor, model: str, alias: str) -> None:
    with db.transaction() as session:
        m = find_model(session, model)
        existing = session.get(t.ModelAlias, (m.id, alias))
        if existing is None:
            raise NotFound(f"model '{model}' has no alias '{alias}'")
        previous = session.get(t.ModelVersion, existing.version_id)
        session.execute(
            delete(t.ModelAlias).where(t.ModelAlias.model_id == m.id, t.ModelAlias.alias == alias)
        )
        audit.append(
            session,
            actor,
            "alias.delete",
            f"model:{model}#{alias}",
            {"from": previous.version if previous else None},
        )
