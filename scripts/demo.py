"""`make demo`: a fresh Charter home and server, a model registered, evidenced and promoted.

Creates a temporary home with `charter init`, starts `charter server` on a free loopback
port, trains a classifier on scikit-learn's bundled breast-cancer data, registers it with
`charter.log_model`, then prints the lineage tree, the manifest and a verified download,
computes the evidence a high-risk gate needs (signature, ML-BOM, vulnerability and PII
scans, evaluations, model card), promotes the version to production with four-eyes
approvals, proves it all in the audit log and prints the commands to try next. The
server is stopped at the end, also on error or Ctrl-C; the home
is kept so those commands work once the server is started again (`--cleanup` removes it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

import charter
from charter.artifacts.manifest import hash_file
from charter.client.client import Client
from charter.client.proofs import check_inclusion
from charter.client.tree import render_tree
from charter.domain.artifacts import Manifest

MODEL = "breast-cancer-classifier"
# soft_wrap: long digests and commands stay on one line, so they can be copied whole.
console = Console(highlight=False, soft_wrap=True)
# The `charter` command, run by this interpreter whether or not the venv is on PATH.
CLI = [sys.executable, "-m", "charter.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def heading(text: str) -> None:
    console.rule(f"[bold cyan]{text}", align="left")


def charter_cli(*args: str) -> str:
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"charter {' '.join(args)} failed:\n{done.stderr or done.stdout}")
    return done.stdout


@contextlib.contextmanager
def running_server(home: Path, port: int, log: Path) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*CLI, "server", "--home", str(home), "--port", str(port), "--log-level", "warning"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so Ctrl-C reaches the server only through us
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within 30 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        console.print(f"[dim]server (pid {process.pid}) stopped[/]")


@dataclass
class Trained:
    model: Any
    X_train: Any
    y_train: Any
    X_test: Any
    y_test: Any
    metrics: dict[str, float]


def train() -> Trained:
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer(as_frame=True)
    features = data.data.copy()
    # A synthetic sensitive attribute (the bundled data has none), so the demo can show
    # Charter's fairness evaluation; it is random, so the model should not depend on it.
    features["sex"] = np.random.default_rng(7).integers(0, 2, len(features))
    X_train, X_test, y_train, y_test = train_test_split(  # noqa: N806 - scikit-learn's naming
        features, data.target, test_size=0.25, random_state=42, stratify=data.target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, C=1.0))
    model.fit(X_train, y_train)
    metrics = {
        "accuracy": float(accuracy_score(y_test, model.predict(X_test))),
        "roc_auc": float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])),
    }
    return Trained(model, X_train, y_train, X_test, y_test, metrics)


def show_manifest(client: Client, version: int) -> None:
    found = client.get_version(MODEL, version)
    grid = Table(title=f"manifest of {MODEL}@{version}", title_justify="left")
    grid.add_column("path")
    grid.add_column("size (bytes)", justify="right")
    grid.add_column("sha256", overflow="fold")
    for entry in found.files:
        grid.add_row(entry.path, f"{entry.size:,}", entry.sha256)
    console.print(grid)
    console.print(f"manifest digest: [bold]{found.manifest_digest}[/]")
    console.print(
        f"flavor {found.flavor}, {found.framework}; tags: "
        + ", ".join(f"{k}={v}" for k, v in sorted(found.tags.items()))
    )


def check_download(client: Client, version: int, dest: Path) -> None:
    found = client.download_version(MODEL, version, dest)
    entries = []
    for entry in found.files:
        info = hash_file(dest / entry.path)
        ok = info.sha256 == entry.sha256 and info.size == entry.size
        console.print(f"  {'[green]ok[/]' if ok else '[red]MISMATCH[/]'}  {entry.path}")
        if not ok:
            raise RuntimeError(f"{entry.path} downloaded with the wrong digest")
        entries.append(entry)
    digest = Manifest(entries=entries).digest
    if digest != found.manifest_digest:
        raise RuntimeError("the downloaded files do not add up to the manifest digest")
    console.print(f"downloaded files re-hashed to manifest digest {digest}")


def prove_registration(client: Client, subject: str) -> None:
    events = client.audit_events(limit=1000).items
    console.print(f"{len(events)} audit events so far; the last five:")
    for event in events[-5:]:
        console.print(f"  #{event.seq:<4} {event.action:<20} {event.subject}", markup=False)
    checkpoint = client.take_checkpoint()
    console.print(f"signed checkpoint (C2SP signed note) at size {checkpoint.size}:")
    console.print(checkpoint.note, markup=False, highlight=False)
    [created] = client.audit_events(action="version.create", subject=subject).items
    proof = client.inclusion_proof(created.seq, checkpoint.size)
    keys = {k.key_hash: k.verifier_key for k in client.audit_keys()}
    verifier_key = keys[checkpoint.key_hash]
    check_inclusion(proof, verifier_key, entry=created.entry)
    console.print(
        f"event #{created.seq} ({created.action} {created.subject}) is in the signed tree: "
        f"{len(proof.proof)} hashes lead from its leaf to root {proof.root_hash[:16]}…, "
        "checked on this machine against the checkpoint's signature"
    )


def verify_offline(home: Path) -> None:
    report = json.loads(charter_cli("audit", "verify", "--home", str(home), "--json"))
    console.print(
        f"charter audit verify --home {home}: ok={report['ok']}, {report['size']} events "
        f"re-hashed, root {report['root'][:16]}…, {report['checkpoints_verified']} signed "
        "checkpoint(s) checked"
    )
    if not report["ok"]:
        raise RuntimeError(f"the audit log did not verify: {report['problems']}")


def show_gate(gate: Any) -> None:
    grid = Table(title=f"gate ({gate.engine})", title_justify="left")
    for column in ("rule", "result", "reason"):
        grid.add_column(column, overflow="fold")
    for rule in sorted(gate.rules, key=lambda r: r.passed):
        mark = "[green]pass[/]" if rule.passed else "[red]FAIL[/]"
        grid.add_row(rule.rule, mark, rule.reason.replace("[", "\\["))
    console.print(grid)


def produce_evidence(client: Client, version: int) -> None:
    """Everything the high-risk gate reads that Charter computes itself."""
    console.print("evidence Charter computes itself:")
    signature = client.signature(MODEL, version)
    state = "valid" if signature.valid else "INVALID"
    console.print(f"  [green]✓[/] manifest signature {signature.statement['key_id']}: {state}")
    for item in client.compute_evidence(MODEL, version, ["ml_bom", "vulnerability_scan"]):
        console.print(f"  [green]✓[/] {item.title}")
    for dataset in ("breast-cancer-train", "breast-cancer-test"):
        scan = client.scan_dataset(dataset, 1)
        console.print(f"  [green]✓[/] {dataset}: {scan.title}")
    for item in client.evaluate_version(MODEL, version, sensitive_features=["sex"]):
        console.print(f"  [green]✓[/] {item.title}")
        if item.kind == "fairness_evaluation":
            console.print(f"      worst over 'sex': {item.details['worst']}")
    client.write_card(
        MODEL,
        version,
        {
            "ethical_considerations": "Supports, never replaces, a pathologist's diagnosis.",
            "caveats_and_recommendations": "Trained on one public dataset; validate locally.",
        },
    )
    console.print(f"  [green]✓[/] {client.generate_card(MODEL, version).title}")


def govern(client: Client, url: str, version: int, workdir: Path) -> None:
    """Promote the version to production through the gate, with four-eyes approvals."""
    people: dict[str, Client] = {}
    for name, role in (("vic", "validator"), ("rita", "risk_officer"), ("olga", "risk_officer")):
        client.create_principal(name, [role], display_name=f"{name} ({role})")
        people[name] = Client(url, client.create_token("demo", principal=name).secret)
    model = client.get_model(MODEL)
    client.update_model(
        model,
        business_owner="olga",
        approved_regions=["eu-west-1"],
        intended_use="decision support for pathologists reviewing breast biopsies",
    )
    console.print(
        "model owner: olga; approved region: eu-west-1; people: vic (validator), "
        "rita (risk officer), olga (business owner, risk officer)"
    )
    gate = client.dry_run_promotion(MODEL, version, "production", "eu-west-1")
    console.print("charter promote --dry-run: what would block production?")
    show_gate(gate)
    opened = client.promote(MODEL, version, "production", "eu-west-1", comment="demo release")
    console.print(f"opened promotion request {opened.id}: {opened.status.value}")
    produce_evidence(client, version)
    workdir.mkdir(parents=True, exist_ok=True)
    for kind, who in (
        ("transparency_notice", client),
        ("validation_report", people["vic"]),
    ):
        path = workdir / f"{kind}.md"
        path.write_text(f"# {kind.replace('_', ' ')} for {MODEL}@{version}\n")
        who.attach_evidence(MODEL, version, kind, path)
        console.print(f"  [green]✓[/] {kind} attached")
    try:
        client.approve(opened.id)
    except Exception as exc:  # the point of the step: the author is refused
        console.print(f"the author (admin) tries to approve: [red]refused[/] — {exc}")
    for name in ("vic", "rita", "olga"):
        current = people[name].approve(opened.id, comment=f"approved by {name}")
        left = ", ".join(current.gate.blocking) if current.gate else ""
        console.print(
            f"  {name} approves -> {current.status.value}" + (f" (waiting: {left})" if left else "")
        )
    for sdk in people.values():
        sdk.close()
    history = client.stage_history(MODEL, version)
    last = history[-1]
    console.print(
        f"{MODEL}@{version} is now in [bold]{last.to_stage.value}[/] ({last.comment}, "
        f"by {last.actor})"
    )


def next_steps(url: str, token: str, home: Path, port: int, keep: bool) -> None:
    cli = "charter" if shutil.which("charter") else str(Path(sys.executable).parent / "charter")
    lines = [
        f"{cli} server --home {home} --port {port} &   # the demo stopped its server",
        f"export CHARTER_URL={url}",
        f"export CHARTER_TOKEN={token}",
        f"{cli} models list",
        f"{cli} versions show {MODEL} 1",
        f"{cli} lineage show model:{MODEL}@1",
        f"{cli} datasets list",
        f"{cli} promotions list",
        f"{cli} versions verify {MODEL} 1",
        f"{cli} evidence list {MODEL} 1",
        f"{cli} evidence card {MODEL} 1",
        f"{cli} promote {MODEL} 1 --to archived --dry-run",
        f"{cli} audit events",
        f"{cli} audit verify --home {home}",
    ]
    if keep:
        lines.append(f"rm -rf {home.parent}   # when you are done")
    else:
        lines = [f"# (run without --cleanup to keep the home {home} for these)", *lines]
    console.print("try next:")
    for line in lines:
        console.print(f"  {line}", markup=False)


def run_demo(home: Path, port: int, keep: bool) -> None:
    started = time.monotonic()
    heading("1. a fresh Charter home")
    init = json.loads(charter_cli("init", "--home", str(home), "--json"))
    token = init["token"]
    console.print(f"home {init['home']}, database {init['database']}, admin '{init['admin']}'")
    with running_server(home, port, home / "server.log") as url:
        console.print(
            f"server answering at {url} (health: {httpx.get(url + '/api/v1/health').json()})"
        )
        heading("2. train a scikit-learn model on the breast-cancer data")
        trained = train()
        console.print(f"{trained.model}", markup=False)
        console.print(
            f"{len(trained.X_train)} training rows, {len(trained.X_test)} held out: "
            + ", ".join(f"{k} {v:.4f}" for k, v in trained.metrics.items())
        )
        heading("3. charter.log_model(...)")
        with Client(url, token) as client:
            logged = charter.log_model(
                trained.model,
                name=MODEL,
                client=client,
                X_train=trained.X_train,
                y_train=trained.y_train,
                X_eval=trained.X_test,
                y_eval=trained.y_test,
                risk_tier="high",
                metrics=trained.metrics,
                dataset="breast-cancer-train",
                eval_dataset="breast-cancer-test",
                dataset_uri="sklearn://load_breast_cancer#train",
                eval_dataset_uri="sklearn://load_breast_cancer#test",
                data_region="eu",
                legal_basis="public-dataset",
                tags={"business_unit": "diagnostics", "demo": "true"},
                description="Logistic regression on standardised features (demo)",
                on_step=lambda line: console.print(f"  [green]✓[/] {line}"),
            )
            console.print(f"registered [bold]{logged.node}[/] (run {logged.run_id})")
            heading("4. lineage (upstream of the version)")
            console.print(render_tree(client.lineage(logged.node, "upstream", 5)), markup=False)
            heading("5. manifest")
            show_manifest(client, logged.version)
            heading("6. download and re-check every digest")
            check_download(client, logged.version, home / "download")
            heading("7. promotion to production: the gate, evidence and four-eyes approvals")
            govern(client, url, logged.version, home / "documents")
            heading("8. the audit log: a signed checkpoint and a Merkle proof")
            prove_registration(client, f"model:{MODEL}@{logged.version}")
    heading("9. verify the whole audit log offline (server stopped)")
    verify_offline(home)
    heading("10. what to type next")
    next_steps(url, token, home, port, keep)
    console.print(f"[bold green]demo finished in {time.monotonic() - started:.1f} s[/]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cleanup", action="store_true", help="delete the home at the end")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="charter-demo-")) / "home"
    # A fresh home means its own SQLite and blob store, whatever the caller's shell points at.
    for variable in ("CHARTER_HOME", "CHARTER_DATABASE_URL", "CHARTER_ARTIFACT_URL"):
        os.environ.pop(variable, None)
    # A polite kill (SIGTERM) unwinds like Ctrl-C, so the server is stopped either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        run_demo(home, args.port or free_port(), keep=not args.cleanup)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return 130
    except Exception as exc:
        console.print_exception()
        console.print(f"[bold red]demo failed:[/] {exc}")
        return 1
    finally:
        if args.cleanup:
            shutil.rmtree(home.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
