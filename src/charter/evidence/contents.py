"""Dataset contents: a Parquet upload verified against the dataset version's digest, and
read back (verified again) for scans and evaluations."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from charter.artifacts.blobstore import BlobStore
from charter.audit import log as audit
from charter.domain.errors import Conflict, IntegrityError, InvalidInput, NotFound
from charter.domain.evidence import DatasetContent, DatasetContentAttach
from charter.domain.identity import Actor
from charter.registry.common import find_dataset_version
from charter.store import tables as t
from charter.store.engine import Database

FORMAT = "parquet"


@contextmanager
def blob_file(blobs: BlobStore, sha256: str) -> Iterator[Path]:
    """The blob as a local file (a temporary copy unless the store is a local directory)."""
    local = getattr(blobs, "path_for", None)
    if local is not None:
        path = Path(local(sha256))
        if not path.is_file():
            raise NotFound(
                f"no blob {sha256} is stored; upload it with PUT /api/v1/blobs/{{sha256}}"
            )
        yield path
        return
    with tempfile.NamedTemporaryFile(suffix=".blob") as out:
        for chunk in blobs.open_chunks(sha256):
            out.write(chunk)
        out.flush()
        yield Path(out.name)


def _frame(path: Path) -> Any:
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - the ml extra is part of every install we test
        raise InvalidInput("reading dataset contents needs charter[ml] (pandas, pyarrow)") from exc
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # any parser failure is the upload's fault
        raise InvalidInput(f"the content is not a readable Parquet file: {exc}") from None


def split(frame: Any, target: list[str]) -> tuple[Any, Any]:
    missing = [name for name in target if name not in frame.columns]
    if missing:
        raise InvalidInput(
            f"target: column(s) {missing} are not in the file; it has {list(frame.columns)[:20]}"
        )
    features = frame.drop(columns=target)
    if not target:
        return features, None
    labels = frame[target[0]] if len(target) == 1 else frame[target]
    return features, labels


def verify(frame: Any, target: list[str], digest: str) -> None:
    """Refuse content whose canonical digest is not the dataset version's."""
    from charter.artifacts.tabular import summarize

    features, labels = split(frame, target)
    found = summarize(features, labels).digest
    if found != digest:
        raise IntegrityError(
            f"the content's digest is {found} but the dataset version records {digest}: "
            "upload the exact table the version was registered with (same columns, order, "
            "types and target)"
        )


def attach(
    db: Database,
    blobs: BlobStore,
    actor: Actor,
    dataset: str,
    version: int,
    body: DatasetContentAttach,
) -> DatasetContent:
    with db.reading() as session:
        dv = find_dataset_version(session, dataset, version)
        digest = dv.digest
    with blob_file(blobs, body.sha256) as path:
        frame = _frame(path)
    verify(frame, body.target, digest)
    with db.transaction() as session:
        dv = find_dataset_version(session, dataset, version)
        if session.get(t.DatasetContent, dv.id) is not None:
            raise Conflict(f"dataset {dataset}@{version} already has its content attached")
        row = t.DatasetContent(
            dataset_version_id=dv.id,
            sha256=body.sha256,
            format=FORMAT,
            target=list(body.target),
            rows=len(frame),
            attached_by=actor.name,
        )
        session.add(row)
        session.flush()
        audit.append(
            session,
            actor,
            "dataset.content",
            f"dataset:{dataset}@{version}",
            {"sha256": row.sha256, "format": FORMAT, "target": row.target, "rows": row.rows},
        )
        return _schema(row, dataset, version)


def _schema(row: t.DatasetContent, dataset: str, version: int) -> DatasetContent:
    return DatasetContent(
        dataset=dataset,
        version=version,
        sha256=row.sha256,
        format=row.format,
        target=list(row.target),
        rows=row.rows,
        attached_by=row.attached_by,
        created_at=row.created_at,
    )


def load(db: Database, blobs: BlobStore, dataset_version_id: int) -> tuple[Any, Any, str]:
    """(features, labels, label) of a dataset version's content, re-verified on read."""
    with db.reading() as session:
        row = session.get(t.DatasetContent, dataset_version_id)
        dv = session.get(t.DatasetVersion, dataset_version_id)
        name = session.execute(
            select(t.Dataset.name)
            .join(t.DatasetVersion)
            .where(t.DatasetVersion.id == dataset_version_id)
        ).scalar()
        if row is None or dv is None:
            raise NotFound(
                f"dataset {name}@{dv.version if dv else '?'} has no content; attach it with "
                "`charter datasets attach-content`"
            )
        target, digest = list(row.target), dv.digest
        label = f"{name}@{dv.version}"
    with blob_file(blobs, row.sha256) as path:
        frame = _frame(path)
    verify(frame, target, digest)
    features, labels = split(frame, target)
    return features, labels, label


def get(db: Database, dataset: str, version: int) -> DatasetContent:
    with db.reading() as session:
        dv = find_dataset_version(session, dataset, version)
        row = session.get(t.DatasetContent, dv.id)
        if row is None:
            raise NotFound(f"dataset {dataset}@{version} has no content attached")
        return _schema(row, dataset, version)
