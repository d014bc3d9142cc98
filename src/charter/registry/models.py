"""Models: the named, owned, risk-classified things that have versions."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, exists, select
from sqlalchemy.orm import Session

from charter.access.principals import require_existing
from charter.audit import log as audit
from charter.domain.common import JsonPage, Page, parsed_pages
from charter.domain.enums import Action, RiskTier, Stage
from charter.domain.errors import Conflict, NotFound
from charter.domain.identity import Actor
from charter.domain.registry import Model, ModelCreate, ModelUpdate
from charter.policy.access import authorize
from charter.policy.entities import Resource, model_resource
from charter.registry import overrides
from charter.registry.common import check_revision, find_model
from charter.store import tables as t
from charter.store import tags as tagstore
from charter.store.engine import Database
from charter.store.pagination import check_limit, decode_cursor, encode_cursor
from charter.store.tables import utcnow

# Module-level, so pydantic's weakly cached generic class is built once, not per call.
ModelPage = Page[Model]


KIND = "model"


# Read statements built once (see registry/versions.py on why).
_ALIASES = (
    select(t.ModelAlias.model_id, t.ModelAlias.alias, t.ModelVersion.version)
    .join(t.ModelVersion, t.ModelVersion.id == t.ModelAlias.version_id)
    .where(t.ModelAlias.model_id.in_(bindparam("ids", expanding=True)))
)
_BY_NAME = select(t.Model.document).where(t.Model.name == bindparam("name"))
_TIERS = {tier.value: tier for tier in RiskTier}


def _aliases(session: Session | Connection, model_ids: list[int]) -> dict[int, dict[str, int]]:
    result: dict[int, dict[str, int]] = {i: {} for i in model_ids}
    if not model_ids:
        return result
    rows = session.execute(_ALIASES, {"ids": model_ids})
    for model_id, alias, version in rows:
        result[model_id][alias] = version
    return result


def to_schemas(session: Session | Connection, rows: Sequence[Any]) -> list[Model]:
    """`rows` are Model objects or rows with all of the models table's columns."""
    ids = [r.id for r in rows]
    tags = tagstore.load(session, KIND, ids)
    aliases = _aliases(session, ids)
    notes = overrides.for_models(session, ids)
    return [
        Model(
            name=r.name,
            description=r.description,
            risk_tier=_TIERS[r.risk_tier],
            business_owner=r.business_owner,
            technical_owner=r.technical_owner,
            business_unit=r.business_unit,
            intended_use=r.intended_use,
            approved_regions=list(r.approved_regions),
            tags=tags.get(r.id, {}),
            created_by=r.created_by,
            created_at=r.created_at,
            updated_at=r.updated_at,
            revision=r.revision,
            latest_version=r.latest_version or None,
            aliases=aliases.get(r.id, {}),
            break_glass=notes.get(r.id, []),
        )
        for r in rows
    ]


def refresh(session: Session, row: t.Model) -> Model:
    """Rewrite the model's stored document from the tables, in the caller's transaction.

    Every service that changes a model, its tags or its aliases calls this, so reads can
    return the document with one query; registering versions patches it instead
    (`count_new_versions`).
    """
    session.flush()
    model = to_schemas(session, [row])[0]
    row.document = model.model_dump_json()
    session.flush()
    return model


def count_new_versions(rows: Sequence[t.Model]) -> None:
    """The documents of models whose only change is new versions: their latest version
    and revision patched into the stored document, as `refresh` would write them, without
    re-reading the tags, aliases and overrides that registering a version leaves alone."""
    for row in rows:
        model = Model.model_validate_json(row.document).model_copy(
            update={"latest_version": row.latest_version or None, "revision": row.revision}
        )
        row.document = model.model_dump_json()


def resource_of(row: t.Model) -> Resource:
    """The model as the policy engine sees it."""
    return model_resource(row.name, row.business_unit, row.risk_tier, row.approved_regions)


def create_model(db: Database, actor: Actor, body: ModelCreate) -> Model:
    # Decided on the model as it would be: a data scientist registers only in their unit.
    authorize(
        db,
        actor,
        Action.MODEL_WRITE,
        model_resource(body.name, body.business_unit, body.risk_tier.value, body.approved_regions),
        subject=f"model:{body.name}",
    )
    with db.transaction() as session:
        if session.execute(select(t.Model.id).where(t.Model.name == body.name)).first():
            raise Conflict(f"a model named '{body.name}' already exists; choose another name")
        require_existing(session, body.business_owner, "business_owner")
        require_existing(session, body.technical_owner, "technical_owner")
        row = t.Model(
            name=body.name,
            description=body.description,
            risk_tier=body.risk_tier.value,
            business_owner=body.business_owner,
            technical_owner=body.technical_owner,
            business_unit=body.business_unit,
            intended_use=body.intended_use,
            approved_regions=sorted(set(body.approved_regions)),
            created_by=actor.name,
            document="{}",  # written by refresh() below, once the id and tags exist
        )
        session.add(row)
        session.flush()
        tagstore.add(session, KIND, row.id, body.tags)
        model = refresh(session, row)
        audit.append(
            session,
            actor,
            "model.create",
            f"model:{row.name}",
            {"after": model.model_dump(mode="json")},
        )
        return model


