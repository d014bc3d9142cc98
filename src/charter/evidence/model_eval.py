"""Evaluations Charter computes itself: load a verified model (skops or ONNX, never
pickle) and measure performance, fairness (fairlearn), robustness and permutation
importance on an evaluation table. Every result states its inputs (rows, seed, columns)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

TRUSTED_MODULES = ("sklearn", "numpy", "scipy")
SEED = 20261124


class OnnxModel:
    """An ONNX InferenceSession with the estimator methods the evaluator uses."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.inputs = self.session.get_inputs()
        self.outputs = [o.name for o in self.session.get_outputs()]

    def _run(self, rows: Any) -> list[Any]:
        frame = np.asarray(rows, dtype=np.float32)
        return list(self.session.run(None, {self.inputs[0].name: frame}))

    def predict(self, rows: Any) -> Any:
        return np.asarray(self._run(rows)[0]).ravel()

    def predict_proba(self, rows: Any) -> Any:
        found = self._run(rows)
        if len(found) < 2:
            raise AttributeError("this ONNX model has no probability output")
        probabilities = found[1]
        if isinstance(probabilities, list):  # zipmap output: one dict per row
            keys = sorted(probabilities[0])
            return np.array([[row[k] for k in keys] for row in probabilities])
        return np.asarray(probabilities)

    def fit(self, *_: Any) -> OnnxModel:  # permutation_importance wants an estimator
        return self


def load(directory: Path, flavor: str) -> Any:
    """A model from a directory of files the caller has verified against the manifest."""
    skops_files = sorted(directory.rglob("*.skops"))
    onnx_files = sorted(directory.rglob("*.onnx"))
    if flavor == "onnx" and onnx_files:
        return OnnxModel(onnx_files[0])
    if skops_files:
        import skops.io as sio

        listed = sio.get_untrusted_types(file=skops_files[0])
        foreign = [t for t in listed if t.split(".")[0] not in TRUSTED_MODULES]
        if foreign:
            raise ValueError(
                "the skops file needs types outside scikit-learn/numpy/scipy, which Charter "
                "does not load: " + ", ".join(foreign)
            )
        return sio.load(skops_files[0], trusted=listed)
    if onnx_files:
        return OnnxModel(onnx_files[0])
    raise ValueError(
        f"flavor {flavor!r}: no .skops or .onnx file in the version; Charter evaluates only "
        "those (never pickle)"
    )


