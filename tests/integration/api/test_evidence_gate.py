"""A high-risk model through the default gate: each kind of evidence Charter computes
clears its rule as it appears, until approvals let the version into production."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import charter
from charter.client.client import Client

EVIDENCE_RULES = {
    "ml-bom-required",
    "no-high-vulnerabilities",
    "pii-cleared",
    "fairness-within-thresholds",
    "model-card-complete",
}


def people(client: Client, server: str) -> Iterator[tuple[str, Client]]:
    for name, role, unit in (
        ("dana", "data_scientist", "retail"),
        ("vic", "validator", None),
        ("rita", "risk_officer", None),
        ("olga", "risk_officer", None),
    ):
        client.create_principal(name, [role], business_unit=unit)
        yield name, Client(server, client.create_token("t", principal=name).secret)


def test_evidence_clears_the_gate_rule_by_rule(
    signed_server: str, client: Client, tmp_path: Path
) -> None:
    team = dict(people(client, signed_server))
    client.create_model(
        "lender", "high", business_unit="retail", business_owner="olga",
        approved_regions=["eu-west-1"], intended_use="pre-screening consumer loans",
    )  # fmt: skip
    rng = np.random.default_rng(7)
    X = pd.DataFrame(  # noqa: N806
        {"income": rng.normal(50, 10, 1200), "debt": rng.normal(20, 5, 1200),
         "sex": rng.integers(0, 2, 1200)}
    )  # fmt: skip
    y = pd.Series(((X["income"] - X["debt"]) > 30).astype(int), name="approved")
    logged = charter.log_model(
        LogisticRegression(max_iter=1000).fit(X[:900], y[:900]), name="lender",
        client=team["dana"], X_train=X[:900], y_train=y[:900], X_eval=X[900:], y_eval=y[900:],
        data_region="eu", legal_basis="contract", metrics={"accuracy": 0.9},
    )  # fmt: skip
    v = logged.version

    def blocking() -> set[str]:
        return set(client.dry_run_promotion("lender", v, "production", "eu-west-1").blocking)

    assert blocking() >= EVIDENCE_RULES
    dana = team["dana"]
    dana.compute_evidence("lender", v, ["ml_bom", "vulnerability_scan"])
    assert not {"ml-bom-required", "no-high-vulnerabilities"} & blocking()
    dana.scan_dataset("lender-training", 1)
    assert "pii-cleared" in blocking()  # the run's other input is not scanned yet
    dana.scan_dataset("lender-evaluation", 1)
    assert "pii-cleared" not in blocking()
    dana.evaluate_version("lender", v, sensitive_features=["sex"])
    assert "fairness-within-thresholds" not in blocking()
    dana.write_card("lender", v, {
        "ethical_considerations": "Sex is evaluated, not used to decide.",
        "caveats_and_recommendations": "EU applicants only.",
    })  # fmt: skip
    card = dana.generate_card("lender", v)
    assert card.details["complete"] is True, card.details["missing"]
    assert "model-card-complete" not in blocking() and "model-card-required" not in blocking()
    notice = tmp_path / "notice.md"
    notice.write_text("Applicants are told a model pre-screens them.")
    dana.attach_evidence("lender", v, "transparency_notice", notice)
    team["vic"].attach_evidence("lender", v, "validation_report", notice)
    assert blocking() == {"approvals-required", "business-owner-signoff-required"}
    opened = dana.promote("lender", v, "production", "eu-west-1")
    for name in ("vic", "rita", "olga"):
        result = team[name].approve(opened.id)
    assert result.status == "executed"
    assert client.get_version("lender", v).stage == "production"
    # Every piece of evidence is in the lineage graph, upstream of the version it attests.
    graph = client.lineage(f"model:lender@{v}", "upstream", 1)
    attested = {n.attributes["kind"] for n in graph.nodes if n.kind == "evidence"}
    assert attested >= {
        "signature", "ml_bom", "vulnerability_scan", "performance_evaluation",
        "fairness_evaluation", "generated_model_card", "transparency_notice",
        "validation_report",
    }  # fmt: skip
    assert {e.relation for e in graph.edges} >= {"attests", "trained_on"}
    for sdk in team.values():
        sdk.close()
