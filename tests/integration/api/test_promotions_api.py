"""The promotion workflow over HTTP through the SDK: dry run, open, evidence, approvals
from distinct people, the business owner's sign-off, four-eyes refusals, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from charter.client.client import Client
from charter.domain.errors import InvalidInput, NotFound, PermissionDenied
from tests.conftest import Admin
from tests.support.bundles import approvals_only_files

API = "/api/v1"


@pytest.fixture
def people(signed_server: str, client: Client) -> Iterator[dict[str, Client]]:
    server = signed_server
    roles = {
        "dana": ("data_scientist", "retail"),
        "olga": ("data_scientist", "retail"),
        "vic": ("validator", None),
        "rita": ("risk_officer", None),
        "aud": ("auditor", None),
    }
    out: dict[str, Client] = {}
    for name, (role, unit) in roles.items():
        client.create_principal(name, [role], business_unit=unit)
        out[name] = Client(server, client.create_token("t", principal=name).secret)
    yield out
    for sdk in out.values():
        sdk.close()


@pytest.fixture
def credit(people: dict[str, Client], client: Client, tmp_path: Path) -> int:
    client.create_model(
        "credit",
        "high",
        business_unit="retail",
        business_owner="olga",
        approved_regions=["eu-west-1"],
    )
    client.create_dataset("applicants")
    client.create_dataset_version(
        "applicants", uri="s3://d/a.parquet", digest="sha256:" + "a" * 64, data_region="eu"
    )
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"weights")
    files = people["dana"].upload_path(weights)
    created = people["dana"].create_version(
        "credit",
        files,
        "skops",
        metrics={"auc": 0.8},
        training_datasets=[{"dataset": "applicants", "version": 1}],
    )
    return created.version


def document(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.md"
    path.write_text(f"# {name}\n")
    return path


def test_the_whole_workflow(
    people: dict[str, Client], client: Client, credit: int, tmp_path: Path
) -> None:
    dana, vic, rita, olga = (people[n] for n in ("dana", "vic", "rita", "olga"))
    client.push_policy(approvals_only_files(), comment="this test is about approvals")
    gate = dana.dry_run_promotion("credit", credit, "production", "eu-west-1")
    assert not gate.allowed and "model-card-required" in gate.blocking
    assert client.list_promotions().items == []

    opened = dana.promote("credit", credit, "production", "eu-west-1", comment="Q4 release")
    assert opened.status == "open" and opened.gate is not None
    dana.attach_evidence("credit", credit, "model_card", document(tmp_path, "card"))
    dana.attach_evidence("credit", credit, "transparency_notice", document(tmp_path, "notice"))
    vic.attach_evidence("credit", credit, "validation_report", document(tmp_path, "report"))
    kinds = [e.kind for e in client.list_evidence("credit", credit)]
    assert kinds == ["signature", "model_card", "transparency_notice", "validation_report"]

    with pytest.raises(PermissionDenied, match="sod-author-never-approves"):
        dana.approve(opened.id)
    vic.approve(opened.id, comment="validated")
    after = rita.approve(opened.id)
    assert after.status == "open"
    assert after.gate is not None and after.gate.blocking == ["business-owner-signoff-required"]
    done = olga.approve(opened.id, comment="business sign-off")
    assert done.status == "executed"
    assert client.get_version("credit", credit).stage == "production"
    assert [d.principal for d in done.decisions] == ["vic", "rita", "olga"]
    listed = client.list_promotions(status="executed", model="credit").items
    assert [p.id for p in listed] == [opened.id]
    actions = [e.action for e in client.audit_events(subject=f"promotion:{opened.id}").items]
    assert actions[0] == "promotion.open" and actions[-1] == "promotion.execute"


def test_who_may_decide(people: dict[str, Client], client: Client, credit: int) -> None:
    opened = people["dana"].promote("credit", credit, "staging")
    for who in ("aud", "dana"):
        with pytest.raises(PermissionDenied):
            people[who].reject(opened.id, "no")
    rejected = people["rita"].reject(opened.id, "needs a fairness review")
    assert rejected.status == "rejected"


def test_bad_input_is_a_clear_4xx(
    server: str, admin: Admin, client: Client, people: dict[str, Client], credit: int
) -> None:
    headers = {"Authorization": f"Bearer {admin.token}"}
    with httpx.Client(base_url=server + API, headers=headers, timeout=30) as http:
        bodies = [
            {"model": "credit", "version": credit, "to": "retired"},
            {"model": "credit", "version": 0, "to": "staging"},
            {"model": "credit", "version": 2**40, "to": "staging"},
            {"model": "credit", "version": credit, "to": "staging", "break_glass_reason": "x"},
            {"model": "credit", "version": credit, "to": "staging", "surprise": 1},
        ]
        for body in bodies:
            for path in ("/promotions", "/promotions/dry-run"):
                answer = http.post(path, json=body)
                assert answer.status_code == 422, (path, body, answer.text)
        assert (
            http.post(
                "/promotions", json={"model": "nope", "version": 1, "to": "staging"}
            ).status_code
            == 404
        )
        assert http.post("/promotions/999/approve", json={}).status_code == 404
        opened = http.post(
            "/promotions", json={"model": "credit", "version": credit, "to": "staging"}
        ).json()
        assert http.post(f"/promotions/{opened['id']}/reject", json={}).status_code == 422
        again = http.post(
            "/promotions", json={"model": "credit", "version": credit, "to": "staging"}
        )
        assert again.status_code == 409 and str(opened["id"]) in again.json()["detail"]
        evidence = f"/models/credit/versions/{credit}/evidence"
        missing = http.post(evidence, json={"kind": "model_card", "sha256": "0" * 64})
        assert missing.status_code == 422 and "upload the document first" in missing.text
        assert http.post(evidence, json={"kind": "essay", "sha256": "0" * 64}).status_code == 422
    with pytest.raises(NotFound):
        client.get_promotion(12345)
    with pytest.raises(InvalidInput):
        client.reject(opened["id"], "")
