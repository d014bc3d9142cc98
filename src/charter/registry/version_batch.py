"""Registering many versions at once: a bulk import or a pipeline's output, all or nothing."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.artifacts.blobstore import BlobStore
from charter.audit import log as audit
from charter.domain.artifacts import Manifest
from charter.domain.enums import Action
from charter.domain.errors import InvalidInput
from charter.domain.identity import Actor
from charter.domain.registry import ModelVersionSummary
from charter.domain.version_batch import VersionBatch, VersionBatchResult
from charter.policy.access import authorize
from charter.registry import models, registration
from charter.registry.common import locking_models
from charter.store import tables as t
from charter.store.engine import Database


def _where(batch: VersionBatch, index: int) -> str:
    return f"versions[{index}] (model '{batch.versions[index].model}'): "


def _models(
    session: Session, batch: VersionBatch, names: list[str], *, lock: bool
) -> dict[str, t.Model]:
    """The batch's models in one query (locked in name order for the write, so two
    batches never wait on each other in opposite orders)."""
    query = select(t.Model).where(t.Model.name.in_(names)).order_by(t.Model.name)
    found = {m.name: m for m in session.execute(locking_models(query) if lock else query).scalars()}
    for index, item in enumerate(batch.versions):
        if item.model not in found:
            raise InvalidInput(
                _where(batch, index) + f"no model named '{item.model}'; register the model "
                "first (POST /api/v1/models)"
            )
    return found


def register_versions(
    db: Database,
    blobs: BlobStore,
    actor: Actor,
    batch: VersionBatch,
    signer: Ed25519PrivateKey | None = None,
) -> VersionBatchResult:
    """Register every version of `batch` in one transaction, or none of them.

    Each version gets exactly what `registration.create_version` gives one: its number,
    tags, lineage, signature and `version.create` event; each inline blob its
    `blob.upload` event. A version may name an earlier one of the same batch as its
    parent. The first bad item fails the batch with an error naming its index, and
    nothing is recorded.
    """
    contents = batch.decoded_blobs()
    names = sorted({item.model for item in batch.versions})
    with db.reading() as session:
        owners = {
            n: models.resource_of(m) for n, m in _models(session, batch, names, lock=False).items()
        }
    # Decided before anything is written, so a refused batch stores no bytes; and before
    # the write transaction, as for one version: a denial is audited in a transaction of
    # its own.
    if contents:
        authorize(db, actor, Action.ARTIFACT_WRITE, subject="blobs")
    for name in names:
        authorize(db, actor, Action.VERSION_WRITE, owners[name], subject=f"model:{name}")
    # The bytes go in before the records, as for a single upload: content-addressed bytes
    # that no record refers to are harmless; a record of bytes never stored would not be.
    blobs.put_many(contents)
    manifests: list[Manifest] = []
    for index, item in enumerate(batch.versions):
        try:
            manifests.append(registration.check_files(blobs, item.files))
        except InvalidInput as exc:
            raise InvalidInput(_where(batch, index) + exc.message) from exc
    with db.transaction() as session:
        locked = _models(session, batch, names, lock=True)
        new = [
            registration.NewVersion(locked[item.model], item, manifest)
            for item, manifest in zip(batch.versions, manifests, strict=True)
        ]
        inserted = registration.insert_versions(
            session, actor, new, signer, lambda index: _where(batch, index)
        )
        uploads: list[audit.Event] = [
            ("blob.upload", f"blob:{d}", {"size": len(data)}) for d, data in contents.items()
        ]
        registration.finish(session, actor, list(locked.values()), uploads + inserted.events)
    return VersionBatchResult(
        items=[
            ModelVersionSummary.model_validate(v, from_attributes=True) for v in inserted.versions
        ]
    )
