"""Gate decisions from an Open Policy Agent server through its REST Data API.

Charter sends the gate's input document (`GateFacts.document()`) to
`POST {url}/v1/data/{path}` and expects `{"result": {"allow": bool, "violations":
[{"rule": str, "reason": str, "overridable": bool?}]}}`. Anything else fails closed: an
unreachable or slow server, a non-2xx answer, an undefined path (`{}`), the wrong shape,
or an `allow` that contradicts the violations all raise GateUnavailable, so a gate that
cannot be decided never lets a version through. docs/opa.md documents the contract.
"""

from __future__ import annotations

from typing import Any

import httpx

from charter.domain.errors import GateUnavailable
from charter.domain.gates import GateFacts, GateOutcome, Violation

# The rules of the default bundle with a generic reason each, so the table of a decision
# can show the rules that passed as well as those OPA reported.
KNOWN_RULES: tuple[tuple[str, str], ...] = (
    ("tier-not-deployable", "models of this risk tier may never enter this stage"),
    ("model-card-required", "a model card must be attached to the version"),
    ("metrics-required", "the version must record evaluation metrics"),
    ("transparency-notice-required", "a transparency notice must be attached"),
    ("independent-validation-required", "an independent validation report must be attached"),
    ("approvals-required", "enough distinct validators or risk officers must approve"),
    ("business-owner-signoff-required", "the model's business owner must sign off"),
    ("region-required", "a promotion into this stage must name the target region"),
    ("region-not-approved", "the target region must be one of the model's approved regions"),
    ("data-residency", "training data must come from allowed regions"),
    ("signature-required", "the manifest must carry a valid signature"),
    ("ml-bom-required", "an ML bill of materials must have been generated"),
    ("no-high-vulnerabilities", "no critical or high vulnerability in the environment"),
    ("pii-cleared", "training data scanned; PII only with a legal basis"),
    ("fairness-within-thresholds", "fairness within the configured thresholds"),
    ("model-card-complete", "the model card has every section the tier requires"),
)


class OpaGate:
    """One OPA server and data path; one keep-alive HTTP client."""

    def __init__(self, url: str, path: str, timeout: float) -> None:
        self.endpoint = f"{url.rstrip('/')}/v1/data/{path.strip('/')}"
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _fail(self, what: str) -> GateUnavailable:
        return GateUnavailable(
            f"the OPA gate at {self.endpoint} {what}; the gate fails closed, so nothing is "
            "promoted until it answers (check CHARTER_OPA_URL and CHARTER_OPA_PATH)"
        )

    def evaluate(self, facts: GateFacts) -> GateOutcome:
        try:
            answer = self._http.post(self.endpoint, json={"input": facts.document()})
        except httpx.TimeoutException:
            raise self._fail("did not answer in time") from None
        except httpx.HTTPError as exc:
            raise self._fail(f"could not be reached ({type(exc).__name__}: {exc})") from None
        if not answer.is_success:
            raise self._fail(f"answered HTTP {answer.status_code}: {answer.text[:200]}")
        try:
            body = answer.json()
        except ValueError:
            raise self._fail("answered with something that is not JSON") from None
        return self._outcome(body)

    def _outcome(self, body: Any) -> GateOutcome:
        if not isinstance(body, dict) or "result" not in body:
            raise self._fail("has no decision at that path (the result is undefined)")
        result = body["result"]
        if not isinstance(result, dict) or not isinstance(result.get("allow"), bool):
            raise self._fail('answered without a boolean "allow" in its result')
        raw = result.get("violations", [])
        if not isinstance(raw, list):
            raise self._fail('answered with "violations" that is not a list')
        violations = []
        for item in raw:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("rule"), str)
                or not isinstance(item.get("reason", ""), str)
                or not isinstance(item.get("overridable", True), bool)
            ):
                raise self._fail(f"answered with a malformed violation {item!r:.200}")
            violations.append(
                Violation(item["rule"], item.get("reason", ""), item.get("overridable", True))
            )
        if result["allow"] and violations:
            raise self._fail("allowed the promotion while listing violations")
        if not result["allow"] and not violations:
            raise self._fail("refused the promotion without naming a violated rule")
        known = {rule for rule, _ in KNOWN_RULES}
        extra = tuple((v.rule, v.reason) for v in violations if v.rule not in known)
        return GateOutcome(
            result["allow"],
            tuple(violations),
            KNOWN_RULES + extra,
            f"opa {self.endpoint}",
        )
