"""The ML-BOM: CycloneDX 1.6, valid against the schema, with the model, data and packages."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from charter.evidence import mlbom

PART = mlbom.ModelPart(
    model="credit",
    version=2,
    manifest_digest="a" * 64,
    files=[{"path": "model.skops", "size": 10, "sha256": "b" * 64}],
    flavor="skops",
    framework="scikit-learn 1.5.2",
    risk_tier="high",
    intended_use="consumer credit scoring",
    metrics={"roc_auc": 0.91},
    datasets=[
        mlbom.DatasetPart("loans", 3, "sha256:" + "c" * 64, "training", "eu", "contract", True),
        mlbom.DatasetPart("loans-eval", 1, "sha256:" + "d" * 64, "evaluation"),
    ],
    packages=[("Scikit_Learn", "1.5.2"), ("numpy", "2.1.0"), ("scikit-learn", "1.5.2")],
)
WHEN = datetime(2026, 11, 24, tzinfo=UTC)


def test_the_bom_validates_and_holds_model_data_and_packages() -> None:
    text = mlbom.build(PART, WHEN)
    assert mlbom.validate(text) is None
    bom = json.loads(text)
    assert bom["specVersion"] == "1.6"
    model = bom["metadata"]["component"]
    assert model["type"] == "machine-learning-model" and model["name"] == "credit"
    assert model["hashes"] == [{"alg": "SHA-256", "content": "a" * 64}]
    assert model["modelCard"]["quantitativeAnalysis"]["performanceMetrics"][0]["type"] == "roc_auc"
    kinds = {c["name"]: c["type"] for c in bom["components"]}
    assert kinds["loans"] == "data" and kinds["scikit-learn"] == "library"
    purls = sorted(c["purl"] for c in bom["components"] if c["type"] == "library")
    assert purls == ["pkg:pypi/numpy@2.1.0", "pkg:pypi/scikit-learn@1.5.2"]  # one, normalised
    depends = {d["ref"]: d.get("dependsOn", []) for d in bom["dependencies"]}
    assert set(depends["model:credit@2"]) >= {"dataset:loans@3", "pkg:pypi/numpy@2.1.0"}
    assert mlbom.build(PART, WHEN) == text  # deterministic


def test_an_invalid_bom_is_refused() -> None:
    bom = json.loads(mlbom.build(PART, WHEN))
    bom["metadata"]["component"]["type"] = "spaceship"
    assert mlbom.validate(json.dumps(bom)) is not None
    del bom["specVersion"]
    assert mlbom.validate(json.dumps(bom)) is not None
