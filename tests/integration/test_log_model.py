"""charter.log_model against a live server on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import charter
from charter.client.client import Client
from charter.client.environment import capture_code_ref
from charter.client.tree import render_tree
from charter.domain.errors import InvalidInput, NotFound

NAME = "cancer"


@dataclass(frozen=True)
class Trained:
    model: Any
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


@pytest.fixture(scope="module")
def trained() -> Trained:
    data = load_breast_cancer(as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=0
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)
    return Trained(model, x_train, x_test, y_train, y_test)


def log(client: Client, trained: Trained, **overrides: Any) -> charter.client.log_model.LoggedModel:
    arguments: dict[str, Any] = {
        "name": NAME,
        "client": client,
        "X_train": trained.X_train,
        "y_train": trained.y_train,
        "X_eval": trained.X_test,
        "y_eval": trained.y_test,
        "risk_tier": "high",
        "metrics": {"accuracy": 0.97},
        "data_region": "eu",
        "legal_basis": "consent",
        "tags": {"team": "oncology"},
    }
    arguments.update(overrides)
    model = arguments.pop("model", trained.model)
    return charter.log_model(model, **arguments)


def test_one_call_records_model_data_run_version_and_lineage(
    client: Client, trained: Trained, tmp_path: Path
) -> None:
    steps: list[str] = []
    logged = log(client, trained, on_step=steps.append)
    assert (logged.model, logged.version, logged.model_created) == (NAME, 1, True)
    assert logged.onnx_unavailable is None
    assert client.get_model(NAME).risk_tier == "high"

    train = client.get_dataset_version(f"{NAME}-training", 1)
    assert train == logged.training_data
    assert train.row_count == len(trained.X_train) and train.data_region == "eu"
    assert [c.name for c in train.columns] == [*trained.X_train.columns, "target"]
    assert train.legal_basis == "consent" and train.digest.startswith("sha256:")
    assert logged.evaluation_data is not None
    assert logged.evaluation_data.row_count == len(trained.X_test)

    version = client.get_version(NAME, 1)
    assert version.flavor == "skops" and version.framework.startswith("scikit-learn ")
    assert sorted(f.path for f in version.files) == ["model.onnx", "model.skops"]
    assert version.manifest_digest == logged.manifest_digest
    assert [c.name for c in version.input_schema] == list(trained.X_train.columns)
    assert [(c.name, c.type) for c in version.output_schema] == [("target", "int64")]
    assert version.metrics == {"accuracy": 0.97}
    assert version.params["steps"][1][0] == "logisticregression"
    assert version.tags == {"team": "oncology", "formats": "onnx,skops"}
    assert version.code == capture_code_ref(__file__)
    assert version.environment is not None
    assert "scikit-learn" in version.environment.packages
    assert [str(d) for d in version.training_datasets] == [f"{NAME}-training@1"]
    assert [str(d) for d in version.evaluation_datasets] == [f"{NAME}-evaluation@1"]

    run = client.get_run(logged.run_id)
    assert run.status == "finished" and run.ended_at is not None
    assert run.ended_at >= run.started_at
    assert [str(d) for d in run.inputs] == [f"{NAME}-training@1", f"{NAME}-evaluation@1"]
    assert [str(o) for o in run.outputs] == [f"{NAME}@1"]
    assert run.params == version.params and run.metrics == version.metrics

    graph = client.lineage(logged.node, "upstream", 5)
    edges = {(e.source, e.relation, e.target) for e in graph.edges}
    run_node = f"run:{logged.run_id}"
    assert (f"dataset:{NAME}-training@1", "input", run_node) in edges
    assert (run_node, "produced", logged.node) in edges
    assert (f"dataset:{NAME}-training@1", "trained_on", logged.node) in edges
    assert f"dataset {NAME}-training@1" in render_tree(graph)
    assert any(s.startswith("version cancer@1 registered") for s in steps)


def test_downloaded_files_load_safely_and_predict_the_same(
    client: Client, trained: Trained, tmp_path: Path
) -> None:
    log(client, trained)
    client.download_version(NAME, 1, tmp_path)
    rows = trained.X_test.iloc[:8]
    expected = trained.model.predict(rows)

    listed = sio.get_untrusted_types(file=tmp_path / "model.skops")
    assert all(t.startswith(("sklearn.", "numpy.", "scipy.")) for t in listed)
    loaded = sio.load(tmp_path / "model.skops", trusted=listed)
    np.testing.assert_array_equal(loaded.predict(rows), expected)

    session = onnxruntime.InferenceSession(
        str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    labels = session.run(None, {"X": rows.to_numpy(dtype=np.float32)})[0]
    np.testing.assert_array_equal(labels, expected)


def test_second_call_on_same_data_reuses_datasets_and_adds_version_2(
    client: Client, trained: Trained
) -> None:
    first = log(client, trained)
    second = log(client, trained, metrics={"accuracy": 0.98})
    assert second.version == 2 and second.model_created is False
    assert second.run_id != first.run_id
    assert second.training_data == first.training_data
    assert second.evaluation_data == first.evaluation_data
    assert client.get_dataset(f"{NAME}-training").latest_version == 1
    upstream = client.lineage(second.node, "upstream", 5)
    assert f"dataset:{NAME}-training@1" in {n.id for n in upstream.nodes}

    changed = trained.X_train.copy()
    changed.iloc[0, 0] += 1.0
    third = log(client, trained, X_train=changed)
    assert third.version == 3 and third.training_data.version == 2
    assert third.training_data.digest != first.training_data.digest
    # Same content but a different legal basis is a different record, not a reuse.
    fourth = log(client, trained, X_train=changed, legal_basis="contract")
    assert fourth.training_data.version == 3


def test_unconvertible_model_is_kept_as_skops_with_the_reason(client: Client) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(40, 3))
    y = x @ np.array([1.0, 2.0, 3.0])
    model = make_pipeline(FunctionTransformer(np.log1p), LinearRegression()).fit(x, y)
    logged = charter.log_model(model, name="reg", X_train=x, y_train=y, client=client)
    assert logged.onnx_unavailable and "FunctionTransformer" in logged.onnx_unavailable
    version = client.get_version("reg", 1)
    assert [f.path for f in version.files] == ["model.skops"]
    assert version.tags["onnx"].startswith("unavailable: ")
    assert version.tags["formats"] == "skops"
    assert [c.name for c in version.input_schema] == ["x0", "x1", "x2"]
    assert [(c.name, c.type) for c in version.output_schema] == [("target", "float64")]
    assert client.get_dataset_version("reg-training", 1).uri == "memory:numpy.ndarray"


class Doubler(TransformerMixin, BaseEstimator):
    """A user-defined step: its type is not one the round-trip check may trust."""

    def fit(self, x: Any, y: Any = None) -> Doubler:
        self.fitted_ = True
        return self

    def transform(self, x: Any) -> Any:
        return np.asarray(x) * 2


def test_custom_types_are_never_loaded_only_noted(client: Client) -> None:
    x = np.arange(20.0).reshape(10, 2)
    model = make_pipeline(Doubler(), LinearRegression()).fit(x, x.sum(axis=1))
    charter.log_model(model, name="custom", X_train=x, client=client, formats=("skops",))
    tags = client.get_version("custom", 1).tags
    assert tags["skops"].startswith("not loaded back")
    assert "Doubler" in tags["skops"] and "onnx" not in tags


def test_bad_calls_fail_before_anything_is_created(client: Client, trained: Trained) -> None:
    unfitted = make_pipeline(StandardScaler(), LogisticRegression())
    with pytest.raises(InvalidInput, match="not fitted"):
        log(client, trained, model=unfitted)
    with pytest.raises(InvalidInput, match="risk_tier"):
        log(client, trained, risk_tier="extreme")
    with pytest.raises(InvalidInput, match="formats"):
        log(client, trained, formats=("onnx",))
    with pytest.raises(InvalidInput, match="rows"):
        log(client, trained, y_train=trained.y_train[:10])
    with pytest.raises(InvalidInput, match="metric 'auc'"):
        log(client, trained, metrics={"auc": float("nan")})
    with pytest.raises(InvalidInput, match="tags"):
        log(client, trained, tags={"bad:key": "x"})
    with pytest.raises(InvalidInput, match="data_region"):
        log(client, trained, data_region="EU West")
    with pytest.raises(InvalidInput, match="dataset 'x y'"):
        log(client, trained, eval_dataset="x y")
    with pytest.raises(InvalidInput, match="timezone"):
        log(client, trained, started_at=datetime(2026, 1, 1))
    with pytest.raises(NotFound, match="create_model=True"):
        log(client, trained, create_model=False)
    assert client.list_models().items == []
    assert client.list_datasets().items == []
    assert client.list_runs().items == []


def test_data_contents_are_uploaded_verified_and_not_twice(
    client: Client, trained: Trained
) -> None:
    steps: list[str] = []
    log(client, trained, on_step=steps.append)
    train = client.get_content(f"{NAME}-training", 1)
    evaluation = client.get_content(f"{NAME}-evaluation", 1)
    assert (train.rows, train.target) == (len(trained.X_train), ["target"])
    assert evaluation.rows == len(trained.X_test)
    assert sum("content uploaded and verified" in s for s in steps) == 2
    steps.clear()
    log(client, trained, on_step=steps.append)  # same data: versions and contents reused
    assert not any("content uploaded" in s for s in steps)
    numpy_steps: list[str] = []
    log(
        client,
        trained,
        name="cancer-numpy",
        X_train=trained.X_train.to_numpy(),
        y_train=trained.y_train.to_numpy(),
        X_eval=None,
        y_eval=None,
        on_step=numpy_steps.append,
    )
    assert client.get_content("cancer-numpy-training", 1).target == ["target"]


def test_upload_data_can_be_turned_off(client: Client, trained: Trained) -> None:
    log(client, trained, upload_data=False)
    with pytest.raises(NotFound):
        client.get_content(f"{NAME}-training", 1)
