"""Look-ups shared by the registry services: resolve names and refs to rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from charter.domain.common import DatasetVersionRef
from charter.domain.errors import InvalidInput, NotFound, PreconditionFailed
from charter.store import tables as t

# Any select: a model alone, or a model with what it was joined to.
AnySelect = TypeVar("AnySelect", bound="Select[*tuple[Any, ...]]")


def locking_models(query: AnySelect) -> AnySelect:
    """`query`, locking the model rows it reads as every writer of a model does (see
    `lock_models` for the order and the kind of lock)."""
    return query.with_for_update(of=t.Model, key_share=True)


def find_model(session: Session, name: str, *, lock: bool = False) -> t.Model:
    query = select(t.Model).where(t.Model.name == name)
    row = session.execute(locking_models(query) if lock else query).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no model named '{name}'; list models with GET /api/v1/models")
    return row


def find_version(
    session: Session, model: str, version: int, *, lock: bool = False
) -> tuple[t.Model, t.ModelVersion]:
    """The model and its version; `lock` locks the model's row for the transaction (see
    `lock_models` for why a writer that may change the model takes it first)."""
    query = (
        select(t.Model, t.ModelVersion)
        .outerjoin(
            t.ModelVersion,
            (t.ModelVersion.model_id == t.Model.id) & (t.ModelVersion.version == version),
        )
        .where(t.Model.name == model)
    )
    found = session.execute(locking_models(query) if lock else query).first()
    if found is None:
        raise NotFound(f"no model named '{model}'; list models with GET /api/v1/models")
    m, row = found
    if row is None:
        raise NotFound(f"model '{model}' has no version {version}")
    return m, row


def find_dataset(session: Session, name: str, *, lock: bool = False) -> t.Dataset:
    query = select(t.Dataset).where(t.Dataset.name == name)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no dataset named '{name}'")
    return row


def find_dataset_version(session: Session, name: str, version: int) -> t.DatasetVersion:
    d = find_dataset(session, name)
    row = session.execute(
        select(t.DatasetVersion).where(
            t.DatasetVersion.dataset_id == d.id, t.DatasetVersion.version == version
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"dataset '{name}' has no version {version}")
    return row


# Built once: it runs in every run and dataset-version registration that names inputs.
_DATASET_VERSION_ID = (
    select(t.DatasetVersion.id)
    .join(t.Dataset, t.Dataset.id == t.DatasetVersion.dataset_id)
    .where(t.Dataset.name == bindparam("name"), t.DatasetVersion.version == bindparam("version"))
)


def resolve_dataset_refs(session: Session, refs: list[DatasetVersionRef], field: str) -> list[int]:
    """Every referenced dataset version must exist: lineage never points at nothing."""
    ids: list[int] = []
    for ref in refs:
        found = session.execute(
            _DATASET_VERSION_ID, {"name": ref.dataset, "version": ref.version}
        ).scalar()
        if found is None:
            try:  # the slower look-up names what is missing: the dataset or its version
                found = find_dataset_version(session, ref.dataset, ref.version).id
            except NotFound as exc:
                raise InvalidInput(f"{field}: {exc.message}; register it first") from exc
        ids.append(found)
    return ids


def check_revision(kind: str, name: str, current: int, expected: int) -> None:
    if current != expected:
        raise PreconditionFailed(
            f"{kind} '{name}' changed since revision {expected} (now {current}); "
            "fetch it again and reapply your change"
        )


def lock_models(session: Session, ids: Iterable[int]) -> list[t.Model]:
    """Lock these models' rows, in name order, for the transaction.

    Lock order, to keep PostgreSQL free of deadlocks: model rows first, in name order
    (as a batch registration takes them), the audit log's head last (every writer
    appends its events at the end or after its model locks). A transaction that may
    change a model (a promotion that executes updates its document) therefore locks the
    model before it appends its first event.

    The lock is FOR NO KEY UPDATE on PostgreSQL: writers of one model still queue, but a
    row that merely refers to the model (its foreign key check takes FOR KEY SHARE) does
    not wait for them, so such inserts cannot close a cycle with the log's head.
    """
    wanted = sorted(set(ids))
    if not wanted:
        return []
    query = select(t.Model).where(t.Model.id.in_(wanted)).order_by(t.Model.name)
    return list(session.execute(locking_models(query)).scalars())
