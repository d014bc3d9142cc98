"""Deriving a promotion's gate facts from the registry: the one step where counting
rules (who may approve, what makes a validation independent) are applied."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.domain.enums import NodeKind, Role
from charter.domain.evidence import ComputedKind, EvidenceKind
from charter.domain.gates import GateFacts, Verdict
from charter.evidence import signatures
from charter.policy.gate_data import GateData
from charter.registry import lineage
from charter.store import tables as t

UNKNOWN_REGION = "unknown"
# Only these roles' approvals count towards a gate's required approvals.
APPROVER_ROLES = frozenset({Role.VALIDATOR.value, Role.RISK_OFFICER.value})


@dataclass(frozen=True)
class Ask:
    """What is being asked: a version into a stage, in a region, by someone."""

    target_stage: str
    region: str
    requested_by: str
    break_glass: bool = False


@dataclass(frozen=True)
class Approval:
    principal: str
    roles: frozenset[str]


def authors(session: Session, mv: t.ModelVersion) -> tuple[str, frozenset[str]]:
    """The version's author and the authors of every run that produced it."""
    version_node = lineage.node(NodeKind.MODEL_VERSION, mv.id)
    run_ids = {mv.run_id} if mv.run_id is not None else set()
    produced = session.execute(
        select(t.LineageEdge.source).where(
            t.LineageEdge.target == version_node, t.LineageEdge.relation == "produced"
        )
    ).scalars()
    run_ids |= {int(source.split(":", 1)[1]) for source in produced}
    if not run_ids:
        return mv.author, frozenset()
    found = session.execute(select(t.Run.created_by).where(t.Run.id.in_(run_ids))).scalars()
    return mv.author, frozenset(found)


def _training_regions(session: Session, mv: t.ModelVersion) -> frozenset[str]:
    """Regions of the data the version was trained on: datasets linked as training data,
    and the inputs of the runs that produced it. Data with no region is 'unknown', which
    no allowed list contains, so it blocks a residency rule rather than slipping by."""
    ids = _training_ids(session, mv)
    if not ids:
        return frozenset()
    regions = session.execute(
        select(t.DatasetVersion.data_region).where(t.DatasetVersion.id.in_(ids))
    ).scalars()
    return frozenset(region or UNKNOWN_REGION for region in regions)


def _latest(
    session: Session,
    kind: str,
    *,
    version_id: int | None = None,
    dataset_version_id: int | None = None,
) -> dict[str, object] | None:
    """The details of the newest evidence of `kind` about a version or a dataset version."""
    query = select(t.Evidence.details).where(t.Evidence.kind == kind)
    if version_id is not None:
        query = query.where(t.Evidence.version_id == version_id)
    else:
        query = query.where(t.Evidence.dataset_version_id == dataset_version_id)
    found = session.execute(query.order_by(t.Evidence.id.desc()).limit(1)).scalar()
    return dict(found) if found is not None else None


def _training_ids(session: Session, mv: t.ModelVersion) -> set[int]:
    version_node = lineage.node(NodeKind.MODEL_VERSION, mv.id)
    edges = t.LineageEdge
    into = session.execute(
        select(edges.source, edges.relation).where(edges.target == version_node)
    ).all()
    datasets = {s for s, r in into if r == "trained_on"}
    runs = {s for s, r in into if r == "produced"}
    if mv.run_id is not None:
        runs.add(lineage.node(NodeKind.RUN, mv.run_id))
    if runs:
        datasets |= set(
            session.execute(
                select(edges.source).where(edges.target.in_(runs), edges.relation == "input")
            ).scalars()
        )
    return {int(node.split(":", 1)[1]) for node in datasets}


def _pii_cleared(session: Session, dataset_ids: set[int]) -> bool:
    """Every training dataset was scanned, and one where the scan found PII records a
    legal basis. No training data at all clears nothing: there is nothing to vouch for."""
    if not dataset_ids:
        return False
    rows = session.execute(
        select(t.DatasetVersion.id, t.DatasetVersion.legal_basis).where(
            t.DatasetVersion.id.in_(dataset_ids)
        )
    ).all()
    for dataset_id, legal_basis in rows:
        scan = _latest(session, ComputedKind.PII_SCAN.value, dataset_version_id=dataset_id)
        if scan is None:
            return False
        if scan.get("pii_columns") and not legal_basis:
            return False
    return True


