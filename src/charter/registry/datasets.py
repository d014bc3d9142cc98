"""Datasets and their immutable versions: digest, schema, region, legal basis, PII flag."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.access.principals import require_existing
from charter.audit import log as audit
from charter.domain.common import ColumnSchema, DatasetVersionRef, Page
from charter.domain.enums import NodeKind
from charter.domain.errors import Conflict
from charter.domain.identity import Actor
from charter.domain.registry import (
    Dataset,
    DatasetCreate,
    DatasetUpdate,
    DatasetVersion,
    DatasetVersionCreate,
)
from charter.registry import lineage
from charter.registry.common import (
    check_revision,
    find_dataset,
    find_dataset_version,
    resolve_dataset_refs,
)
from charter.store import tables as t
from charter.store import tags as tagstore
from charter.store.engine import Database
from charter.store.pagination import check_limit, decode_cursor, encode_cursor

# Module-level, so pydantic's weakly cached generic class is built once, not per call.
DatasetPage = Page[Dataset]
DatasetVersionPage = Page[DatasetVersion]


KIND = "dataset"
DERIVED = "derived_from"


def _to_schemas(session: Session, rows: list[t.Dataset]) -> list[Dataset]:
    tags = tagstore.load(session, KIND, [r.id for r in rows])
    return [
        Dataset(
            name=r.name,
            description=r.description,
            owner=r.owner,
            business_unit=r.business_unit,
            tags=tags.get(r.id, {}),
            created_by=r.created_by,
            created_at=r.created_at,
            revision=r.revision,
            latest_version=r.latest_version or None,
        )
        for r in rows
    ]


def _version_schema(session: Session, row: t.DatasetVersion, name: str) -> DatasetVersion:
    derived = None
    if row.derived_from_id is not None:
        version, parent_name = session.execute(
            select(t.DatasetVersion.version, t.Dataset.name)
            .join(t.Dataset, t.Dataset.id == t.DatasetVersion.dataset_id)
            .where(t.DatasetVersion.id == row.derived_from_id)
        ).one()
        derived = DatasetVersionRef(dataset=parent_name, version=version)
    return DatasetVersion(
        dataset=name,
        version=row.version,
        uri=row.uri,
        digest=row.digest,
        columns=[ColumnSchema(**c) for c in row.columns],
        row_count=row.row_count,
        data_region=row.data_region,
        legal_basis=row.legal_basis,
        contains_pii=row.contains_pii,
        derived_from=derived,
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def create_dataset(db: Database, actor: Actor, body: DatasetCreate) -> Dataset:
    with db.transaction() as session:
        if session.execute(select(t.Dataset.id).where(t.Dataset.name == body.name)).first():
            raise Conflict(f"a dataset named '{body.name}' already exists; choose another name")
        require_existing(session, body.owner, "owner")
        row = t.Dataset(
            name=body.name,
            description=body.description,
            owner=body.owner,
            business_unit=body.business_unit,
            created_by=actor.name,
        )
        session.add(row)
        session.flush()
        tagstore.add(session, KIND, row.id, body.tags)
        dataset = _to_schemas(session, [row])[0]
        audit.append(
            session,
            actor,
            "dataset.create",
            f"dataset:{row.name}",
            {"after": dataset.model_dump(mode="json")},
        )
        return dataset


def get_dataset(db: Database, name: str) -> Dataset:
    with db.reading() as session:
        return _to_schemas(session, [find_dataset(session, name)])[0]


def list_datasets(
    db: Database,
    *,
    cursor: str | None = None,
    limit: int = 100,
    name: str | None = None,
    name_prefix: str | None = None,
    tags: list[str] | None = None,
    owner: str | None = None,
    business_unit: str | None = None,
) -> Page[Dataset]:
    after, limit = decode_cursor(cursor), check_limit(limit)
    filters = tagstore.parse_filters(tags or [])
    query, order_key = tagstore.restrict(select(t.Dataset), KIND, t.Dataset.id, filters, after)
    if name is not None:
        query = query.where(t.Dataset.name == name)
    if name_prefix:
        query = query.where(t.Dataset.name.startswith(name_prefix, autoescape=True))
    if owner is not None:
        query = query.where(t.Dataset.owner == owner)
    if business_unit is not None:
        query = query.where(t.Dataset.business_unit == business_unit)
    with db.reading() as session:
        rows = list(session.execute(query.order_by(order_key).limit(limit + 1)).scalars())
        items = _to_schemas(session, rows[:limit])
    nxt = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return DatasetPage(items=items, next_cursor=nxt)


def update_dataset(
    db: Database, actor: Actor, name: str, revision: int, body: DatasetUpdate
) -> Dataset:
    with db.transaction() as session:
        row = find_dataset(session, name, lock=True)
        check_revision("dataset", name, row.revision, revision)
        before = _to_schemas(session, [row])[0].model_dump(mode="json")
        changes = body.model_dump(exclude_unset=True)
        new_tags = changes.pop("tags", None)
        require_existing(session, changes.get("owner"), "owner")
        for key, value in changes.items():
            if key == "description" and value is None:
                continue
            setattr(row, key, value)
        if new_tags is not None:
            tagstore.replace(session, KIND, row.id, new_tags)
        row.revision += 1
        session.flush()
        dataset = _to_schemas(session, [row])[0]
        audit.append(
            session,
            actor,
            "dataset.update",
            f"dataset:{name}",
            {"before": before, "after": dataset.model_dump(mode="json")},
        )
        return dataset


def create_dataset_version(
    db: Database, actor: Actor, name: str, body: DatasetVersionCreate
) -> DatasetVersion:
    with db.transaction() as session:
        d = find_dataset(session, name, lock=True)
        derived_id = None
        if body.derived_from is not None:
            derived_id = resolve_dataset_refs(session, [body.derived_from], "derived_from")[0]
        d.latest_version += 1
        d.revision += 1
        row = t.DatasetVersion(
            dataset_id=d.id,
            version=d.latest_version,
            uri=body.uri,
            digest=body.digest,
            columns=[c.model_dump() for c in body.columns],
            row_count=body.row_count,
            data_region=body.data_region,
            legal_basis=body.legal_basis,
            contains_pii=body.contains_pii,
            derived_from_id=derived_id,
            description=body.description,
            created_by=actor.name,
        )
        session.add(row)
        session.flush()
        if derived_id is not None:
            source = lineage.node(NodeKind.DATASET_VERSION, derived_id)
            target = lineage.node(NodeKind.DATASET_VERSION, row.id)
            lineage.add_edges(session, [(source, target, DERIVED)])
        version = _version_schema(session, row, d.name)
        audit.append(
            session,
            actor,
            "dataset_version.create",
            f"dataset:{d.name}@{row.version}",
            {"after": version.model_dump(mode="json")},
        )
        return version


def get_dataset_version(db: Database, name: str, version: int) -> DatasetVersion:
    with db.reading() as session:
        return _version_schema(session, find_dataset_version(session, name, version), name)


def list_dataset_versions(
    db: Database, name: str, *, cursor: str | None = None, limit: int = 100
) -> Page[DatasetVersion]:
    after, limit = decode_cursor(cursor), check_limit(limit)
    with db.reading() as session:
        d = find_dataset(session, name)
        rows = list(
            session.execute(
                select(t.DatasetVersion)
                .where(t.DatasetVersion.dataset_id == d.id, t.DatasetVersion.id > after)
                .order_by(t.DatasetVersion.id)
                .limit(limit + 1)
            ).scalars()
        )
        items = [_version_schema(session, r, d.name) for r in rows[:limit]]
    nxt = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return DatasetVersionPage(items=items, next_cursor=nxt)
