"""Property-based fuzzing of every API operation with Schemathesis: no request may cause a 5xx."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup

from charter.client.client import Client
from tests.conftest import Admin

EXAMPLES = 25  # per operation: the suite's time budget, not a search limit
# Generated ids here (even in negative mode, which keeps the path valid while it breaks
# another part) soon revoke the fuzzer's own token, id 1: only the pinned spare token.
PINNED_ONLY = {("DELETE", "/api/v1/tokens/{token_id}")}


@dataclass
class Known:
    """Existing records the pinned strategy aims at, so requests reach the handlers' logic."""

    path_values: dict[str, str]
    names: dict[str, str]  # the {name} of each collection, by path prefix
    entry: dict[str, Any]  # a manifest entry whose blob is stored
    query: dict[str, str]  # required query values that random text never gets right

    def path_parameters(self, operation: Any) -> dict[str, str]:
        wanted = {p.name for p in operation.path_parameters}
        values = {k: v for k, v in self.path_values.items() if k in wanted}
        if "name" in wanted:
            prefix = operation.path.removeprefix("/api/v1/").split("/")[0]
            values["name"] = self.names[prefix]
        return values


def seed_registry(client: Client, tmp_path: Path) -> Known:
    client.create_principal("fuzz-user", ["data_scientist"])
    client.create_model("credit", "high", tags={"bu": "retail"})
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(b"fuzz" * 1000)
    version = client.register_version("credit", artifact, "skops")
    client.set_alias("credit", "champion", version.version)
    client.create_dataset("loans")
    client.create_dataset_version("loans", uri="file:///loans.csv", digest="sha256:" + "b" * 64)
    run = client.create_run(name="train")
    # A token the fuzzer may revoke without locking itself out.
    spare = client.create_token("expendable")
    entry = version.files[0]
    return Known(
        path_values={
            "version": "1",
            "alias": "champion",
            "path": entry.path,
            "sha256": entry.sha256,
            "run_id": str(run.id),
            "token_id": str(spare.id),
        },
        names={"models": "credit", "datasets": "loans", "principals": "fuzz-user"},
        entry=entry.model_dump(),
        query={"node": "model:credit@1"},
    )


def _aim(case: Any, known: Known, session: requests.Session, server: str) -> None:
    """Make a pinned case valid where random data never is: a stored blob, a current ETag."""
    if isinstance(case.body, dict) and isinstance(case.body.get("files"), list):
        case.body["files"] = [known.entry]
    if any(p.name.lower() == "if-match" for p in case.operation.headers):
        resource = case.formatted_path.removesuffix("/stage")
        etag = session.get(server + resource).headers.get("etag")
        if etag:
            headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "if-match"}
            case.headers = {**headers, "If-Match": etag}


def _fuzz_operation(
    operation: Any, server: str, session: requests.Session, known: Known
) -> list[str]:
    failures: list[str] = []
    key = (operation.method.upper(), operation.path)
    strategies = [
        operation.as_strategy(generation_mode=mode).map(lambda c: (c, False))
        for mode in GenerationMode
        if key not in PINNED_ONLY
    ]
    pinned = known.path_parameters(operation)
    query = {p.name: known.query[p.name] for p in operation.query if p.name in known.query}
    if pinned or query or operation.body:
        aimed = operation.as_strategy(path_parameters=pinned or None, query=query or None)
        strategies.append(aimed.map(lambda c: (c, True)))

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @given(drawn=st.one_of(strategies))
    def run(drawn: tuple[Any, bool]) -> None:
        case, aimed = drawn
        if aimed:
            _aim(case, known, session, server)
        # Schemathesis fills the bearer scheme with random tokens; use the admin's, so the
        # requests get past authorization into the handlers.
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        case.headers = {**headers, "Authorization": session.headers["Authorization"]}
        response = case.call(base_url=server, session=session)
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except (Failure, FailureGroup) as exc:  # collect: one run reports every operation
            failures.append(f"{case.method} {case.formatted_path}: {exc}\n{case.as_curl_command()}")

    run()
    return failures


@pytest.mark.slow
def test_no_request_causes_a_server_error(server: str, admin: Admin, tmp_path: Path) -> None:
    with Client(server, admin.token) as client:
        known = seed_registry(client, tmp_path)
    schema = schemathesis.openapi.from_url(f"{server}/api/v1/openapi.json")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {admin.token}"
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        failures.extend(_fuzz_operation(operation, server, session, known))
        # If an operation revoked or demoted the fuzzer's identity, what follows would be
        # mere 401/403s and prove nothing.
        me = session.get(f"{server}/api/v1/me")
        assert me.status_code == 200, f"{operation.method} {operation.path} locked the fuzzer out"
        assert me.json()["roles"] == ["admin"]
    session.close()
    assert operations >= 30
    assert not failures, "\n\n".join(failures[:20])
