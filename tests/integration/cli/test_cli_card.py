"""`charter evidence card`: generated from the registry and evidence, human sections
written from files, what the tier still needs, Markdown and HTML."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import charter
from charter.client.client import Client
from tests.conftest import Admin
from tests.integration.cli.test_cli_registry import data, invoke, ok


def test_card_round_trip(server: str, admin: Admin, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"income": rng.normal(50, 10, 400), "age": rng.integers(18, 80, 400)})  # noqa: N806
    y = pd.Series((X["income"] > 50).astype(int), name="label")
    with Client(server, admin.token) as client:
        logged = charter.log_model(
            LogisticRegression().fit(X, y), name="scorer", client=client, X_train=X, y_train=y,
            X_eval=X, y_eval=y, risk_tier="limited", data_region="eu",
        )  # fmt: skip
        client.evaluate_version("scorer", logged.version)
    version = str(logged.version)
    first = invoke(server, admin.token, "evidence", "card", "scorer", version)
    assert first.exit_code == 0
    assert "# Model card: scorer v1" in first.stdout and "Computed by Charter" in first.stdout
    assert "caveats_and_recommendations" in first.stderr  # the warning names what is missing
    caveats = tmp_path / "caveats.md"
    caveats.write_text("Not for use outside the EU <b>ever</b>.")
    made = data(server, admin.token, "evidence", "card", "scorer", version,
                "--write", f"caveats_and_recommendations={caveats}")  # fmt: skip
    assert made["kind"] == "generated_model_card" and made["details"]["missing"] == ["intended_use"]
    page = tmp_path / "card.html"
    ok(server, admin.token, "evidence", "card", "scorer", version, "--html", "--out", str(page))
    text = page.read_text()
    assert "&lt;b&gt;ever&lt;/b&gt;" in text and "Caveats and recommendations" in text
    with Client(server, admin.token) as client:
        gate = client.dry_run_promotion("scorer", logged.version, "staging")
        assert "model-card-required" not in gate.blocking  # the generated card counts
