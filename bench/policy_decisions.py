"""`make bench-policy`: authorization and gate decisions, Cedar (cedarpy) against Rego
(regopy) in the same run, and authorization's share of an API request.

Measures, in-process: a simple role check; access to 1,000 models that each carry their
own grants (one policy over the models' `invokers`, and for contrast 1,000 per-model
policies); the full high-risk gate over 1,000 different models; the gate through the
promotion service (facts derived from a SQLite database). Then the same three decisions in
Rego, and a real server's GET /models/{name} against the authorization step alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))

import httpx
import uvicorn
from regopy import Interpreter
from rich.console import Console
from rich.table import Table
from workload import percentiles

from charter.access.principals import bootstrap_admin
from charter.access.tokens import authenticate
from charter.api.app import create_app
from charter.artifacts.blobstore import LocalBlobStore
from charter.domain.artifacts import ManifestEntry
from charter.domain.enums import Action, Role, Stage
from charter.domain.gates import GateFacts, PromotionCreate, Requirements
from charter.domain.identity import Actor
from charter.domain.registry import ModelCreate, ModelVersionCreate
from charter.gates import cedar, promotions
from charter.gates.engine import CedarGate
from charter.policy.access import authorize
from charter.policy.bundle import bundle_from_files, default_bundle
from charter.policy.engine import PolicyEngine
from charter.policy.entities import api_resource, model_resource
from charter.registry import models, registration
from charter.settings import Settings
from charter.store.engine import Database
from charter.store.migrate import upgrade

ROOT = Path(__file__).parents[1]
GATE_REGO = ROOT / "examples" / "opa" / "charter_gate.rego"
REGO_DIR = Path(__file__).parent / "policy_rego"
MODELS = 1_000
CONSUMERS = 50
PURPOSES = frozenset({"credit-decisioning"})
PURPOSE = {"purpose": "credit-decisioning"}
console = Console(width=140)


def timed(call: Callable[[], object], n: int) -> dict[str, float]:
    """Latency of `n` calls in microseconds (p50/p95/p99/mean) and calls per second."""
    samples = []
    started = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - t0) / 1000)
    elapsed = time.perf_counter() - started
    out = percentiles(samples)
    out["per_s"] = round(n / elapsed)
    return out


def cycling(calls: list[Callable[[], object]]) -> Callable[[], object]:
    it = iter(range(10**12))
    return lambda: calls[next(it) % len(calls)]()


def actor(name: str, *roles: Role, unit: str = "retail") -> Actor:
    return Actor(principal_id=1, name=name, roles=frozenset(roles), business_unit=unit)


# --- 1. the simple role check ----------------------------------------------------------


def role_check(engine: PolicyEngine, n: int) -> dict[str, Any]:
    readers = [actor(f"user-{i}", Role.DATA_SCIENTIST) for i in range(100)]
    api = api_resource()
    warm = cycling([lambda a=a: engine.decide(a, Action.REGISTRY_READ, api) for a in readers])
    for _ in range(len(readers)):
        warm()
    engine.clear_cache()
    uncached = cycling(
        [lambda a=a: engine.decide_uncached(a, Action.REGISTRY_READ, api) for a in readers]
    )
    result = {"uncached": timed(uncached, n // 20)}
    for _ in range(len(readers)):
        warm()
    result["cached"] = timed(warm, n)
    return result


# --- 2. 1,000 models with their own grants --------------------------------------------


def grants(seed: int = 7) -> dict[str, list[str]]:
    rng = random.Random(seed)
    consumers = [f"app-{i}" for i in range(CONSUMERS)]
    return {f"model-{m}": sorted(rng.sample(consumers, 3)) for m in range(MODELS)}


def model_access(engine: PolicyEngine, table: dict[str, list[str]], n: int) -> dict[str, Any]:
    resources = {
        name: model_resource(name, "retail", "high", ["eu-west-1"], invokers)
        for name, invokers in table.items()
    }
    rng = random.Random(11)
    pairs = [(f"app-{rng.randrange(CONSUMERS)}", rng.choice(list(table))) for _ in range(4000)]
    callers = {
        name: dataclasses.replace(actor(name, Role.CONSUMER), purposes=PURPOSES)
        for name, _ in pairs
    }
    wrong = [
        (who, model)
        for who, model in pairs[:500]
        if engine.decide_uncached(
            callers[who], Action.MODEL_INVOKE, resources[model], PURPOSE
        ).allowed
        != (who in table[model])
    ]
    if wrong:
        raise AssertionError(f"wrong access decisions, e.g. {wrong[:3]}")
    calls = [
        lambda w=who, m=model: engine.decide(callers[w], Action.MODEL_INVOKE, resources[m], PURPOSE)
        for who, model in pairs
    ]
    uncached = [
        lambda w=who, m=model: engine.decide_uncached(
            callers[w], Action.MODEL_INVOKE, resources[m], PURPOSE
        )
        for who, model in pairs
    ]
    engine.clear_cache()
    result = {"uncached": timed(cycling(uncached), n // 20)}
    warm = cycling(calls)
    for _ in range(len(calls)):
        warm()
    result["cached"] = timed(warm, n)
    result["granted_share"] = round(sum(w in table[m] for w, m in pairs) / len(pairs), 3)
    return result


def naive_per_model_policies(table: dict[str, list[str]], n: int) -> dict[str, Any]:
    """The design Charter avoids: one permit per model and grantee."""
    lines = []
    for model, invokers in table.items():
        for who in invokers:
            lines.append(
                f'@id("grant-{model}-{who}")\n@reason("grant")\n'
                f'permit (principal == Charter::Principal::"{who}", '
                f'action == Charter::Action::"model:invoke", '
                f'resource == Charter::Model::"{model}");'
            )
    files = dict(default_bundle().files)
    files["grants.cedar"] = "\n".join(lines)
    engine = PolicyEngine(bundle_from_files(files))
    plain = {name: model_resource(name, "retail", "high", ["eu-west-1"]) for name in table}
    rng = random.Random(13)
    calls = []
    for _ in range(500):
        who, model = f"app-{rng.randrange(CONSUMERS)}", rng.choice(list(table))
        caller = dataclasses.replace(actor(who, Role.CONSUMER), purposes=PURPOSES)
        calls.append(
            lambda c=caller, m=model: engine.decide_uncached(
                c, Action.MODEL_INVOKE, plain[m], PURPOSE
            )
        )
    return {"policies": len(lines), "uncached": timed(cycling(calls), n)}


# --- 3. the full high-risk gate --------------------------------------------------------

HIGH = Requirements(
    model_card=True,
    metrics=True,
    transparency_notice=True,
    validation=True,
    approvals=2,
    business_owner_signoff=True,
    region_required=True,
    data_residency=True,
    signature=True,
    ml_bom=True,
    no_high_vulnerabilities=True,
    pii_cleared=True,
    fairness=True,
    model_card_complete=True,
    max_demographic_parity_bp=1000,
    max_equalized_odds_bp=1000,
)


def gate_facts(i: int) -> GateFacts:
    rng = random.Random(i)
    return GateFacts(
        model=f"model-{i}",
        version=1 + i % 7,
        target_stage="production",
        region="eu-west-1",
        risk_tier="high",
        business_unit="retail",
        approved_regions=frozenset({"eu-west-1", "eu-central-1"}),
        business_owner=f"owner-{i % 40}",
        author=f"author-{i % 90}",
        run_authors=frozenset({f"author-{i % 90}"}),
        training_data_regions=frozenset({"eu"}),
        metrics=True,
        model_card=True,
        transparency_notice=rng.random() > 0.1,
        independent_validation=True,
        approvers=frozenset(rng.sample([f"v-{k}" for k in range(20)], rng.randint(0, 3))),
        business_owner_signed=rng.random() > 0.3,
        requested_by=f"author-{i % 90}",
        break_glass=False,
        requirements=HIGH,
        allowed_data_regions=frozenset({"eu", "eea"}),
        signature_valid=True,
        ml_bom=True,
        vulnerability_scanned=True,
        high_vulnerabilities=int(rng.random() > 0.9),
        pii_cleared=True,
        fairness_evaluated=True,
        demographic_parity_bp=rng.randint(0, 1500),
        equalized_odds_bp=rng.randint(0, 1500),
        model_card_complete=True,
    )


def gate_engine(engine: PolicyEngine) -> dict[str, Any]:
    facts = [gate_facts(i) for i in range(MODELS)]
    engine.clear_cache()
    distinct = iter(facts)
    first = timed(lambda: cedar.evaluate(engine, next(distinct), 0), MODELS)
    again = cycling([lambda f=f: cedar.evaluate(engine, f, 0) for f in facts])
    return {"distinct_facts": first, "cached": timed(again, 5 * MODELS)}


@contextmanager
def world(work: Path) -> Iterator[tuple[Database, LocalBlobStore, Actor]]:
    """A SQLite home with 1,000 high-risk models, one version each."""
    db = Database(f"sqlite:///{work / 'charter.db'}", pool_size=4)
    upgrade(db.engine)
    blobs = LocalBlobStore(work / "blobs")
    _, token = bootstrap_admin(db, "admin")
    admin = authenticate(db, token.secret)
    info = blobs.put_bytes(b"weights")
    entry = ManifestEntry(path="model.bin", size=info.size, sha256=info.sha256)
    for i in range(MODELS):
        name = f"model-{i}"
        models.create_model(
            db,
            admin,
            ModelCreate(
                name=name, risk_tier="high", business_unit="retail", approved_regions=["eu-west-1"]
            ),
        )
        registration.create_version(
            db, blobs, admin, name, ModelVersionCreate(files=[entry], flavor="skops")
        )
    try:
        yield db, blobs, admin
    finally:
        db.dispose()


def gate_service(work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    with world(work) as (db, _, admin):
        setup_s = time.perf_counter() - started
        gate = CedarGate()
        bodies = [
            PromotionCreate(model=f"model-{i}", version=1, to=Stage.PRODUCTION, region="eu-west-1")
            for i in range(MODELS)
        ]
        found = iter(bodies)
        result = timed(lambda: promotions.dry_run(db, gate, admin, next(found)), MODELS)
    return {"dry_run": result, "setup_s": round(setup_s, 1)}


# --- 4. the same in Rego ----------------------------------------------------------------


def rego_query(module: str, data: dict[str, Any] | None, query: str) -> Callable[[str], Any]:
    interpreter = Interpreter()
    interpreter.add_module("policy", module)
    if data is not None:
        interpreter.add_data_json(json.dumps(data))

    def ask(document: str) -> Any:
        interpreter.set_input_term(document)
        return interpreter.query(query)

    return ask


def rego(table: dict[str, list[str]], n: int) -> dict[str, Any]:
    from charter.access.roles import ROLE_ACTIONS

    roles = {role.value: sorted(a.value for a in acts) for role, acts in ROLE_ACTIONS.items()}
    role_ask = rego_query(
        (REGO_DIR / "roles.rego").read_text(), {"roles": roles}, "data.charter.access.allow"
    )
    documents = [
        json.dumps({"principal": {"roles": ["data_scientist"]}, "action": "registry:read"})
    ]
    if "true" not in str(role_ask(documents[0])):
        raise AssertionError("the Rego role check refused a data scientist's read")
    invoke_ask = rego_query(
        (REGO_DIR / "invoke.rego").read_text(), {"invokers": table}, "data.charter.invoke.allow"
    )
    rng = random.Random(11)
    invoke_docs = [
        json.dumps(
            {"principal": f"app-{rng.randrange(CONSUMERS)}", "model": rng.choice(list(table))}
        )
        for _ in range(1000)
    ]
    gate_ask = rego_query(GATE_REGO.read_text(), None, "data.charter.gate.allow")
    gate_docs = [json.dumps(gate_facts(i).document()) for i in range(MODELS)]
    return {
        "role_check": timed(cycling([lambda d=d: role_ask(d) for d in documents]), n // 20),
        "model_access": timed(cycling([lambda d=d: invoke_ask(d) for d in invoke_docs]), n // 20),
        "gate": timed(cycling([lambda d=d: gate_ask(d) for d in gate_docs]), MODELS),
    }


# --- 5. authorization's share of an API request ----------------------------------------


def api_share(work: Path, n: int) -> dict[str, Any]:
    home = work / "api-home"
    (home / "tmp").mkdir(parents=True)
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'charter.db'}")
    db = Database(settings.resolved_database_url, pool_size=4)
    upgrade(db.engine)
    _, token = bootstrap_admin(db, "admin")
    admin = authenticate(db, token.secret)
    models.create_model(db, admin, ModelCreate(name="credit", risk_tier="high"))
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        headers = {"Authorization": f"Bearer {token.secret}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
            for _ in range(100):
                http.get("/api/v1/models/credit").raise_for_status()
            request = timed(lambda: http.get("/api/v1/models/credit").raise_for_status(), n)
        for _ in range(100):
            authorize(db, admin, Action.REGISTRY_READ)
        decision = timed(lambda: authorize(db, admin, Action.REGISTRY_READ), 20 * n)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()
    return {
        "request": request,
        "authorize": decision,
        "share_p50": round(decision["p50"] / request["p50"], 4),
    }


# --- report -----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    from run import machine as registry_bench_machine

    info = registry_bench_machine(None)
    info.pop("mlflow", None)
    from importlib.metadata import version

    info["cedarpy"] = version("cedarpy")
    info["regopy"] = version("regopy")
    info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    return info


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    access = results["model_access"]["cached"]["p50"]
    role = results["role_check"]["cached"]["p50"]
    gate = results["gate_engine"]["distinct_facts"]["p50"]
    service = results["gate_service"]["dry_run"]["p50"]
    share = results["api_share"]["share_p50"]
    return [
        {
            "target": "access decision p50 < 50 µs (role check; 1,000 models with grants)",
            "value": f"{role:.1f} µs; {access:.1f} µs",
            "met": role < 50 and access < 50,
        },
        {
            "target": "full gate p50 < 1 ms at 1,000 models (engine; through the service)",
            "value": f"{gate / 1000:.3f} ms; {service / 1000:.2f} ms",
            "met": gate < 1000,
        },
        {
            "target": "authorization < 5 % of an API request (p50)",
            "value": f"{share * 100:.1f} %",
            "met": share < 0.05,
        },
    ]


ROWS = [
    ("role check, cached (the request path)", ("role_check", "cached")),
    ("role check, uncached", ("role_check", "uncached")),
    ("1,000 models' grants, cached", ("model_access", "cached")),
    ("1,000 models' grants, uncached", ("model_access", "uncached")),
    ("per-model policies (naive), uncached", ("naive_policies", "uncached")),
    ("high-risk gate, 1,000 distinct facts", ("gate_engine", "distinct_facts")),
    ("high-risk gate, cached", ("gate_engine", "cached")),
    ("gate dry run through the service (SQLite)", ("gate_service", "dry_run")),
    ("Rego: role check", ("rego", "role_check")),
    ("Rego: 1,000 models' grants", ("rego", "model_access")),
    ("Rego: high-risk gate", ("rego", "gate")),
    ("GET /api/v1/models/{name} over HTTP", ("api_share", "request")),
    ("authorize() in that request, cached", ("api_share", "authorize")),
]


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"Measured {results['date']} on {m.get('cpu')} ({m.get('cores')} cores, "
        f"{m.get('ram_gib')} GiB, {m.get('os')}), Python {m.get('python')}, "
        f"cedarpy {m['cedarpy']}, regopy {m['regopy']}; {results['elapsed_s']} s in total.",
        "",
        "| decision | p50 µs | p99 µs | per s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, (group, key) in ROWS:
        r = results[group][key]
        lines.append(f"| {label} | {r['p50']:,.1f} | {r['p99']:,.1f} | {r['per_s']:,} |")
    lines += ["", "| Cedar / Rego (p50) | ratio |", "| --- | ---: |"]
    for name, value in results["ratios"].items():
        lines.append(f"| {name} | {value} |")
    lines += ["", "| target | measured | met |", "| --- | --- | --- |"]
    for t in results["targets"]:
        lines.append(f"| {t['target']} | {t['value']} | {'yes' if t['met'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=20_000, help="cached decisions timed")
    parser.add_argument("--output", type=Path, default=Path("bench/results/policy.json"))
    args = parser.parse_args()
    started = time.perf_counter()
    engine = PolicyEngine(default_bundle())
    table = grants()
    results: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("role_check", lambda: role_check(engine, args.samples)),
        ("model_access", lambda: model_access(engine, table, args.samples)),
        ("naive_policies", lambda: naive_per_model_policies(table, 500)),
        ("gate_engine", lambda: gate_engine(engine)),
        ("rego", lambda: rego(table, args.samples)),
    ]
    work = Path(tempfile.mkdtemp(prefix="charter-policy-bench-"))
    steps += [
        ("gate_service", lambda: gate_service(work)),
        ("api_share", lambda: api_share(work, 2000)),
    ]
    try:
        for name, step in steps:
            console.print(f"[cyan]{name}[/] ...")
            results[name] = step()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["ratios"] = {
        "role check": round(
            results["role_check"]["uncached"]["p50"] / results["rego"]["role_check"]["p50"], 2
        ),
        "1,000 models' grants": round(
            results["model_access"]["uncached"]["p50"] / results["rego"]["model_access"]["p50"], 2
        ),
        "high-risk gate": round(
            results["gate_engine"]["distinct_facts"]["p50"] / results["rego"]["gate"]["p50"], 2
        ),
    }
    results["machine"] = machine()
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["targets"] = targets(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results)
    args.output.with_suffix(".md").write_text(text)
    grid = Table(title="policy decisions")
    for column in ("decision", "p50 µs", "p99 µs", "per s"):
        grid.add_column(column)
    for label, (group, key) in ROWS:
        r = results[group][key]
        grid.add_row(label, f"{r['p50']:,.1f}", f"{r['p99']:,.1f}", f"{r['per_s']:,}")
    console.print(grid)
    console.print(results["ratios"])
    for t in results["targets"]:
        console.print(
            f"{'[green]met' if t['met'] else '[red]missed'}[/] {t['target']}: {t['value']}"
        )
    console.print(f"results: {args.output} ({results['elapsed_s']} s)")


if __name__ == "__main__":
    main()
