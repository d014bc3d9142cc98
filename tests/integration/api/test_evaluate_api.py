"""Evaluations computed by Charter over HTTP: on the verified artifact and verified data,
kept apart from self-reported metrics, and read by the gate's fairness rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import charter
from charter.client.client import Client
from charter.domain.errors import InvalidInput, NotFound


def biased(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, n)
    income = rng.normal(50, 10, n)
    label = ((income + 15 * group + rng.normal(0, 5, n)) > 60).astype(int)
    return pd.DataFrame({"group": group, "income": income}), pd.Series(label, name="label")


def test_evaluate_on_verified_data(client: Client) -> None:
    X, y = biased(1500, 1)  # noqa: N806
    X_eval, y_eval = biased(500, 2)  # noqa: N806
    model = LogisticRegression().fit(X, y)
    logged = charter.log_model(
        model, name="lender", client=client, X_train=X, y_train=y, X_eval=X_eval,
        y_eval=y_eval, metrics={"accuracy": 0.99}, risk_tier="high", data_region="eu",
    )  # fmt: skip
    found = client.evaluate_version("lender", logged.version, sensitive_features=["group"])
    kinds = [e.kind for e in found]
    assert kinds == [
        "performance_evaluation",
        "robustness_evaluation",
        "explainability",
        "fairness_evaluation",
    ]
    performance = found[0].details
    assert (
        performance["computed_by"] == "charter" and performance["dataset"] == "lender-evaluation@1"
    )
    assert performance["rows"] == 500
    # The self-reported 0.99 stays on the version; Charter's own number is evidence.
    assert client.get_version("lender", logged.version).metrics == {"accuracy": 0.99}
    assert performance["metrics"]["accuracy"] < 0.99
    fairness = found[3].details
    assert fairness["worst"]["demographic_parity_difference"] > 0.3
    gate = client.dry_run_promotion("lender", logged.version, "production", "eu-west-1")
    assert gate.facts["evidence"]["fairness_evaluated"] is True
    assert gate.facts["evidence"]["demographic_parity_bp"] > 3000

    with pytest.raises(InvalidInput, match="not columns"):
        client.evaluate_version("lender", logged.version, sensitive_features=["sex"])
    with pytest.raises(NotFound, match="no version 9"):
        client.evaluate_version("lender", logged.version, dataset="lender-training@9")
