"""Model versions: immutable artifacts with their provenance, stage history and aliases."""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any, NamedTuple

from sqlalchemy import Text, bindparam, cast, delete, select
from sqlalchemy.orm import Session

from charter.audit import log as audit
from charter.domain.common import (
    JsonPage,
    Page,
    is_name,
    parsed_pages,
)
from charter.domain.enums import RiskTier, Stage
from charter.domain.errors import InvalidInput, NotFound
from charter.domain.identity import Actor
from charter.domain.registry import (
    ModelVersion,
    ModelVersionSummary,
    ModelVersionUpdate,
    StageTransition,
)
from charter.registry import models, overrides
from charter.registry.common import (
    check_revision,
    find_model,
    find_version,
)
from charter.store import tables as t
from charter.store import tags as tagstore
from charter.store.engine import Database
from charter.store.pagination import check_limit, decode_cursor, encode_cursor

# Module-level, so pydantic's weakly cached generic class is built once, not per call.
ModelVersionSummaryPage = Page[ModelVersionSummary]


KIND = "model_version"
TRAINED_ON, EVALUATED_ON, PARENT, PRODUCED = "trained_on", "evaluated_on", "parent", "produced"
SUMMARY_FIELDS = set(ModelVersionSummary.model_fields)
DOCUMENT_FIELDS = set(ModelVersion.model_fields) - SUMMARY_FIELDS - {"environment"}

# Read statements are built once and reused with bound parameters: SQLAlchemy's per-call
# statement construction and result adaptation cost more than these indexed queries.
_ALIASES = select(t.ModelAlias.version_id, t.ModelAlias.alias).where(
    t.ModelAlias.version_id.in_(bindparam("ids", expanding=True))
)
# The environment lists every installed package, so it is read only for a single version
# and stays out of the documents; cast to text so both drivers hand back JSON text.
_FULL = (
    t.ModelVersion.summary,
    t.ModelVersion.document,
    cast(t.ModelVersion.environment, Text).label("environment"),
)
_VERSION = (
    select(*_FULL, t.ModelVersion.revision)
    .join(t.Model, t.Model.id == t.ModelVersion.model_id)
    .where(t.Model.name == bindparam("model"), t.ModelVersion.version == bindparam("version"))
)
_BY_ALIAS = (
    select(*_FULL)
    .join(t.ModelAlias, t.ModelAlias.version_id == t.ModelVersion.id)
    .where(t.ModelAlias.model_id == bindparam("model_id"), t.ModelAlias.alias == bindparam("alias"))
)


def _summary_from_tables(session: Session, mv: t.ModelVersion, model_name: str) -> str:
    """The summary document, computed from the normalised tables, which stay the truth."""
    aliases = session.execute(_ALIASES, {"ids": [mv.id]}).all()
    summary = ModelVersionSummary(
        model=model_name,
        version=mv.version,
        stage=Stage(mv.stage),
        flavor=mv.flavor,
        manifest_digest=mv.manifest_digest,
        author=mv.author,
        run_id=mv.run_id,
        description=mv.description,
        tags=tagstore.load(session, KIND, [mv.id]).get(mv.id, {}),
        aliases=sorted(alias for _, alias in aliases),
        break_glass=overrides.for_versions(session, [mv.id]).get(mv.id, []),
        created_at=mv.created_at,
        revision=mv.revision,
    )
    return summary.model_dump_json()


def _refresh(session: Session, mv: t.ModelVersion, model_name: str) -> None:
    """Rewrite the stored summary after a change, in the same transaction as the change."""
    session.flush()
    mv.summary = _summary_from_tables(session, mv, model_name)
    session.flush()


def document_json(version: ModelVersion) -> str:
    """The immutable details stored with a version (all but the summary and environment)."""
    return version.model_dump_json(include=DOCUMENT_FIELDS)


def _joined(summary: str, document: str, environment: str | None) -> str:
    """One version's JSON, joined as text from its stored documents."""
    return f'{summary[:-1]},"environment":{environment or "null"},{document[1:]}'


def _assemble(summary: str, document: str, environment: str | None) -> ModelVersion:
    return ModelVersion.model_validate_json(_joined(summary, document, environment))


def _stored(mv: t.ModelVersion) -> ModelVersion:
    env = None if mv.environment is None else json.dumps(mv.environment)
    return _assemble(mv.summary, mv.document, env)


