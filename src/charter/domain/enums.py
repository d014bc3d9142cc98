"""Enumerations of the domain: risk tiers, stages, roles, actions."""

from __future__ import annotations

from enum import StrEnum


class RiskTier(StrEnum):
    """EU AI Act risk categories."""

    UNACCEPTABLE = "unacceptable"
    HIGH = "high"
    LIMITED = "limited"
    MINIMAL = "minimal"


class Stage(StrEnum):
    NONE = "none"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


class RunStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    KILLED = "killed"


class PrincipalKind(StrEnum):
    USER = "user"
    SERVICE = "service"


class Role(StrEnum):
    ADMIN = "admin"
    DATA_SCIENTIST = "data_scientist"
    ML_ENGINEER = "ml_engineer"
    VALIDATOR = "validator"
    RISK_OFFICER = "risk_officer"
    AUDITOR = "auditor"
    CONSUMER = "consumer"


class Action(StrEnum):
    """Every operation a principal can be allowed to perform."""

    REGISTRY_READ = "registry:read"
    MODEL_WRITE = "model:write"
    VERSION_WRITE = "version:write"
    VERSION_ALIAS = "version:alias"
    DATASET_WRITE = "dataset:write"
    RUN_WRITE = "run:write"
    ARTIFACT_READ = "artifact:read"
    ARTIFACT_WRITE = "artifact:write"
    PRINCIPAL_READ = "principal:read"
    PRINCIPAL_ADMIN = "principal:admin"
    TOKEN_SELF = "token:self"
    TOKEN_ADMIN = "token:admin"
    AUDIT_READ = "audit:read"
    AUDIT_CHECKPOINT = "audit:checkpoint"
    POLICY_READ = "policy:read"
    POLICY_ADMIN = "policy:admin"
    MODEL_INVOKE = "model:invoke"
    ADVISORY_IMPORT = "advisory:import"
    EVIDENCE_WRITE = "evidence:write"
    PROMOTION_REQUEST = "promotion:request"
    PROMOTION_APPROVE = "promotion:approve"
    PROMOTION_REJECT = "promotion:reject"
    PROMOTION_OVERRIDE = "promotion:override"
    # Not a permission: the action the promotion gate's rules are written for.
    GATE_PROMOTE = "gate:promote"


class NodeKind(StrEnum):
    """Kinds of node in the lineage graph."""

    DATASET_VERSION = "dataset"
    RUN = "run"
    MODEL_VERSION = "model"
    EVIDENCE = "evidence"
