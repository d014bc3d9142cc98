"""Schemas of the registry: models, versions, datasets, runs and stage history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from charter.domain.artifacts import ManifestEntry
from charter.domain.common import (
    CodeRef,
    ColumnSchema,
    DatasetVersionRef,
    Environment,
    JsonObject,
    Metrics,
    ModelVersionRef,
    Name,
    Region,
    Request,
    Response,
    SafeStr,
    ShortText,
    Stamped,
    Tags,
    Text,
    UtcDatetime,
)
from charter.domain.enums import RiskTier, RunStatus, Stage

# --- models -----------------------------------------------------------------------------------


class ModelCreate(Request):
    name: Name
    risk_tier: RiskTier
    description: Text = ""
    business_owner: Name | None = Field(None, description="username of the accountable owner")
    technical_owner: Name | None = Field(None, description="username of the technical owner")
    business_unit: ShortText | None = None
    intended_use: Text = ""
    approved_regions: list[Region] = Field(default_factory=list, max_length=64)
    tags: Tags = Field(default_factory=dict)


class ModelUpdate(Request):
    """Only the fields given change; absent fields keep their value."""

    description: Text | None = None
    business_owner: Name | None = None
    technical_owner: Name | None = None
    business_unit: ShortText | None = None
    intended_use: Text | None = None
    risk_tier: RiskTier | None = None
    approved_regions: list[Region] | None = Field(None, max_length=64)
    tags: Tags | None = Field(None, description="replaces the whole tag set")


class BreakGlass(Response):
    """A promotion that went through on a break-glass override: shown on the version and
    its model for good, so no later report can leave it out."""

    request: int
    version: int
    to_stage: Stage
    reason: str
    requested_by: str
    confirmed_by: str
    overridden: list[str]
    at: datetime


class Model(Stamped):
    name: str
    description: str
    risk_tier: RiskTier
    business_owner: str | None
    technical_owner: str | None
    business_unit: str | None
    intended_use: str
    approved_regions: list[str]
    tags: dict[str, str]
    created_by: str
    updated_at: datetime
    latest_version: int | None = None
    aliases: dict[str, int] = Field(default_factory=dict)
    break_glass: list[BreakGlass] = Field(default_factory=list)


# --- model versions ---------------------------------------------------------------------------


class ModelVersionCreate(Request):
    files: list[ManifestEntry] = Field(
        min_length=1, max_length=10_000, description="every file; blobs must be uploaded first"
    )
    flavor: Annotated[SafeStr, Field(min_length=1, max_length=64)] = Field(
        description="serialisation format, e.g. 'skops', 'onnx'"
    )
    framework: ShortText | None = Field(None, description="e.g. 'scikit-learn 1.5.2'")
    description: Text = ""
    input_schema: list[ColumnSchema] = Field(default_factory=list, max_length=10_000)
    output_schema: list[ColumnSchema] = Field(default_factory=list, max_length=10_000)
    params: JsonObject = Field(default_factory=dict)
    metrics: Metrics = Field(default_factory=dict, description="self-reported by the author")
    code: CodeRef | None = None
    environment: Environment | None = None
    training_datasets: list[DatasetVersionRef] = Field(default_factory=list, max_length=100)
    evaluation_datasets: list[DatasetVersionRef] = Field(default_factory=list, max_length=100)
    parent: ModelVersionRef | None = None
    run_id: Annotated[int, Field(ge=1, le=2**62)] | None = None
    tags: Tags = Field(default_factory=dict)


class ModelVersionUpdate(Request):
    description: Text | None = None
    tags: Tags | None = Field(None, description="replaces the whole tag set")


class ModelVersionSummary(Stamped):
    model: str
    version: int
    stage: Stage
    flavor: str
    manifest_digest: str
    author: str
    run_id: int | None
    description: str
    tags: dict[str, str]
    aliases: list[str] = Field(default_factory=list)
    break_glass: list[BreakGlass] = Field(default_factory=list)


class ModelVersion(ModelVersionSummary):
    framework: str | None
    files: list[ManifestEntry]
    input_schema: list[ColumnSchema]
    output_schema: list[ColumnSchema]
    params: dict[str, Any]
    metrics: dict[str, float]
    code: CodeRef | None
    environment: Environment | None
    training_datasets: list[DatasetVersionRef]
    evaluation_datasets: list[DatasetVersionRef]
    parent: ModelVersionRef | None


class StageChange(Request):
    stage: Stage
    comment: Text = ""


class StageTransition(Response):
    model: str
    version: int
    from_stage: Stage
    to_stage: Stage
    actor: str
    comment: str
    at: datetime


class AliasSet(Request):
    version: Annotated[int, Field(ge=1, le=2**31)]


# --- datasets ---------------------------------------------------------------------------------


class DatasetCreate(Request):
    name: Name
    description: Text = ""
    owner: Name | None = None
    business_unit: ShortText | None = None
    tags: Tags = Field(default_factory=dict)


class DatasetUpdate(Request):
    description: Text | None = None
    owner: Name | None = None
    business_unit: ShortText | None = None
    tags: Tags | None = None


class Dataset(Stamped):
    name: str
    description: str
    owner: str | None
    business_unit: str | None
    tags: dict[str, str]
    created_by: str
    latest_version: int | None = None


class DatasetVersionCreate(Request):
    uri: Annotated[SafeStr, Field(min_length=1, max_length=2048)]
    digest: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")] = Field(
        description="content digest, 'sha256:<hex>'"
    )
    columns: list[ColumnSchema] = Field(default_factory=list, max_length=10_000)
    row_count: Annotated[int, Field(ge=0, le=2**62)] | None = None
    data_region: Region | None = None
    legal_basis: ShortText | None = Field(
        None, description="GDPR legal basis or consent tag, e.g. 'contract', 'consent:2024-03'"
    )
    contains_pii: bool = False
    derived_from: DatasetVersionRef | None = None
    description: Text = ""


class DatasetVersion(Response):
    dataset: str
    version: int
    uri: str
    digest: str
    columns: list[ColumnSchema]
    row_count: int | None
    data_region: str | None
    legal_basis: str | None
    contains_pii: bool
    derived_from: DatasetVersionRef | None
    description: str
    created_by: str
    created_at: datetime


# --- runs -------------------------------------------------------------------------------------


class RunCreate(Request):
    name: ShortText = ""
    params: JsonObject = Field(default_factory=dict)
    metrics: Metrics = Field(default_factory=dict)
    code: CodeRef | None = None
    environment: Environment | None = None
    inputs: list[DatasetVersionRef] = Field(default_factory=list, max_length=100)
    status: RunStatus = RunStatus.RUNNING
    started_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    tags: Tags = Field(default_factory=dict)


class RunUpdate(Request):
    status: RunStatus | None = None
    metrics: Metrics | None = Field(None, description="merged into the recorded metrics")
    ended_at: UtcDatetime | None = None
    tags: Tags | None = None


class Run(Stamped):
    id: int
    name: str
    status: RunStatus
    params: dict[str, Any]
    metrics: dict[str, float]
    code: CodeRef | None
    environment: Environment | None
    inputs: list[DatasetVersionRef]
    outputs: list[ModelVersionRef]
    started_at: datetime
    ended_at: datetime | None
    created_by: str
    tags: dict[str, str]