def _basis_points(value: object) -> int:
    return round(float(value) * 10_000) if isinstance(value, int | float) else 10_001


def computed(session: Session, mv: t.ModelVersion) -> dict[str, object]:
    """The facts of the evidence Charter computed about `mv` (the latest of each kind)."""
    latest = functools.partial(_latest, session, version_id=mv.id)
    scan = latest(ComputedKind.VULNERABILITY_SCAN.value)
    counts = scan.get("counts", {}) if scan else {}
    assert isinstance(counts, dict)
    fairness = latest(ComputedKind.FAIRNESS.value)
    worst = fairness.get("worst", {}) if fairness else {}
    assert isinstance(worst, dict)
    card = latest(ComputedKind.MODEL_CARD.value)
    return {
        "signature_valid": signatures.is_valid(session, mv),
        "ml_bom": latest(ComputedKind.ML_BOM.value) is not None,
        "vulnerability_scanned": scan is not None,
        "high_vulnerabilities": int(counts.get("CRITICAL", 0)) + int(counts.get("HIGH", 0)),
        "pii_cleared": _pii_cleared(session, _training_ids(session, mv)),
        "fairness_evaluated": fairness is not None,
        "demographic_parity_bp": _basis_points(worst.get("demographic_parity_difference")),
        "equalized_odds_bp": _basis_points(worst.get("equalized_odds_difference")),
        "model_card_complete": bool(card is not None and card.get("complete")),
    }


def approvals(session: Session, request_id: int) -> list[Approval]:
    rows = session.execute(
        select(t.PromotionDecision.principal, t.PromotionDecision.roles).where(
            t.PromotionDecision.request_id == request_id,
            t.PromotionDecision.verdict == Verdict.APPROVE.value,
        )
    ).all()
    return [Approval(principal, frozenset(roles)) for principal, roles in rows]


def derive(
    session: Session,
    m: t.Model,
    mv: t.ModelVersion,
    ask: Ask,
    data: GateData,
    decisions: Iterable[Approval] = (),
) -> GateFacts:
    """The facts of promoting `mv` as `ask` says, with the approvals given so far.

    An approval counts towards the required number when its principal held a validator or
    risk-officer role when approving, did not author the version or a run that produced
    it, and is not the business owner (whose approval is the sign-off, counted apart);
    each person counts once. A validation report is independent when a validator who is
    not an author submitted it.
    """
    author, run_authors = authors(session, mv)
    conflicted = run_authors | {author}
    owner = m.business_owner or ""
    eligible = {a.principal for a in decisions if a.principal not in conflicted}
    counted = {
        a.principal
        for a in decisions
        if a.principal in eligible and a.principal != owner and a.roles & APPROVER_ROLES
    }
    evidence = session.execute(
        select(t.Evidence.kind, t.Evidence.submitted_by, t.Evidence.submitter_roles).where(
            t.Evidence.version_id == mv.id
        )
    ).all()
    kinds = {kind for kind, _, _ in evidence}
    independent = any(
        kind == EvidenceKind.VALIDATION_REPORT.value
        and by not in conflicted
        and Role.VALIDATOR.value in roles
        for kind, by, roles in evidence
    )
    return GateFacts(
        model=m.name,
        version=mv.version,
        target_stage=ask.target_stage,
        region=ask.region,
        risk_tier=m.risk_tier,
        business_unit=m.business_unit or "",
        approved_regions=frozenset(m.approved_regions),
        business_owner=owner,
        author=author,
        run_authors=run_authors,
        training_data_regions=_training_regions(session, mv),
        metrics=bool(mv.metrics),
        # A card someone wrote, or one Charter generated, both count as a card.
        model_card=bool({EvidenceKind.MODEL_CARD.value, ComputedKind.MODEL_CARD.value} & kinds),
        transparency_notice=EvidenceKind.TRANSPARENCY_NOTICE.value in kinds,
        independent_validation=independent,
        approvers=frozenset(counted),
        business_owner_signed=bool(owner) and owner in eligible,
        requested_by=ask.requested_by,
        break_glass=ask.break_glass,
        requirements=data.for_(ask.target_stage, m.risk_tier),
        allowed_data_regions=data.allowed_data_regions,
        **computed(session, mv),  # type: ignore[arg-type]
    )