def get_model(db: Database, name: str) -> Model:
    with db.rows() as connection:
        document = connection.execute(_BY_NAME, {"name": name}).scalar()
    if document is not None:
        return Model.model_validate_json(document)
    raise NotFound(f"no model named '{name}'; list models with GET /api/v1/models")


@functools.lru_cache(maxsize=512)
def _list_statement(tag_shape: tuple[bool, ...], present: frozenset[str]) -> Any:
    """The list statement for one combination of filters, built once, values bound
    (see versions._search_statement for why)."""
    filters = tagstore.bound_filters(tag_shape)
    after: Any = bindparam("after")
    query: Any = select(t.Model.id, t.Model.document)
    query, order_key = tagstore.restrict(query, KIND, t.Model.id, filters, after)
    for field, column in (
        ("name", t.Model.name),
        ("business_unit", t.Model.business_unit),
        ("risk_tier", t.Model.risk_tier),
    ):
        if field in present:
            query = query.where(column == bindparam(field))
    if "prefix" in present:
        query = query.where(t.Model.name.like(bindparam("prefix"), escape=tagstore.LIKE_ESCAPE))
    if "owner" in present:
        owner: Any = bindparam("owner")
        query = query.where((t.Model.business_owner == owner) | (t.Model.technical_owner == owner))
    if "stage" in present:
        query = query.where(
            exists().where(
                t.ModelVersion.model_id == t.Model.id, t.ModelVersion.stage == bindparam("stage")
            )
        )
    return query.order_by(order_key).limit(bindparam("limit"))


def model_documents(
    db: Database,
    *,
    cursor: str | None = None,
    limit: int = 100,
    name: str | None = None,
    name_prefix: str | None = None,
    tags: list[str] | None = None,
    owner: str | None = None,
    business_unit: str | None = None,
    risk_tier: RiskTier | None = None,
    stage: Stage | None = None,
) -> JsonPage:
    after, limit = decode_cursor(cursor), check_limit(limit)
    filters = tagstore.parse_filters(tags or [])
    present = {
        "name": name,
        "prefix": tagstore.like_prefix(name_prefix) if name_prefix else None,
        "owner": owner,
        "business_unit": business_unit,
        "risk_tier": risk_tier.value if risk_tier is not None else None,
        "stage": stage.value if stage is not None else None,
    }
    params: dict[str, Any] = {k: v for k, v in present.items() if v is not None}
    query = _list_statement(tuple(v is not None for _, v in filters), frozenset(params))
    params |= tagstore.filter_params(filters) | {"after": after, "limit": limit + 1}
    with db.rows() as connection:
        rows = list(connection.execute(query, params))
    nxt = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return JsonPage("[" + ",".join(r.document for r in rows[:limit]) + "]", nxt)


list_models = parsed_pages(ModelPage, model_documents)


def update_model(db: Database, actor: Actor, name: str, revision: int, body: ModelUpdate) -> Model:
    with db.reading() as session:
        current = resource_of(find_model(session, name))
    authorize(db, actor, Action.MODEL_WRITE, current, subject=f"model:{name}")
    with db.transaction() as session:
        row = find_model(session, name, lock=True)
        check_revision("model", name, row.revision, revision)
        before = to_schemas(session, [row])[0].model_dump(mode="json")
        changes = body.model_dump(exclude_unset=True)
        new_tags = changes.pop("tags", None)
        require_existing(session, changes.get("business_owner"), "business_owner")
        require_existing(session, changes.get("technical_owner"), "technical_owner")
        for key, value in changes.items():
            if key == "approved_regions" and value is not None:
                value = sorted(set(value))
            if value is None and key in (
                "description",
                "intended_use",
                "risk_tier",
                "approved_regions",
            ):
                continue  # an explicit null for a required field means "leave it"
            setattr(row, key, value.value if key == "risk_tier" else value)
        if new_tags is not None:
            tagstore.replace(session, KIND, row.id, new_tags)
        row.revision += 1
        row.updated_at = utcnow()
        model = refresh(session, row)
        audit.append(
            session,
            actor,
            "model.update",
            f"model:{name}",
            {"before": before, "after": model.model_dump(mode="json")},
        )
        return model