def _round(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def _task(target: Any) -> str:
    values = np.asarray(target)
    if values.dtype.kind in "f" and len(np.unique(values)) > 20:
        return "regression"
    return "classification"


def performance(model: Any, features: Any, target: Any, task: str) -> dict[str, Any]:
    from sklearn import metrics

    predicted = model.predict(features)
    if task == "regression":
        out = {
            "mae": metrics.mean_absolute_error(target, predicted),
            "rmse": math.sqrt(metrics.mean_squared_error(target, predicted)),
            "r2": metrics.r2_score(target, predicted),
        }
        if not np.any(np.asarray(target) == 0):
            out["mape"] = metrics.mean_absolute_percentage_error(target, predicted)
        return {
            "task": task,
            "rows": len(target),
            "metrics": {k: _round(v) for k, v in out.items()},
        }
    labels = sorted(np.unique(np.concatenate([np.asarray(target), np.asarray(predicted)])).tolist())
    binary = len(labels) == 2
    average = "binary" if binary else "macro"
    result: dict[str, Any] = {
        "accuracy": metrics.accuracy_score(target, predicted),
        "precision": metrics.precision_score(target, predicted, average=average, zero_division=0),
        "recall": metrics.recall_score(target, predicted, average=average, zero_division=0),
        "f1": metrics.f1_score(target, predicted, average=average, zero_division=0),
        "f1_weighted": metrics.f1_score(target, predicted, average="weighted", zero_division=0),
    }
    calibration: dict[str, Any] | None = None
    try:
        probabilities = model.predict_proba(features)
    except AttributeError:
        probabilities = None
    if probabilities is not None:
        result["log_loss"] = metrics.log_loss(target, probabilities, labels=labels)
        if binary:
            positive = probabilities[:, 1]
            result["roc_auc"] = metrics.roc_auc_score(target, positive)
            result["brier"] = metrics.brier_score_loss(target, positive, pos_label=labels[1])
            calibration = _reliability(np.asarray(target) == labels[1], positive)
        else:
            result["roc_auc"] = metrics.roc_auc_score(target, probabilities, multi_class="ovr")
    return {
        "task": task,
        "rows": len(target),
        "average": average,
        "metrics": {k: _round(v) for k, v in result.items()},
        "confusion_matrix": {
            "labels": [str(v) for v in labels],
            "matrix": metrics.confusion_matrix(target, predicted, labels=labels).tolist(),
        },
        "calibration": calibration,
    }


def _reliability(actual: Any, predicted: Any, bins: int = 10) -> dict[str, Any]:
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(predicted, edges) - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        rows.append(
            {
                "bin": [round(edges[b], 2), round(edges[b + 1], 2)],
                "count": count,
                "mean_predicted": _round(predicted[mask].mean()) if count else None,
                "observed_rate": _round(actual[mask].mean()) if count else None,
            }
        )
    return {"bins": rows}


def fairness(
    model: Any,
    features: Any,
    target: Any,
    sensitive: dict[str, Any],
    task: str,
) -> dict[str, Any]:
    """fairlearn's metrics per declared sensitive feature, and the worst difference."""
    from fairlearn.metrics import (  # type: ignore[import-untyped]
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        selection_rate,
    )
    from sklearn.metrics import accuracy_score, recall_score

    predicted = model.predict(features)
    per_feature: dict[str, Any] = {}
    worst = {"demographic_parity_difference": 0.0, "equalized_odds_difference": 0.0}
    binary = task == "classification" and len(np.unique(target)) == 2
    for name, groups in sensitive.items():
        if not binary:
            frame = MetricFrame(
                metrics={"count": lambda t, p: len(t)}, y_true=target, y_pred=predicted,
                sensitive_features=groups,
            )  # fmt: skip
            per_feature[name] = {"by_group": frame.by_group.to_dict(orient="index")}
            continue
        frame = MetricFrame(
            metrics={
                "selection_rate": selection_rate,
                "accuracy": accuracy_score,
                "recall": lambda t, p: recall_score(t, p, zero_division=0),
                "count": lambda t, p: len(t),
            },
            y_true=target,
            y_pred=predicted,
            sensitive_features=groups,
        )
        dpd = demographic_parity_difference(target, predicted, sensitive_features=groups)
        eod = equalized_odds_difference(target, predicted, sensitive_features=groups)
        per_feature[name] = {
            "demographic_parity_difference": _round(dpd),
            "demographic_parity_ratio": _round(
                demographic_parity_ratio(target, predicted, sensitive_features=groups)
            ),
            "equalized_odds_difference": _round(eod),
            "by_group": {
                str(group): {k: _round(v) for k, v in values.items()}
                for group, values in frame.by_group.to_dict(orient="index").items()
            },
        }
        worst["demographic_parity_difference"] = max(worst["demographic_parity_difference"], dpd)
        worst["equalized_odds_difference"] = max(worst["equalized_odds_difference"], eod)
    return {
        "features": per_feature,
        "worst": {k: _round(v) for k, v in worst.items()} if binary else {},
        "binary": binary,
    }


@dataclass(frozen=True)
class Perturbation:
    """Gaussian noise of `noise_std` standard deviations on every numeric column, and/or
    `missing_rate` of cells replaced by the column mean (a model's view of missing data)."""

    name: str
    noise_std: float = 0.0
    missing_rate: float = 0.0


DEFAULT_PERTURBATIONS = (
    Perturbation("noise 0.1 sd", noise_std=0.1),
    Perturbation("noise 0.5 sd", noise_std=0.5),
    Perturbation("5% of cells missing (mean-imputed)", missing_rate=0.05),
)


def robustness(
    model: Any,
    features: Any,
    target: Any,
    task: str,
    perturbations: tuple[Perturbation, ...],
) -> dict[str, Any]:
    from sklearn import metrics

    def score(features: Any) -> float:
        predicted = model.predict(features)
        if task == "regression":
            return float(metrics.r2_score(target, predicted))
        return float(metrics.accuracy_score(target, predicted))

    numeric = [c for c in features.columns if features[c].dtype.kind in "if"]
    base = score(features)
    rows = []
    rng = np.random.default_rng(SEED)
    for p in perturbations:
        changed = features.copy()
        for column in numeric:
            values = changed[column].astype(float).to_numpy(copy=True)
            if p.noise_std:
                values = values + rng.normal(0, p.noise_std * values.std(), len(values))
            if p.missing_rate:
                mask = rng.random(len(values)) < p.missing_rate
                values[mask] = features[column].mean()
            changed[column] = values
        value = score(changed)
        rows.append(
            {
                "perturbation": p.name,
                "noise_std": p.noise_std,
                "missing_rate": p.missing_rate,
                "metric": _round(value),
                "change": _round(value - base),
            }
        )
    return {
        "metric": "r2" if task == "regression" else "accuracy",
        "baseline": _round(base),
        "seed": SEED,
        "columns": numeric,
        "perturbations": rows,
    }


def importance(
    model: Any, features: Any, target: Any, task: str, repeats: int = 5
) -> dict[str, Any]:
    from sklearn.inspection import permutation_importance

    scoring = "r2" if task == "regression" else "accuracy"
    found = permutation_importance(
        model, features, target, n_repeats=repeats, random_state=SEED, scoring=scoring
    )
    order = np.argsort(-found.importances_mean)
    return {
        "method": "permutation importance",
        "scoring": scoring,
        "repeats": repeats,
        "seed": SEED,
        "features": [
            {
                "feature": str(features.columns[i]),
                "mean": _round(found.importances_mean[i]),
                "std": _round(found.importances_std[i]),
            }
            for i in order
        ],
    }


def evaluate_all(
    model: Any,
    features: Any,
    target: Any,
    sensitive: list[str],
    perturbations: tuple[Perturbation, ...] = DEFAULT_PERTURBATIONS,
) -> dict[str, dict[str, Any]]:
    """Performance, fairness (when sensitive columns are named), robustness and
    importance. The model sees only the columns it was trained on (when it names them);
    otherwise every column but the sensitive ones it was not given."""
    task = _task(target)
    groups = {name: features[name].astype(str).to_numpy() for name in sensitive}
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        # Evaluation tables may hold more than the model reads (ids, sensitive columns).
        absent = [str(n) for n in names if n not in features.columns]
        if absent:
            raise ValueError(f"the evaluation data lacks the model's features {absent}")
        features = features[list(names)]
    else:
        features = features.drop(columns=[c for c in sensitive if c in features.columns])
    out = {
        "performance": performance(model, features, target, task),
        "robustness": robustness(model, features, target, task, perturbations),
        "explainability": importance(model, features, target, task),
    }
    if groups:
        out["fairness"] = fairness(model, features, target, groups, task)
    return out
