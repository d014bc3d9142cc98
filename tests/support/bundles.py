"""The default policy bundle with the computed-evidence requirements switched off, for
tests whose subject is the approval workflow rather than evidence (thresholds are data,
so this is a data.json change, pushed like any bundle)."""

from __future__ import annotations

import json

from charter.policy.bundle import default_bundle

EVIDENCE_REQUIREMENTS = (
    "ml_bom",
    "no_high_vulnerabilities",
    "pii_cleared",
    "fairness",
    "max_demographic_parity_difference",
    "max_equalized_odds_difference",
    "model_card_complete",
)


def approvals_only_files() -> dict[str, str]:
    files = dict(default_bundle().files)
    data = json.loads(files["data.json"])
    for per_tier in data["requirements"].values():
        for requirements in per_tier.values():
            for key in EVIDENCE_REQUIREMENTS:
                requirements.pop(key, None)
    files["data.json"] = json.dumps(data)
    return files
