"""Dataset contents: verified against the registered digest on upload and on every read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from charter.artifacts.blobstore import LocalBlobStore
from charter.artifacts.tabular import summarize
from charter.domain.errors import Conflict, IntegrityError, InvalidInput, NotFound
from charter.domain.evidence import DatasetContentAttach
from charter.domain.registry import DatasetCreate, DatasetVersionCreate
from charter.evidence import contents
from charter.registry import datasets
from charter.store import tables as t
from charter.store.engine import Database
from tests.conftest import Admin


@pytest.fixture
def table() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    frame = data.data.iloc[:200].copy()
    frame["target"] = data.target.iloc[:200]
    return frame


def register(db: Database, admin: Admin, frame: pd.DataFrame) -> int:
    summary = summarize(frame.drop(columns=["target"]), frame["target"])
    datasets.create_dataset(db, admin.actor, DatasetCreate(name="cancer"))
    body = DatasetVersionCreate(uri="file:///x.parquet", digest=summary.digest, row_count=200)
    return datasets.create_dataset_version(db, admin.actor, "cancer", body).version


def upload(blobs: LocalBlobStore, frame: pd.DataFrame, tmp_path: Path) -> str:
    path = tmp_path / "data.parquet"
    frame.to_parquet(path)
    return blobs.put_file(path).sha256


def test_attach_and_load_verified(
    db: Database, blobs: LocalBlobStore, admin: Admin, table: pd.DataFrame, tmp_path: Path
) -> None:
    version = register(db, admin, table)
    sha = upload(blobs, table, tmp_path)
    body = DatasetContentAttach(sha256=sha, target=["target"])
    attached = contents.attach(db, blobs, admin.actor, "cancer", version, body)
    assert (attached.rows, attached.target) == (200, ["target"])
    with pytest.raises(Conflict):
        contents.attach(db, blobs, admin.actor, "cancer", version, body)
    with db.reading() as session:
        dv_id = session.query(t.DatasetVersion.id).scalar()
    features, labels, label = contents.load(db, blobs, dv_id)
    assert label == "cancer@1" and list(labels) == list(table["target"])
    assert features.shape == (200, 30)


def test_content_that_is_not_the_registered_table_is_refused(
    db: Database, blobs: LocalBlobStore, admin: Admin, table: pd.DataFrame, tmp_path: Path
) -> None:
    version = register(db, admin, table)
    changed = table.copy()
    changed.iloc[3, 0] += 1.0
    with pytest.raises(IntegrityError, match="digest"):
        contents.attach(
            db, blobs, admin.actor, "cancer", version,
            DatasetContentAttach(sha256=upload(blobs, changed, tmp_path), target=["target"]),
        )  # fmt: skip
    sha = upload(blobs, table, tmp_path)
    with pytest.raises(IntegrityError):  # the same table read without its target split
        contents.attach(db, blobs, admin.actor, "cancer", version, DatasetContentAttach(sha256=sha))
    with pytest.raises(InvalidInput, match="label"):
        contents.attach(
            db, blobs, admin.actor, "cancer", version,
            DatasetContentAttach(sha256=sha, target=["label"]),
        )  # fmt: skip
    not_parquet = blobs.put_bytes(b"not parquet").sha256
    with pytest.raises(InvalidInput, match="Parquet"):
        contents.attach(
            db, blobs, admin.actor, "cancer", version, DatasetContentAttach(sha256=not_parquet)
        )
    with pytest.raises(NotFound):
        contents.get(db, "cancer", version)
