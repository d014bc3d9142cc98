"""Look-ups shared by the registry services: resolve names and refs to rows."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from charter.domain.common import DatasetVersionRef
from charter.domain.errors import InvalidInput, NotFound, PreconditionFailed
from charter.store import tables as t


def find_model(session: Session, name: str, *, lock: bool = False) -> t.Model:
    query = select(t.Model).where(t.Model.name == name)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no model named '{name}'; list models with GET /api/v1/models")
    return row


def find_version(session: Session, model: str, version: int) -> tuple[t.Model, t.ModelVersion]:
    found = session.execute(
        select(t.Model, t.ModelVersion)
        .outerjoin(
            t.ModelVersion,
            (t.ModelVersion.model_id == t.Model.id) & (t.ModelVersion.version == version),
        )
        .where(t.Model.name == model)
    ).first()
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
