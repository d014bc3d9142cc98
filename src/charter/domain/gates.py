"""Schemas of promotion gates: the facts a gate reads, its verdict, requests and decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from charter.domain.common import Name, Request, Response, ShortText, Text
from charter.domain.enums import Stage

# A break-glass reason must say something an auditor can read later.
Reason = Annotated[Text, Field(min_length=10)]


class PromotionStatus(StrEnum):
    OPEN = "open"
    EXECUTED = "executed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class Verdict(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class Requirements:
    """What the bundle's data.json asks of one risk tier entering one stage.

    Every field defaults to the strictest reading that still lets a stage with no entry
    (`none`, `archived`) be entered: nothing required, deployable.
    """

    deployable: bool = True
    model_card: bool = False
    metrics: bool = False
    transparency_notice: bool = False
    validation: bool = False
    approvals: int = 0
    business_owner_signoff: bool = False
    region_required: bool = False
    data_residency: bool = False
    # Evidence Charter computes (issue 6).
    signature: bool = False
    ml_bom: bool = False
    no_high_vulnerabilities: bool = False
    pii_cleared: bool = False
    fairness: bool = False
    model_card_complete: bool = False
    # Fairness thresholds in basis points (0.1 = 1000): Cedar compares whole numbers.
    max_demographic_parity_bp: int = 10_000
    max_equalized_odds_bp: int = 10_000


@dataclass(frozen=True)
class GateFacts:
    """Everything a gate may read about one promotion, derived in one place
    (`charter.gates.facts`) so the Cedar and OPA engines see the same thing.

    Counting rules are applied during derivation: `approvers` holds only principals who may
    count (validators or risk officers who did not author the version or its run, and not
    the business owner, whose approval is the sign-off); each person counts once.
    """

    model: str
    version: int
    target_stage: str
    region: str
    risk_tier: str
    business_unit: str
    approved_regions: frozenset[str]
    business_owner: str
    author: str
    run_authors: frozenset[str]
    training_data_regions: frozenset[str]
    metrics: bool
    model_card: bool
    transparency_notice: bool
    independent_validation: bool
    approvers: frozenset[str]
    business_owner_signed: bool
    requested_by: str
    break_glass: bool
    requirements: Requirements
    allowed_data_regions: frozenset[str]
    signature_valid: bool = False
    ml_bom: bool = False
    vulnerability_scanned: bool = False
    high_vulnerabilities: int = 0
    pii_cleared: bool = False
    fairness_evaluated: bool = False
    demographic_parity_bp: int = 0
    equalized_odds_bp: int = 0
    model_card_complete: bool = False

    def document(self) -> dict[str, Any]:
        """The gate's input document: what an OPA policy reads as `input` (docs/opa.md)."""
        return {
            "request": {
                "target_stage": self.target_stage,
                "region": self.region,
                "requested_by": self.requested_by,
                "break_glass": self.break_glass,
            },
            "model": {
                "name": self.model,
                "risk_tier": self.risk_tier,
                "business_unit": self.business_unit,
                "approved_regions": sorted(self.approved_regions),
                "business_owner": self.business_owner,
            },
            "version": {
                "version": self.version,
                "author": self.author,
                "run_authors": sorted(self.run_authors),
                "training_data_regions": sorted(self.training_data_regions),
                "metrics": self.metrics,
            },
            "evidence": {
                "model_card": self.model_card,
                "transparency_notice": self.transparency_notice,
                "independent_validation": self.independent_validation,
                "signature_valid": self.signature_valid,
                "ml_bom": self.ml_bom,
                "vulnerability_scanned": self.vulnerability_scanned,
                "high_vulnerabilities": self.high_vulnerabilities,
                "pii_cleared": self.pii_cleared,
                "fairness_evaluated": self.fairness_evaluated,
                "demographic_parity_bp": self.demographic_parity_bp,
                "equalized_odds_bp": self.equalized_odds_bp,
                "model_card_complete": self.model_card_complete,
            },
            "approvals": {
                "count": len(self.approvers),
                "approvers": sorted(self.approvers),
                "business_owner_signed": self.business_owner_signed,
            },
            "requirements": {
                "deployable": self.requirements.deployable,
                "model_card": self.requirements.model_card,
                "metrics": self.requirements.metrics,
                "transparency_notice": self.requirements.transparency_notice,
                "validation": self.requirements.validation,
                "approvals": self.requirements.approvals,
                "business_owner_signoff": self.requirements.business_owner_signoff,
                "region_required": self.requirements.region_required,
                "data_residency": self.requirements.data_residency,
                "signature": self.requirements.signature,
                "ml_bom": self.requirements.ml_bom,
                "no_high_vulnerabilities": self.requirements.no_high_vulnerabilities,
                "pii_cleared": self.requirements.pii_cleared,
                "fairness": self.requirements.fairness,
                "model_card_complete": self.requirements.model_card_complete,
                "max_demographic_parity_bp": self.requirements.max_demographic_parity_bp,
                "max_equalized_odds_bp": self.requirements.max_equalized_odds_bp,
            },
            "data_residency": {"allowed_regions": sorted(self.allowed_data_regions)},
        }


@dataclass(frozen=True)
class Violation:
    """A rule that blocks, as an engine reports it."""

    rule: str
    reason: str
    overridable: bool = True


@dataclass(frozen=True)
class GateOutcome:
    """An engine's answer: allowed, or the rules that block. `rules` names every rule the
    engine evaluated (for the pass/fail table); `engine` says which engine and version."""

    allowed: bool
    violations: tuple[Violation, ...]
    rules: tuple[tuple[str, str], ...] = ()
    engine: str = ""
    errors: tuple[str, ...] = field(default=())


class GateRule(Response):
    rule: str
    passed: bool
    reason: str
    overridable: bool = True


class GateEvaluation(Response):
    """A gate's verdict on a promotion, with every rule it evaluated and the facts it read."""

    allowed: bool
    engine: str = Field(description="cedar bundle version and digest, or the OPA URL")
    rules: list[GateRule]
    blocking: list[str] = Field(description="ids of the rules that fail")
    facts: dict[str, Any]
    evaluated_at: datetime


class PromotionCreate(Request):
    model: Name
    version: int = Field(ge=1, le=2**31)
    to: Stage = Field(description="the stage to enter")
    region: ShortText = Field("", description="target region of the deployment")
    comment: Text = ""
    break_glass_reason: Reason | None = Field(
        None,
        description="admins only: override the gate's overridable rules once a second "
        "admin approves; audited as break-glass and shown on the model for good",
    )


class PromotionDecide(Request):
    comment: Text = ""


class PromotionReject(Request):
    comment: Annotated[Text, Field(min_length=1)]


class PromotionDecision(Response):
    principal: str
    verdict: Verdict
    roles: list[str]
    comment: str
    at: datetime


class Promotion(Response):
    id: int
    model: str
    version: int
    from_stage: Stage
    to_stage: Stage
    region: str
    status: PromotionStatus
    requested_by: str
    comment: str
    break_glass_reason: str | None
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    executed_by: str | None
    decisions: list[PromotionDecision]
    gate: GateEvaluation | None
    overridden: list[str] = Field(
        default_factory=list, description="rules a break-glass execution overrode"
    )
    revision: int
