"""Evidence attached to model versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from charter.api.deps import Context, require
from charter.api.params import VersionPath
from charter.api.routing import CharterRoute
from charter.domain.common import Name
from charter.domain.enums import Action
from charter.domain.evidence import (
    DatasetContent,
    DatasetContentAttach,
    Evidence,
    EvidenceCreate,
    SignatureReport,
)
from charter.domain.identity import Actor
from charter.evidence import contents, documents, signatures

router = APIRouter(tags=["evidence"], route_class=CharterRoute)
Reader = Annotated[Actor, Depends(require(Action.REGISTRY_READ))]
Writer = Annotated[Actor, Depends(require(Action.EVIDENCE_WRITE))]
DataWriter = Annotated[Actor, Depends(require(Action.DATASET_WRITE))]


@router.get("/models/{name}/versions/{version}/evidence", summary="A version's evidence")
def list_evidence(
    context: Context, name: Name, version: VersionPath, actor: Reader
) -> list[Evidence]:
    return documents.list_evidence(context.db, name, version)


@router.post(
    "/models/{name}/versions/{version}/evidence",
    status_code=201,
    summary="Attach an uploaded document as evidence (immutable)",
)
def attach(
    context: Context, name: Name, version: VersionPath, body: EvidenceCreate, actor: Writer
) -> Evidence:
    return documents.attach(context.db, context.blobs, context.gate, actor, name, version, body)


@router.put(
    "/datasets/{name}/versions/{version}/content",
    status_code=201,
    summary="Attach a dataset version's content (Parquet), verified against its digest",
)
def attach_content(
    context: Context,
    name: Name,
    version: VersionPath,
    body: DatasetContentAttach,
    actor: DataWriter,
) -> DatasetContent:
    return contents.attach(context.db, context.blobs, actor, name, version, body)


@router.get(
    "/datasets/{name}/versions/{version}/content", summary="Where a dataset version's content is"
)
def get_content(
    context: Context, name: Name, version: VersionPath, actor: Reader
) -> DatasetContent:
    return contents.get(context.db, name, version)


@router.get(
    "/models/{name}/versions/{version}/signature",
    summary="The version's signed manifest statement, whether it verifies, and the key",
)
def signature(context: Context, name: Name, version: VersionPath, actor: Reader) -> SignatureReport:
    return signatures.report(context.db, name, version)
