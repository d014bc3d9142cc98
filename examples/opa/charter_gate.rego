# Charter's default promotion gate, in Rego, for teams that decide gates with their own
# Open Policy Agent server (CHARTER_GATE_ENGINE=opa, CHARTER_OPA_PATH=charter/gate).
#
# Charter POSTs {"input": <the gate's input document>} to /v1/data/charter/gate and reads
# {"result": {"allow": bool, "violations": [{"rule", "reason", "overridable"}]}}.
# The rule ids match the embedded Cedar bundle's (policy/default/gate.cedar), so reports,
# dry runs and break-glass read the same whichever engine decides. See docs/opa.md.
package charter.gate

import rego.v1

req := input.requirements

ev := input.evidence

default allow := false

allow if count(violations) == 0

violations contains {
	"rule": "tier-not-deployable",
	"reason": sprintf("models of risk tier %s may never enter %s", [input.model.risk_tier, input.request.target_stage]),
	"overridable": false,
} if {
	not req.deployable
}

violations contains {"rule": "model-card-required", "reason": "a model card must be attached to the version"} if {
	req.model_card
	not ev.model_card
}

violations contains {"rule": "metrics-required", "reason": "the version must record evaluation metrics"} if {
	req.metrics
	not input.version.metrics
}

violations contains {"rule": "transparency-notice-required", "reason": "a transparency notice must be attached to the version"} if {
	req.transparency_notice
	not ev.transparency_notice
}

violations contains {
	"rule": "independent-validation-required",
	"reason": "a validation report by a validator who did not author the version or its run must be attached",
} if {
	req.validation
	not ev.independent_validation
}

violations contains {
	"rule": "approvals-required",
	"reason": sprintf("%d of %d required approvals from distinct validators or risk officers", [input.approvals.count, req.approvals]),
} if {
	input.approvals.count < req.approvals
}

violations contains {
	"rule": "business-owner-signoff-required",
	"reason": sprintf("the business owner %s has not signed off", [input.model.business_owner]),
} if {
	req.business_owner_signoff
	not input.approvals.business_owner_signed
}

violations contains {"rule": "region-required", "reason": "a promotion into this stage must name the target region"} if {
	req.region_required
	input.request.region == ""
}

violations contains {
	"rule": "region-not-approved",
	"reason": sprintf("%s is not one of the model's approved regions %v", [input.request.region, input.model.approved_regions]),
} if {
	input.request.region != ""
	not input.request.region in input.model.approved_regions
}

outside_regions := {r | some r in input.version.training_data_regions; not r in input.data_residency.allowed_regions}

violations contains {
	"rule": "data-residency",
	"reason": sprintf("training data from %v, outside the allowed regions", [sort(outside_regions)]),
} if {
	req.data_residency
	count(outside_regions) > 0
}

violations contains {"rule": "signature-required", "reason": "the manifest must carry a valid signature"} if {
	req.signature
	not ev.signature_valid
}

violations contains {"rule": "ml-bom-required", "reason": "an ML bill of materials must have been generated"} if {
	req.ml_bom
	not ev.ml_bom
}

violations contains {
	"rule": "no-high-vulnerabilities",
	"reason": "the environment has not been scanned for vulnerabilities",
} if {
	req.no_high_vulnerabilities
	not ev.vulnerability_scanned
}

violations contains {
	"rule": "no-high-vulnerabilities",
	"reason": sprintf("%d critical or high vulnerabilities", [ev.high_vulnerabilities]),
} if {
	req.no_high_vulnerabilities
	ev.vulnerability_scanned
	ev.high_vulnerabilities > 0
}

violations contains {"rule": "pii-cleared", "reason": "training data is unscanned, or holds PII without a legal basis"} if {
	req.pii_cleared
	not ev.pii_cleared
}

violations contains {"rule": "fairness-within-thresholds", "reason": "no fairness evaluation computed by Charter"} if {
	req.fairness
	not ev.fairness_evaluated
}

violations contains {
	"rule": "fairness-within-thresholds",
	"reason": sprintf("demographic parity %d bp, equalized odds %d bp; limits %d and %d bp", [ev.demographic_parity_bp, ev.equalized_odds_bp, req.max_demographic_parity_bp, req.max_equalized_odds_bp]),
} if {
	req.fairness
	ev.fairness_evaluated
	over_fairness_limit
}

over_fairness_limit if ev.demographic_parity_bp > req.max_demographic_parity_bp

over_fairness_limit if ev.equalized_odds_bp > req.max_equalized_odds_bp

violations contains {"rule": "model-card-complete", "reason": "the generated model card lacks sections the risk tier requires"} if {
	req.model_card_complete
	not ev.model_card_complete
}
