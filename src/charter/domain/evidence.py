"""Schemas of evidence: immutable facts attached to a model version."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from charter.domain.common import DatasetVersionRef, Request, Response, ShortText


class EvidenceKind(StrEnum):
    """Documents people submit. Evidence Charter computes itself has kinds of its own."""

    MODEL_CARD = "model_card"
    TRANSPARENCY_NOTICE = "transparency_notice"
    VALIDATION_REPORT = "validation_report"


class ComputedKind(StrEnum):
    """Evidence Charter produces itself from verified inputs."""

    SIGNATURE = "signature"
    ML_BOM = "ml_bom"
    VULNERABILITY_SCAN = "vulnerability_scan"
    PII_SCAN = "pii_scan"
    PERFORMANCE = "performance_evaluation"
    FAIRNESS = "fairness_evaluation"
    ROBUSTNESS = "robustness_evaluation"
    EXPLAINABILITY = "explainability"
    MODEL_CARD = "generated_model_card"
    DATA_INTAKE = "data_intake"


class EvidenceSource(StrEnum):
    SUBMITTED = "submitted"  # a person's document: who submitted it is recorded
    COMPUTED = "computed"  # produced by Charter from verified inputs


_TOKEN = r"[a-z0-9][a-z0-9!#$&^_.+-]*"
MediaType = Annotated[str, StringConstraints(max_length=128, pattern=rf"^{_TOKEN}/{_TOKEN}$")]


class EvidenceCreate(Request):
    kind: EvidenceKind
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] = Field(
        description="digest of the document, uploaded first with PUT /blobs/{sha256}"
    )
    title: ShortText = ""
    media_type: MediaType = "text/markdown"


class Evidence(Response):
    id: int
    model: str
    version: int
    kind: str
    source: EvidenceSource
    title: str
    sha256: str | None
    size: int | None
    media_type: str
    submitted_by: str
    submitter_roles: list[str]
    details: dict[str, Any]
    created_at: datetime


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class DatasetContentAttach(Request):
    sha256: Sha256 = Field(description="the Parquet file, uploaded first with PUT /blobs/{sha256}")
    target: list[ColumnName] = Field(
        default_factory=list,
        max_length=100,
        description="the label column(s), as they were when the version's digest was taken",
    )


class DatasetContent(Response):
    dataset: str
    version: int
    sha256: str
    format: str
    target: list[str]
    rows: int
    attached_by: str
    created_at: datetime


class CardSection(StrEnum):
    """Sections of a model card (Mitchell et al., "Model Cards for Model Reporting")."""

    MODEL_DETAILS = "model_details"
    INTENDED_USE = "intended_use"
    FACTORS = "factors"
    METRICS = "metrics"
    EVALUATION_DATA = "evaluation_data"
    TRAINING_DATA = "training_data"
    QUANTITATIVE_ANALYSES = "quantitative_analyses"
    ETHICAL_CONSIDERATIONS = "ethical_considerations"
    CAVEATS = "caveats_and_recommendations"


class CardFieldsUpdate(Request):
    """Human-written sections; a section set to "" is cleared."""

    fields: dict[CardSection, Annotated[str, StringConstraints(max_length=20_000)]] = Field(
        min_length=1
    )


class CardFields(Response):
    model: str
    version: int
    fields: dict[str, str]
    updated: dict[str, str] = Field(description="section -> who last wrote it")


class SignatureReport(Response):
    """A version's signed statement, whether it verifies, and the key to check it with."""

    model: str
    version: int
    statement: dict[str, Any]
    valid: bool
    problems: list[str]
    public_key: str | None = Field(description="PEM of the signing key, when Charter trusts it")


class EvidenceCompute(Request):
    kinds: list[ComputedKind] = Field(
        min_length=1, max_length=len(ComputedKind), description="what to compute"
    )


class AdvisoryImport(Request):
    sha256: Sha256 = Field(description="an OSV JSON file or zip, uploaded with PUT /blobs/{sha256}")
    name: Annotated[str, StringConstraints(min_length=1, max_length=256)] = "advisories"


class AdvisoryImportResult(Response):
    advisories: int
    added: int
    updated: int
    rescanned_vulnerable: list[str] = Field(
        description="versions in staging or production that the new advisories affect"
    )


class DatasetScan(Request):
    sample_rows: Annotated[int, Field(ge=1, le=10**9)] | None = Field(
        None, description="scan at most this many rows (default: all)"
    )


class DatasetEvidence(Response):
    id: int
    dataset: str
    version: int
    kind: str
    title: str
    details: dict[str, Any]
    submitted_by: str
    created_at: datetime


class EvaluationRequest(Request):
    dataset: DatasetVersionRef | None = Field(
        None, description="the evaluation data (default: the version's evaluation dataset)"
    )
    sensitive_features: list[ColumnName] = Field(default_factory=list, max_length=20)


class IntakeRequest(Request):
    actions: dict[ColumnName, Literal["mask", "tokenise", "drop"]] = Field(
        min_length=1, max_length=1000, description="column -> mask, tokenise or drop"
    )


class SigningKeyCreate(Request):
    public_key: Annotated[str, StringConstraints(min_length=40, max_length=512)] = Field(
        description="an Ed25519 public key as PEM (-----BEGIN PUBLIC KEY-----)"
    )


class SigningKey(Response):
    key_id: str
    principal: str
    public_key: str
    created_at: datetime
    revoked_at: datetime | None


class SignatureSubmit(Request):
    statement: dict[str, Any] = Field(
        description="a statement made with charter.evidence.manifest_signing.sign"
    )
