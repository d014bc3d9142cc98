"""The OPA gate: the example Rego policy decides exactly as the default Cedar gate (through
a regopy stand-in for OPA's Data API), and every way the server can fail fails closed."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from charter.domain.enums import Stage
from charter.domain.errors import GateUnavailable
from charter.domain.gates import GateFacts, PromotionCreate, PromotionStatus, Requirements
from charter.gates import cedar, promotions, records
from charter.gates.engine import RemoteGate
from charter.gates.opa_gate import OpaGate
from charter.policy.bundle import default_bundle
from charter.policy.engine import PolicyEngine
from charter.store import tables as t
from tests.support.opa_stand_in import OpaStandIn
from tests.unit.gates.conftest import World

REGO = Path(__file__).parents[3] / "examples" / "opa" / "charter_gate.rego"
PATH = "charter/gate"

HIGH = Requirements(
    model_card=True,
    metrics=True,
    transparency_notice=True,
    validation=True,
    approvals=2,
    business_owner_signoff=True,
    region_required=True,
    data_residency=True,
    signature=True,
    ml_bom=True,
    no_high_vulnerabilities=True,
    pii_cleared=True,
    fairness=True,
    model_card_complete=True,
    max_demographic_parity_bp=1000,
    max_equalized_odds_bp=1000,
)
COMPLETE = GateFacts(
    model="credit",
    version=3,
    target_stage="production",
    region="eu-west-1",
    risk_tier="high",
    business_unit="retail",
    approved_regions=frozenset({"eu-west-1"}),
    business_owner="olga",
    author="dana",
    run_authors=frozenset({"dana"}),
    training_data_regions=frozenset({"eu"}),
    metrics=True,
    model_card=True,
    transparency_notice=True,
    independent_validation=True,
    approvers=frozenset({"vic", "rita"}),
    business_owner_signed=True,
    requested_by="dana",
    break_glass=False,
    requirements=HIGH,
    allowed_data_regions=frozenset({"eu"}),
    signature_valid=True,
    ml_bom=True,
    vulnerability_scanned=True,
    high_vulnerabilities=0,
    pii_cleared=True,
    fairness_evaluated=True,
    demographic_parity_bp=500,
    equalized_odds_bp=900,
    model_card_complete=True,
)
VARIANTS: dict[str, dict[str, object]] = {
    "complete": {},
    "unacceptable": {"risk_tier": "unacceptable", "requirements": Requirements(deployable=False)},
    "no card": {"model_card": False},
    "no metrics": {"metrics": False},
    "no notice": {"transparency_notice": False},
    "no validation": {"independent_validation": False},
    "one approval": {"approvers": frozenset({"vic"})},
    "no sign-off": {"business_owner_signed": False},
    "no region": {"region": ""},
    "wrong region": {"region": "us-east-1"},
    "us data": {"training_data_regions": frozenset({"eu", "us"})},
    "unknown data": {"training_data_regions": frozenset({"unknown"})},
    "unsigned": {"signature_valid": False},
    "no bom": {"ml_bom": False},
    "unscanned": {"vulnerability_scanned": False},
    "vulnerable": {"high_vulnerabilities": 2},
    "pii": {"pii_cleared": False},
    "unfair": {"demographic_parity_bp": 1001},
    "unequal odds": {"equalized_odds_bp": 2500},
    "no fairness": {"fairness_evaluated": False},
    "card incomplete": {"model_card_complete": False},
    "everything wrong": {
        "model_card": False,
        "approvers": frozenset(),
        "region": "mars",
        "training_data_regions": frozenset({"unknown"}),
        "high_vulnerabilities": 1,
    },
    "minimal tier": {
        "risk_tier": "minimal",
        "requirements": Requirements(model_card=True),
        "approvers": frozenset(),
        "signature_valid": False,
    },
}


@pytest.fixture(scope="module")
def opa() -> Iterator[OpaStandIn]:
    with OpaStandIn(REGO) as server:
        yield server


@pytest.mark.parametrize("name", list(VARIANTS))
def test_rego_decides_exactly_as_the_cedar_gate(opa: OpaStandIn, name: str) -> None:
    facts = dataclasses.replace(COMPLETE, **VARIANTS[name])  # type: ignore[arg-type]
    expected = cedar.evaluate(PolicyEngine(default_bundle()), facts, 0)
    found = OpaGate(opa.url, PATH, 5.0).evaluate(facts)
    assert found.allowed == expected.allowed
    assert {v.rule for v in found.violations} == {v.rule for v in expected.violations}
    overridable = {v.rule: v.overridable for v in found.violations}
    assert overridable == {v.rule: v.overridable for v in expected.violations}
    assert found.engine == f"opa {opa.url}/v1/data/{PATH}"
    assert all(v.reason for v in found.violations)


def test_the_input_document_is_what_opa_receives(opa: OpaStandIn) -> None:
    OpaGate(opa.url, PATH, 5.0).evaluate(COMPLETE)
    assert opa.requests[-1] == {"input": COMPLETE.document()}


@pytest.mark.parametrize(
    ("garbage", "says"),
    [
        ("not json", "not JSON"),
        ("{}", "undefined"),
        ('{"result": {"allow": "yes"}}', "boolean"),
        ('{"result": {"allow": false, "violations": "x"}}', "not a list"),
        ('{"result": {"allow": false, "violations": [{"reason": "r"}]}}', "malformed"),
        ('{"result": {"allow": true, "violations": [{"rule": "r", "reason": "x"}]}}', "while"),
        ('{"result": {"allow": false, "violations": []}}', "without naming"),
    ],
)
def test_bad_answers_fail_closed(garbage: str, says: str) -> None:
    with (
        OpaStandIn(REGO, garbage=garbage) as bad,
        pytest.raises(GateUnavailable, match=says) as raised,
    ):
        OpaGate(bad.url, PATH, 5.0).evaluate(COMPLETE)
    assert "fails closed" in raised.value.message


def test_unreachable_slow_and_undefined_fail_closed(opa: OpaStandIn) -> None:
    with pytest.raises(GateUnavailable, match="could not be reached"):
        OpaGate("http://127.0.0.1:9", PATH, 1.0).evaluate(COMPLETE)
    with OpaStandIn(REGO, delay=1.0) as slow, pytest.raises(GateUnavailable, match="in time"):
        OpaGate(slow.url, PATH, 0.2).evaluate(COMPLETE)
    with pytest.raises(GateUnavailable, match="undefined"):
        OpaGate(opa.url, "charter/nothing", 5.0).evaluate(COMPLETE)


def test_promotions_decided_by_opa(world: World, opa: OpaStandIn) -> None:
    gate = RemoteGate(opa.url, PATH, 5.0)
    body = PromotionCreate(model="credit", version=1, to=Stage.STAGING)
    result = promotions.dry_run(world.db, gate, world["dana"], body)
    assert result.engine.startswith("opa ") and "model-card-required" in result.blocking
    world.gate = gate  # type: ignore[assignment]  # evidence re-evaluates through OPA too
    opened = promotions.open_request(world.db, gate, world["dana"], body)
    world.complete()  # the last document passes the gate, decided by OPA
    done = records.get_request(world.db, opened.id)
    assert done.status == PromotionStatus.EXECUTED
    assert done.gate is not None and done.gate.engine.startswith("opa ")


def test_an_unreachable_opa_opens_nothing(world: World) -> None:
    gate = RemoteGate("http://127.0.0.1:9", PATH, 1.0)
    body = PromotionCreate(model="credit", version=1, to=Stage.STAGING)
    with pytest.raises(GateUnavailable):
        promotions.open_request(world.db, gate, world["dana"], body)
    with world.db.reading() as session:
        assert session.execute(select(func.count()).select_from(t.PromotionRequest)).scalar() == 0