class VersionJson(NamedTuple):
    """A version as the API sends it (see JsonPage on why unparsed) and its revision."""

    text: str
    revision: int


def _version_of(row: tuple[Any, ...]) -> VersionJson:
    summary, document, environment, revision = row
    return VersionJson(_joined(summary, document, environment), revision)


def version_json(db: Database, model: str, version: int) -> VersionJson:
    row = db.point_read(_VERSION, {"model": model, "version": version})
    if row is not None:
        return _version_of(row)
    with db.reading() as session:
        find_version(session, model, version)  # raises the NotFound that says which part
    raise NotFound(f"model '{model}' has no version {version}")


async def version_json_on_loop(db: Database, model: str, version: int) -> VersionJson:
    """`version_json` for a caller on an event loop. On SQLite with an idle pooled
    connection it runs right there (one indexed read from the page cache, ~50 us, less
    than a worker-thread hop; WAL readers never wait for the writer); on PostgreSQL it
    waits for the database on the loop. Anything else, and a miss (whose error says
    which part is missing), goes to a worker thread."""
    if db.quick_read_ready():
        return version_json(db, model, version)
    if db.loop_reads is not None:
        row = await db.loop_reads.read_one(_VERSION, {"model": model, "version": version})
        if row is not None:
            return _version_of(row)
    return await asyncio.to_thread(version_json, db, model, version)


def get_version(db: Database, model: str, version: int) -> ModelVersion:
    return ModelVersion.model_validate_json(version_json(db, model, version).text)


def get_by_alias(db: Database, model: str, alias: str) -> ModelVersion:
    with db.reading() as session:
        m = find_model(session, model)
        row = session.execute(_BY_ALIAS, {"model_id": m.id, "alias": alias}).first()
        if row is None:
            raise NotFound(f"model '{model}' has no alias '{alias}'")
        return _assemble(row.summary, row.document, row.environment)


@functools.lru_cache(maxsize=512)
def _search_statement(tag_shape: tuple[bool, ...], present: frozenset[str]) -> Any:
    """The search statement for one combination of filters, built once, values bound.

    Building a select with its joins and tag probes costs SQLAlchemy several times what
    SQLite needs to run it, so each shape is built once and reused with parameters.
    It reads each version's stored summary: one query and one parse per page.
    """
    query: Any = select(t.ModelVersion.id, t.ModelVersion.summary)
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


def version_summaries(
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
) -> JsonPage:
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
        rows = connection.execute(query, params).all()
    if model is not None and not rows:
        with db.reading() as session:
            find_model(session, model)  # a typo in the name is a 404, not an empty list
    nxt = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return JsonPage("[" + ",".join(row.summary for row in rows[:limit]) + "]", nxt)


list_versions = parsed_pages(ModelVersionSummaryPage, version_summaries)


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
        _refresh(session, mv, m.name)
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
        return _stored(mv)


def enter_stage(
    session: Session, actor: Actor, m: t.Model, mv: t.ModelVersion, stage: Stage, comment: str
) -> None:
    """Move a version into a stage, in the caller's transaction, with its history row and
    audit event. Only the promotion gate calls this (charter.gates.promotions): no route
    changes a stage directly."""
    transition = t.StageTransition(
        version_id=mv.id,
        from_stage=mv.stage,
        to_stage=stage.value,
        actor=actor.name,
        comment=comment,
    )
    session.add(transition)
    mv.stage = stage.value
    mv.revision += 1
    _refresh(session, mv, m.name)
    models.refresh(session, m)
    audit.append(
        session,
        actor,
        "version.stage",
        f"model:{m.name}@{mv.version}",
        {"from": transition.from_stage, "to": transition.to_stage, "comment": comment},
    )


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
        _refresh(session, mv, m.name)
        if previous is not None and previous.id != mv.id:
            _refresh(session, previous, m.name)
        models.refresh(session, m)
        audit.append(
            session,
            actor,
            "alias.set",
            f"model:{model}#{alias}",
            {"from": previous.version if previous else None, "to": mv.version},
        )
        return _stored(mv)


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
        if previous is not None:
            _refresh(session, previous, m.name)
        models.refresh(session, m)
        audit.append(
            session,
            actor,
            "alias.delete",
            f"model:{model}#{alias}",
            {"from": previous.version if previous else None},
        )
