"""`make bench-evidence`: time to produce all evidence for a version, PII scan rows/s, and
Charter's fairness numbers and time against a plain scikit-learn + fairlearn script.

A version with a ~2 MB model and one with a ~500 MB artifact (the model plus a 500 MB
weights file, which signing, hashing and evaluation's re-verification must read) are
registered in a temporary SQLite home with an evaluation table of 100,000 rows; then the
signature check, ML-BOM, vulnerability scan, PII scans, evaluations and model card are
produced through the services, each timed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))

import numpy as np
import pandas as pd
import skops.io as sio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fairlearn.metrics import (
    demographic_parity_difference,
    equalized_odds_difference,
)
from rich.console import Console
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, roc_auc_score

from charter.access.principals import bootstrap_admin
from charter.access.tokens import authenticate
from charter.artifacts.blobstore import LocalBlobStore
from charter.artifacts.tabular import summarize
from charter.audit import ledger
from charter.domain.artifacts import ManifestEntry
from charter.domain.common import DatasetVersionRef
from charter.domain.evidence import (
    CardFieldsUpdate,
    DatasetContentAttach,
    EvaluationRequest,
)
from charter.domain.registry import (
    DatasetCreate,
    DatasetVersionCreate,
    ModelCreate,
    ModelVersionCreate,
)
from charter.evidence import (
    card_fields,
    card_service,
    contents,
    evaluations,
    pii_scan,
    pii_service,
    signatures,
    supply_chain,
)
from charter.gates.engine import CedarGate
from charter.registry import datasets, models, registration
from charter.registry.common import find_version
from charter.store.engine import Database
from charter.store.migrate import upgrade

console = Console(width=140)
ROWS = 100_000


def table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.normal(50, 10, rows),
            "debt": rng.normal(20, 5, rows),
            "age": rng.integers(18, 80, rows),
            "sex": rng.integers(0, 2, rows),
            "email": [f"user{i}@example.org" for i in range(rows)],
        }
    )
    frame["label"] = ((frame["income"] - frame["debt"] + 3 * frame["sex"]) > 31).astype(int)
    return frame


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, round(time.perf_counter() - started, 3)


def machine() -> dict[str, Any]:
    from run import machine as registry_bench_machine

    info = registry_bench_machine(None)
    info.pop("mlflow", None)
    info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--big-mb", type=int, default=500, help="size of the large artifact")
    parser.add_argument("--output", type=Path, default=Path("bench/results/evidence.json"))
    args = parser.parse_args()
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="charter-evidence-bench-"))
    results: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    try:
        db = Database(f"sqlite:///{work / 'charter.db'}", pool_size=4)
        upgrade(db.engine)
        blobs = LocalBlobStore(work / "blobs")
        _, token = bootstrap_admin(db, "admin")
        admin = authenticate(db, token.secret)
        key = Ed25519PrivateKey.generate()
        ledger.register_key(db, admin, ledger.Signer(key))
        gate = CedarGate()

        train, evaluation = table(20_000, 1), table(ROWS, 2)
        features = ["income", "debt", "age", "sex"]
        model = RandomForestClassifier(n_estimators=40, max_depth=12, random_state=0, n_jobs=1)
        model.fit(train[features], train["label"])
        for name, frame in (("train", train), ("eval", evaluation)):
            datasets.create_dataset(db, admin, DatasetCreate(name=name))
            part = frame[[*features, "email", "label"]]
            summary = summarize(part.drop(columns=["label"]), part["label"])
            datasets.create_dataset_version(
                db, admin, name,
                DatasetVersionCreate(uri=f"bench://{name}", digest=summary.digest,
                                     row_count=len(part), data_region="eu", legal_basis="contract"),
            )  # fmt: skip
            path = work / f"{name}.parquet"
            part.to_parquet(path, index=False)
            contents.attach(db, blobs, admin, name, 1, DatasetContentAttach(
                sha256=blobs.put_file(path).sha256, target=["label"]))  # fmt: skip

        # A plain script does the same evaluation by hand, as the peer.
        peer_started = time.perf_counter()
        predicted = model.predict(evaluation[features])
        peer = {
            "accuracy": accuracy_score(evaluation["label"], predicted),
            "roc_auc": roc_auc_score(
                evaluation["label"], model.predict_proba(evaluation[features])[:, 1]
            ),
            "dpd": demographic_parity_difference(
                evaluation["label"], predicted, sensitive_features=evaluation["sex"].astype(str)
            ),
            "eod": equalized_odds_difference(
                evaluation["label"], predicted, sensitive_features=evaluation["sex"].astype(str)
            ),
        }
        peer_s = round(time.perf_counter() - peer_started, 3)

        runs: dict[str, Any] = {}
        # The forest's skops file is about 2 MB; the large artifact adds a weights file.
        for label, extra_mb in (("2 MB model", 0), (f"{args.big_mb} MB artifact", args.big_mb)):
            artifact = work / f"artifact-{extra_mb}"
            artifact.mkdir()
            sio.dump(model, artifact / "model.skops")
            if extra_mb:
                with open(artifact / "weights.bin", "wb") as out:
                    chunk = os.urandom(1 << 20)
                    for _ in range(extra_mb):
                        out.write(chunk)
            files = []
            for path in sorted(artifact.iterdir()):
                info = blobs.put_file(path)
                files.append(ManifestEntry(path=path.name, size=info.size, sha256=info.sha256))
            name = f"bench-{extra_mb}"
            models.create_model(db, admin, ModelCreate(name=name, risk_tier="high"))
            body = ModelVersionCreate(
                files=files, flavor="skops", metrics={"accuracy": 0.9},
                environment={"packages": {"numpy": np.__version__, "jinja2": "2.10"}},
                training_datasets=[DatasetVersionRef(dataset="train", version=1)],
                evaluation_datasets=[DatasetVersionRef(dataset="eval", version=1)],
            )  # fmt: skip
            steps: dict[str, float] = {}
            _, steps["register + sign"] = timed(
                lambda n=name, b=body: registration.create_version(db, blobs, admin, n, b, key)
            )
            with db.reading() as session:
                _, mv = find_version(session, name, 1)
                _, steps["check signature"] = timed(
                    lambda s=session, v=mv: signatures.is_valid(s, v)
                )
            _, steps["ML-BOM"] = timed(
                lambda n=name: supply_chain.produce_bom(db, blobs, gate, admin, n, 1)
            )
            _, steps["vulnerability scan"] = timed(
                lambda n=name: supply_chain.scan(db, gate, admin, n, 1)
            )
            _, steps["PII scan, training (20k rows)"] = timed(
                lambda: pii_service.scan(db, blobs, gate, admin, "train", 1)
            )
            found, steps["evaluations (100k rows)"] = timed(
                lambda n=name: evaluations.evaluate(
                    db, blobs, gate, admin, n, 1, EvaluationRequest(sensitive_features=["sex"])
                )
            )
            card_fields.update(db, admin, name, 1, CardFieldsUpdate(fields={
                "ethical_considerations": "x", "caveats_and_recommendations": "y"}))  # fmt: skip
            _, steps["model card"] = timed(
                lambda n=name: card_service.generate(db, blobs, gate, admin, n, 1)
            )
            steps["total"] = round(sum(steps.values()), 3)
            fairness = next(e for e in found if e.kind == "fairness_evaluation").details
            performance = next(e for e in found if e.kind == "performance_evaluation").details
            runs[label] = {
                "steps_s": steps,
                "fairness_equal_to_fairlearn": abs(
                    fairness["features"]["sex"]["demographic_parity_difference"] - peer["dpd"]
                )
                < 1e-6
                and abs(fairness["features"]["sex"]["equalized_odds_difference"] - peer["eod"])
                < 1e-6,
                "accuracy_equal": abs(performance["metrics"]["accuracy"] - peer["accuracy"]) < 1e-6,
            }
            shutil.rmtree(artifact)
        results["versions"] = runs
        results["peer_script_s"] = peer_s
        results["peer"] = {k: round(float(v), 6) for k, v in peer.items()}

        pii_rows = table(ROWS, 3)
        _, pii_s = timed(lambda: pii_scan.scan(pii_rows))
        results["pii_scan"] = {"rows": ROWS, "columns": pii_rows.shape[1], "seconds": pii_s,
                               "rows_per_s": round(ROWS / pii_s)}  # fmt: skip
        db.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["machine"] = machine()
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    lines = [f"Measured {results['date']}; {results['elapsed_s']} s in total.", ""]
    labels = list(runs)
    lines += ["| step, seconds | " + " | ".join(labels) + " |", "| --- |" + " ---: |" * len(labels)]
    for step in next(iter(runs.values()))["steps_s"]:
        lines.append(
            f"| {step} | " + " | ".join(str(runs[k]["steps_s"][step]) for k in labels) + " |"
        )
    lines += [
        "",
        f"Plain scikit-learn + fairlearn script on the same 100,000 rows (predict, accuracy, "
        f"ROC AUC, two fairness metrics): {peer_s} s. Charter's fairness numbers equal "
        f"fairlearn's: {all(r['fairness_equal_to_fairlearn'] for r in runs.values())}; "
        f"accuracy equal: {all(r['accuracy_equal'] for r in runs.values())}.",
        f"PII scan: {ROWS:,} rows x {pii_rows.shape[1]} columns in {pii_s} s "
        f"({results['pii_scan']['rows_per_s']:,} rows/s).",
    ]
    args.output.with_suffix(".md").write_text("\n".join(lines) + "\n")
    console.print("\n".join(lines))


if __name__ == "__main__":
    main()
