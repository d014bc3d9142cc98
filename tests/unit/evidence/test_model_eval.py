"""Evaluations on scikit-learn's bundled data and generated data with a planted bias."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from charter.evidence import model_eval


def test_binary_classification_metrics_and_onnx_agree(tmp_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)  # noqa: N806
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    found = model_eval.evaluate_all(model, X, y, [])
    metrics = found["performance"]["metrics"]
    assert metrics["accuracy"] > 0.95 and metrics["roc_auc"] > 0.98 and metrics["log_loss"] > 0
    assert np.array(found["performance"]["confusion_matrix"]["matrix"]).sum() == len(y)
    assert sum(b["count"] for b in found["performance"]["calibration"]["bins"]) == len(y)
    assert found["explainability"]["features"][0]["mean"] > 0
    assert "fairness" not in found

    from skl2onnx import to_onnx

    onnx_dir = tmp_path / "onnx"
    onnx_dir.mkdir()
    sample = X.to_numpy(dtype=np.float32)[:1]
    (onnx_dir / "model.onnx").write_bytes(
        to_onnx(model, sample, options={"zipmap": False}).SerializeToString()
    )
    loaded = model_eval.load(onnx_dir, "onnx")
    onnx_accuracy = model_eval.performance(loaded, X, y, "classification")["metrics"]["accuracy"]
    assert onnx_accuracy == pytest.approx(metrics["accuracy"], abs=0.005)

    skops_dir = tmp_path / "skops"
    skops_dir.mkdir()
    sio.dump(model, skops_dir / "model.skops")
    again = model_eval.load(skops_dir, "skops")
    assert (again.predict(X) == model.predict(X)).all()
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "model.pkl").write_bytes(b"not loaded")
    with pytest.raises(ValueError, match="never pickle"):
        model_eval.load(pickled, "pickle")


def test_multiclass_and_regression() -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)  # noqa: N806
    model = LogisticRegression(max_iter=2000).fit(X, y)
    multi = model_eval.performance(model, X, y, "classification")
    assert multi["average"] == "macro" and multi["metrics"]["accuracy"] > 0.9
    X, y = load_diabetes(return_X_y=True, as_frame=True)  # noqa: N806
    found = model_eval.evaluate_all(LinearRegression().fit(X, y), X, y, [])
    assert found["performance"]["task"] == "regression"
    assert 0.4 < found["performance"]["metrics"]["r2"] < 0.6
    assert found["robustness"]["metric"] == "r2"


def biased_data(seed: int = 1, n: int = 2000) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, n)
    income = rng.normal(50, 10, n)
    # The label depends on the group: a model that uses it is unfair.
    label = ((income + 15 * group + rng.normal(0, 5, n)) > 60).astype(int)
    return pd.DataFrame({"group": group, "income": income}), pd.Series(label, name="label")


def test_fairness_matches_fairlearn_and_catches_a_planted_bias() -> None:
    X, y = biased_data()  # noqa: N806
    unfair = LogisticRegression().fit(X, y)
    found = model_eval.evaluate_all(unfair, X, y, ["group"])["fairness"]
    predicted = unfair.predict(X)
    groups = X["group"].astype(str).to_numpy()
    expected = demographic_parity_difference(y, predicted, sensitive_features=groups)
    assert found["worst"]["demographic_parity_difference"] == pytest.approx(expected, abs=1e-6)
    assert found["features"]["group"]["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y, predicted, sensitive_features=groups), abs=1e-6
    )
    assert expected > 0.3
    fair = LogisticRegression().fit(X[["income"]], y)
    fair_found = model_eval.evaluate_all(fair, X, y, ["group"])["fairness"]
    assert fair_found["worst"]["demographic_parity_difference"] < expected
    assert set(fair_found["features"]["group"]["by_group"]) == {"0", "1"}


def test_robustness_is_reproducible_and_states_its_inputs() -> None:
    X, y = biased_data()  # noqa: N806
    model = LogisticRegression().fit(X, y)
    first = model_eval.robustness(model, X, y, "classification", model_eval.DEFAULT_PERTURBATIONS)
    second = model_eval.robustness(model, X, y, "classification", model_eval.DEFAULT_PERTURBATIONS)
    assert first == second and first["seed"] == model_eval.SEED
    assert next(p["perturbation"] for p in first["perturbations"]) == "noise 0.1 sd"
    heavy = next(p for p in first["perturbations"] if p["noise_std"] == 0.5)
    assert heavy["change"] < 0
