"""SQLAlchemy tables of Charter's metadata; the migrations must produce exactly these."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# SQLite's INTEGER PRIMARY KEY autoincrements only as plain INTEGER; PostgreSQL wants BIGINT.
Id = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back aware datetimes, also on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; Charter stores only timezone-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Principal(Base):
    __tablename__ = "principals"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(512), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    roles: Mapped[list[Any]] = mapped_column(JSON)
    business_unit: Mapped[str | None] = mapped_column(String(512))
    # Attributes policies refine access with: where the principal acts from, and the
    # purposes it may call models for (GDPR purpose limitation).
    region: Mapped[str | None] = mapped_column(String(64))
    purposes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revision: Mapped[int] = mapped_column(Integer, default=1)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    principal_id: Mapped[int] = mapped_column(ForeignKey("principals.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    revision: Mapped[int] = mapped_column(Integer, default=1)


class Model(Base):
    __tablename__ = "models"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    risk_tier: Mapped[str] = mapped_column(String(16), index=True)
    business_owner: Mapped[str | None] = mapped_column(String(128), index=True)
    technical_owner: Mapped[str | None] = mapped_column(String(128), index=True)
    business_unit: Mapped[str | None] = mapped_column(String(512), index=True)
    intended_use: Mapped[str] = mapped_column(Text, default="")
    approved_regions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # A read copy of the whole model as the API shows it (JSON text), rewritten from the
    # tables on every change to the model, its tags, its versions' count or its aliases.
    document: Mapped[str] = mapped_column(Text)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(16), index=True, default="none")
    flavor: Mapped[str] = mapped_column(String(64))
    framework: Mapped[str | None] = mapped_column(String(512))
    description: Mapped[str] = mapped_column(Text, default="")
    manifest: Mapped[list[Any]] = mapped_column(JSON)
    manifest_digest: Mapped[str] = mapped_column(String(64), index=True)
    input_schema: Mapped[list[Any]] = mapped_column(JSON, default=list)
    output_schema: Mapped[list[Any]] = mapped_column(JSON, default=list)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    code: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    environment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    author: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # Read copies, as JSON text, so a lookup or a page is one query and one parse: the
    # version's summary (rewritten from the tables above on every change) and its
    # immutable details except the environment (written once, at registration).
    summary: Mapped[str] = mapped_column(Text)
    document: Mapped[str] = mapped_column(Text)


class StageTransition(Base):
    __tablename__ = "stage_transitions"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    from_stage: Mapped[str] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelAlias(Base):
    __tablename__ = "model_aliases"
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(128), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str | None] = mapped_column(String(128), index=True)
    business_unit: Mapped[str | None] = mapped_column(String(512), index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    revision: Mapped[int] = mapped_column(Integer, default=1)


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    version: Mapped[int] = mapped_column(Integer)
    uri: Mapped[str] = mapped_column(String(2048))
    digest: Mapped[str] = mapped_column(String(80), index=True)
    columns: Mapped[list[Any]] = mapped_column(JSON, default=list)
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    data_region: Mapped[str | None] = mapped_column(String(64))
    legal_basis: Mapped[str | None] = mapped_column(String(512))
    contains_pii: Mapped[bool] = mapped_column(Boolean, default=False)
    derived_from_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(512), default="")
    status: Mapped[str] = mapped_column(String(16), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    code: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    environment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revision: Mapped[int] = mapped_column(Integer, default=1)


class Tag(Base):
    """Tags of every entity kind in one table, indexed for key=value filtering."""

    __tablename__ = "tags"
    # On SQLite the primary key is the table itself (WITHOUT ROWID), so reading an entity's
    # tags is one covering range scan; otherwise, without statistics, the planner prefers
    # scanning the covering lookup index over every entity of the kind.
    __table_args__ = (
        Index("ix_tags_lookup", "entity_kind", "key", "value", "entity_id"),
        {"sqlite_with_rowid": False},
    )
    entity_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    entity_id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(512))


class LineageEdge(Base):
    """A directed edge source -> target; node ids are 'kind:internal-id'."""

    __tablename__ = "lineage_edges"
    __table_args__ = (Index("ix_lineage_edges_target", "target", "source"),)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    target: Mapped[str] = mapped_column(String(64), primary_key=True)
    relation: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditHead(Base):
    """The single row every audit append locks: the tree's size and compact frontier.

    Locking it makes concurrent writers queue, so sequence numbers are gapless and the
    frontier (the roots of the perfect subtrees, RFC 9162) lets an append hash O(log n).
    `origin` names this log in its signed checkpoints.
    """

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    frontier: Mapped[bytes] = mapped_column(LargeBinary)
    origin: Mapped[str] = mapped_column(String(128))
    # Entries up to here were moved to archive bundles; their rows and leaves remain.
    archived_through: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditEvent(Base):
    """One event; `entry` is its canonical JSON, the exact bytes the Merkle leaf hashes.

    The other columns repeat fields of the entry so queries can use indexes; the verifier
    checks they still agree with it. `entry` is NULL only once `charter audit archive`
    has moved it to a verified archive bundle; the leaf stays, so the tree still verifies.
    """

    __tablename__ = "audit_events"
    # INTEGER on SQLite makes seq the rowid itself: one B-tree fewer to write per append.
    seq: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(512), index=True)
    entry: Mapped[str | None] = mapped_column(Text)
    leaf: Mapped[bytes] = mapped_column(LargeBinary)

    @property
    def payload(self) -> dict[str, Any]:
        """Who acted and what changed, as recorded in the entry."""
        if self.entry is None:
            raise ValueError(f"audit event {self.seq} is archived; read it from its archive")
        record = json.loads(self.entry)
        return {"actor": record["actor"], "change": record["change"]}


class AuditTile(Base):
    """Hash of each complete run of 256 leaves (a level-8 node), kept for fast proofs."""

    __tablename__ = "audit_tiles"
    idx: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class AuditCheckpoint(Base):
    """A signed tree head: the C2SP signed note, plus its fields for lookups."""

    __tablename__ = "audit_checkpoints"
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column()
    key_hash: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(Text)


class AuditKey(Base):
    """Every key that has signed checkpoints of this log, as a signed-note verifier key."""

    __tablename__ = "audit_keys"
    key_hash: Mapped[str] = mapped_column(String(8), primary_key=True)
    verifier_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PolicyBundle(Base):
    """A pushed policy bundle; the highest version is in force (0 is the shipped default)."""

    __tablename__ = "policy_bundles"
    version: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    files: Mapped[dict[str, Any]] = mapped_column(JSON)
    pushed_by: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Evidence(Base):
    """An immutable fact attached to a model version: a document someone submitted (model
    card, transparency notice, validation report) or a result Charter computed."""

    __tablename__ = "evidence"
    __table_args__ = (
        Index("ix_evidence_version_kind", "version_id", "kind"),
        Index("ix_evidence_dataset_version_kind", "dataset_version_id", "kind"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    # Evidence is about a model version, or (PII scans) about a dataset version.
    version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(512), default="")
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(128), default="")
    source: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    submitted_by: Mapped[str] = mapped_column(String(128))
    submitter_roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PromotionRequest(Base):
    """A request to move a model version into a stage, decided by the gate and approvals."""

    __tablename__ = "promotion_requests"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    from_stage: Mapped[str] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(512), default="")
    status: Mapped[str] = mapped_column(String(16), index=True)
    requested_by: Mapped[str] = mapped_column(String(128), index=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    break_glass_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    executed_by: Mapped[str | None] = mapped_column(String(128))
    # The latest gate evaluation (JSON text): what the request showed when last changed.
    evaluation: Mapped[str | None] = mapped_column(Text)
    overridden: Mapped[list[Any]] = mapped_column(JSON, default=list)
    revision: Mapped[int] = mapped_column(Integer, default=1)


class PromotionDecision(Base):
    """One person's approval or rejection of a promotion request; one per person."""

    __tablename__ = "promotion_decisions"
    __table_args__ = (UniqueConstraint("request_id", "principal"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("promotion_requests.id"), index=True)
    principal: Mapped[str] = mapped_column(String(128))
    verdict: Mapped[str] = mapped_column(String(16))
    roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetContent(Base):
    """The uploaded content of a dataset version (a Parquet blob), verified against the
    version's digest, so Charter can scan it and evaluate models on it."""

    __tablename__ = "dataset_contents"
    dataset_version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(16))
    target: Mapped[list[Any]] = mapped_column(JSON, default=list)
    rows: Mapped[int] = mapped_column(BigInteger)
    attached_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Advisory(Base):
    """A vulnerability advisory in OSV format, imported from an offline database."""

    __tablename__ = "advisories"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    ecosystem: Mapped[str] = mapped_column(String(64), index=True)
    modified: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    imported_by: Mapped[str] = mapped_column(String(128))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class PrincipalKey(Base):
    """An Ed25519 public key a principal registered to sign the versions it registers."""

    __tablename__ = "principal_keys"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    principal: Mapped[str] = mapped_column(String(128), index=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    public_key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()


class ModelCardField(Base):
    """A human-written section of a version's model card; the rest is generated."""

    __tablename__ = "model_card_fields"
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), primary_key=True)
    section: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
