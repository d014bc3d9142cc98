"""Evidence Charter computes: the ML-BOM, vulnerability scans, and the advisory database."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from charter.api.deps import Context, require
from charter.api.params import VersionPath
from charter.api.routing import CharterRoute
from charter.domain.common import Name
from charter.domain.enums import Action
from charter.domain.evidence import (
    AdvisoryImport,
    AdvisoryImportResult,
    CardFields,
    CardFieldsUpdate,
    DatasetEvidence,
    DatasetScan,
    EvaluationRequest,
    Evidence,
    EvidenceCompute,
    IntakeRequest,
    SignatureSubmit,
    SigningKey,
    SigningKeyCreate,
)
from charter.domain.identity import Actor
from charter.domain.registry import DatasetVersion
from charter.evidence import (
    card_fields,
    card_service,
    compute,
    evaluations,
    intake_service,
    pii_service,
    signing_keys,
    supply_chain,
)

router = APIRouter(tags=["evidence"], route_class=CharterRoute)
KeyId = Annotated[str, PathParam(pattern=r"^ed25519:[0-9a-f]{32}$")]
Reader = Annotated[Actor, Depends(require(Action.REGISTRY_READ))]
Writer = Annotated[Actor, Depends(require(Action.EVIDENCE_WRITE))]
Importer = Annotated[Actor, Depends(require(Action.ADVISORY_IMPORT))]
DataWriter = Annotated[Actor, Depends(require(Action.DATASET_WRITE))]
# Every principal manages its own signing keys (as its own tokens); the service asks for
# principal administration when the keys are someone else's.
Self = Annotated[Actor, Depends(require(Action.TOKEN_SELF))]


@router.post(
    "/models/{name}/versions/{version}/evidence/compute",
    status_code=201,
    summary="Compute evidence for a version (ML-BOM, vulnerability scan, ...)",
)
def compute_evidence(
    context: Context, name: Name, version: VersionPath, body: EvidenceCompute, actor: Writer
) -> list[Evidence]:
    return compute.run(context.db, context.blobs, context.gate, actor, name, version, body.kinds)


@router.get(
    "/models/{name}/versions/{version}/bom",
    summary="The version's CycloneDX 1.6 ML bill of materials",
    response_class=Response,
)
async def bom(context: Context, name: Name, version: VersionPath, actor: Reader) -> Response:
    text = await run_in_threadpool(supply_chain.bom_text, context.db, context.blobs, name, version)
    return Response(text, media_type="application/vnd.cyclonedx+json")


@router.post(
    "/advisories",
    summary="Import OSV advisories (uploaded first as a blob); re-scans deployed versions",
)
def import_advisories(
    context: Context, body: AdvisoryImport, actor: Importer
) -> AdvisoryImportResult:
    data = b"".join(context.blobs.open_chunks(body.sha256))
    found = supply_chain.import_advisories(context.db, context.gate, actor, body.name, data)
    return AdvisoryImportResult(**found)


@router.post(
    "/datasets/{name}/versions/{version}/scan",
    status_code=201,
    summary="Scan a dataset version's content for personal data (masked report, evidence)",
)
def scan_dataset(
    context: Context, name: Name, version: VersionPath, body: DatasetScan, actor: DataWriter
) -> DatasetEvidence:
    return pii_service.scan(
        context.db, context.blobs, context.gate, actor, name, version, body.sample_rows
    )


@router.get("/datasets/{name}/versions/{version}/evidence", summary="A dataset version's evidence")
def dataset_evidence(
    context: Context, name: Name, version: VersionPath, actor: Reader
) -> list[DatasetEvidence]:
    return pii_service.list_for(context.db, name, version)


@router.post(
    "/models/{name}/versions/{version}/evaluate",
    status_code=201,
    summary="Evaluate the version on a registered dataset (performance, fairness, ...)",
)
def evaluate(
    context: Context, name: Name, version: VersionPath, body: EvaluationRequest, actor: Writer
) -> list[Evidence]:
    return evaluations.evaluate(context.db, context.blobs, context.gate, actor, name, version, body)


@router.post(
    "/models/{name}/versions/{version}/card",
    status_code=201,
    summary="Generate the version's model card (what its risk tier still needs is listed)",
)
def generate_card(context: Context, name: Name, version: VersionPath, actor: Writer) -> Evidence:
    return card_service.generate(context.db, context.blobs, context.gate, actor, name, version)


@router.get(
    "/models/{name}/versions/{version}/card",
    summary="The latest generated model card, as Markdown (or ?format=html)",
    response_class=Response,
)
async def read_card(
    context: Context,
    name: Name,
    version: VersionPath,
    actor: Reader,
    format: Literal["markdown", "html"] = "markdown",
) -> Response:
    body = await run_in_threadpool(
        card_service.read, context.db, context.blobs, name, version, format == "html"
    )
    media = "text/html; charset=utf-8" if format == "html" else "text/markdown; charset=utf-8"
    return Response(body, media_type=media)


@router.get(
    "/models/{name}/versions/{version}/card/fields",
    summary="The human-written sections of the version's model card",
)
def get_card_fields(
    context: Context, name: Name, version: VersionPath, actor: Reader
) -> CardFields:
    return card_fields.get(context.db, name, version)


@router.patch(
    "/models/{name}/versions/{version}/card/fields",
    summary='Write (or clear with "") sections of the model card',
)
def update_card_fields(
    context: Context, name: Name, version: VersionPath, body: CardFieldsUpdate, actor: Writer
) -> CardFields:
    return card_fields.update(context.db, actor, name, version, body)


@router.post(
    "/datasets/{name}/versions/{version}/intake",
    status_code=201,
    summary="Mask, tokenise or drop columns into a new dataset version derived from this one",
)
def intake(
    context: Context, name: Name, version: VersionPath, body: IntakeRequest, actor: DataWriter
) -> DatasetVersion:
    key = intake_service.intake_key(context.settings.home)
    return intake_service.derive(context.db, context.blobs, key, actor, name, version, body)


@router.post(
    "/principals/{name}/keys",
    status_code=201,
    summary="Register an Ed25519 public key to sign the versions one registers",
)
def register_key(context: Context, name: Name, body: SigningKeyCreate, actor: Self) -> SigningKey:
    return signing_keys.register(context.db, actor, name, body.public_key)


@router.get("/principals/{name}/keys", summary="A principal's signing keys")
def list_keys(context: Context, name: Name, actor: Reader) -> list[SigningKey]:
    return signing_keys.list_keys(context.db, name)


@router.delete("/principals/{name}/keys/{key_id}", summary="Revoke a signing key")
def revoke_key(context: Context, name: Name, key_id: KeyId, actor: Self) -> SigningKey:
    return signing_keys.revoke(context.db, actor, name, key_id)


@router.post(
    "/models/{name}/versions/{version}/signatures",
    status_code=201,
    summary="Submit the author's own signature of the version (checked, then evidence)",
)
def submit_signature(
    context: Context, name: Name, version: VersionPath, body: SignatureSubmit, actor: Writer
) -> Evidence:
    return signing_keys.submit(context.db, context.gate, actor, name, version, body.statement)
