"""The data-intake helper as a service: a dataset version's content with chosen columns
masked, tokenised or dropped becomes the next version of the dataset, derived from the
source in lineage, with the transformation recorded as evidence on it."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from charter.artifacts.blobstore import BlobStore
from charter.artifacts.tabular import summarize
from charter.audit import log as audit
from charter.domain.common import DatasetVersionRef
from charter.domain.errors import InvalidInput
from charter.domain.evidence import (
    ComputedKind,
    DatasetContentAttach,
    EvidenceSource,
    IntakeRequest,
)
from charter.domain.identity import Actor
from charter.domain.registry import DatasetVersion, DatasetVersionCreate
from charter.evidence import contents, data_intake
from charter.registry import datasets, lineage
from charter.registry.common import find_dataset_version
from charter.store import tables as t
from charter.store.engine import Database

KEY_FILE = "intake.key"


def intake_key(home: Path) -> bytes:
    """The home's tokenisation key, made on first use (0600, never sent anywhere)."""
    path = home / KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
    return path.read_bytes()


def derive(
    db: Database,
    blobs: BlobStore,
    key: bytes,
    actor: Actor,
    dataset: str,
    version: int,
    body: IntakeRequest,
) -> DatasetVersion:
    with db.reading() as session:
        source = find_dataset_version(session, dataset, version)
        content = session.get(t.DatasetContent, source.id)
        target = list(content.target) if content is not None else []
        region, basis, pii = source.data_region, source.legal_basis, source.contains_pii
        source_id = source.id
    features, labels, label = contents.load(db, blobs, source_id)
    frame = (
        features
        if labels is None
        else features.join(labels.to_frame() if labels.ndim == 1 else labels)
    )
    touched = [c for c in body.actions if c in target]
    if touched:
        raise InvalidInput(f"actions: {touched} are label columns; intake changes features only")
    actions = {column: data_intake.IntakeAction(action) for column, action in body.actions.items()}
    try:
        changed, record = data_intake.transform(frame, actions, key)
    except ValueError as exc:
        raise InvalidInput(f"actions: {exc}") from None
    features_after, labels_after = contents.split(changed, target)
    summary = summarize(features_after, labels_after)
    created = datasets.create_dataset_version(
        db,
        actor,
        dataset,
        DatasetVersionCreate(
            uri=f"charter:intake:{label}",
            digest=summary.digest,
            columns=summary.columns,
            row_count=summary.row_count,
            data_region=region,
            legal_basis=basis,
            contains_pii=pii,
            derived_from=DatasetVersionRef(dataset=dataset, version=version),
            description=f"intake of {label}: "
            + ", ".join(f"{c} {a}" for c, a in record["actions"].items()),
        ),
    )
    with tempfile.TemporaryDirectory(prefix="charter-intake-") as tmp:
        path = Path(tmp) / "content.parquet"
        changed.to_parquet(path, index=False)
        info = blobs.put_file(path)
    contents.attach(
        db,
        blobs,
        actor,
        dataset,
        created.version,
        DatasetContentAttach(sha256=info.sha256, target=target),
    )
    with db.transaction() as session:
        dv = find_dataset_version(session, dataset, created.version)
        details = {"source": label, **record}
        row = t.Evidence(
            dataset_version_id=dv.id,
            kind=ComputedKind.DATA_INTAKE.value,
            title=f"intake of {label}",
            source=EvidenceSource.COMPUTED.value,
            details=details,
            submitted_by="charter",
            submitter_roles=[],
            media_type="application/json",
        )
        session.add(row)
        lineage.link_evidence(session, row)
        audit.append(
            session, actor, "evidence.data_intake", f"dataset:{dataset}@{created.version}", details
        )
    return created
