"""Model cards: sections from facts, evidence and people; required per tier; escaping."""

from __future__ import annotations

from typing import Any

from charter.evidence import cards

FACTS: dict[str, Any] = {
    "model": "credit",
    "version": 3,
    "flavor": "skops",
    "framework": "scikit-learn 1.5.2",
    "risk_tier": "high",
    "author": "dana",
    "created_at": "2026-11-24T00:00:00+00:00",
    "manifest_digest": "a" * 64,
    "intended_use": "consumer credit pre-screening",
    "metrics": {"accuracy": 0.99},
    "training": [{"name": "loans@1", "region": "eu", "legal_basis": "contract"}],
    "pii": {"loans@1": ["email"]},
}
EVIDENCE = {
    "performance_evaluation": {
        "dataset": "loans-eval@1",
        "rows": 500,
        "metrics": {"accuracy": 0.91},
    },
    "fairness_evaluation": {
        "features": {
            "sex": {"demographic_parity_difference": 0.04, "equalized_odds_difference": 0.06}
        }
    },
    "robustness_evaluation": {
        "metric": "accuracy",
        "perturbations": [{"perturbation": "noise 0.1 sd", "change": -0.01}],
    },
}


def test_required_sections_per_tier() -> None:
    bare = cards.build({**FACTS, "intended_use": ""}, {}, {})
    assert bare.missing() == [
        "intended_use", "metrics", "evaluation_data", "caveats_and_recommendations", "factors",
        "quantitative_analyses", "ethical_considerations",
    ]  # fmt: skip
    minimal = cards.build({**FACTS, "risk_tier": "minimal"}, {}, {})
    assert minimal.missing() == []
    written = {
        "ethical_considerations": "Reviewed by the ethics board.",
        "caveats_and_recommendations": "EU only.",
    }
    complete = cards.build(FACTS, EVIDENCE, written)
    assert complete.missing() == [] and complete.to_json()["complete"] is True


def test_markdown_keeps_computed_and_self_reported_apart() -> None:
    text = cards.markdown(cards.build(FACTS, EVIDENCE, {}))
    assert "Computed by Charter on loans-eval@1: accuracy 0.91" in text
    assert "Self-reported by the author (not verified): accuracy 0.99" in text
    assert "## Ethical considerations (missing)" in text
    assert "personal data: email" in text
    # Self-reported metrics alone do not make the metrics section.
    assert "metrics" in cards.build(FACTS, {}, {}).missing()


def test_html_escapes_what_people_write() -> None:
    page = cards.html(
        cards.build(FACTS, EVIDENCE, {"caveats_and_recommendations": "<script>x()</script>"})
    )
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.startswith("<!doctype html>")
