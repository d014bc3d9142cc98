"""Model cards generated from the registry and the evidence, after Mitchell et al., "Model
Cards for Model Reporting": nine sections, each generated from recorded facts, written by
people (`card_fields`), or both; what a risk tier requires and what is missing; Markdown
and HTML (Jinja2, HTML autoescaped)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment

from charter.domain.evidence import CardSection

TITLES = {
    CardSection.MODEL_DETAILS: "Model details",
    CardSection.INTENDED_USE: "Intended use",
    CardSection.FACTORS: "Factors",
    CardSection.METRICS: "Metrics",
    CardSection.EVALUATION_DATA: "Evaluation data",
    CardSection.TRAINING_DATA: "Training data",
    CardSection.QUANTITATIVE_ANALYSES: "Quantitative analyses",
    CardSection.ETHICAL_CONSIDERATIONS: "Ethical considerations",
    CardSection.CAVEATS: "Caveats and recommendations",
}
_MINIMAL = (CardSection.MODEL_DETAILS, CardSection.INTENDED_USE)
_LIMITED = (*_MINIMAL, CardSection.METRICS, CardSection.EVALUATION_DATA, CardSection.CAVEATS)
REQUIRED: dict[str, tuple[CardSection, ...]] = {
    "minimal": _MINIMAL,
    "limited": _LIMITED,
    "high": (
        *_LIMITED,
        CardSection.FACTORS,
        CardSection.TRAINING_DATA,
        CardSection.QUANTITATIVE_ANALYSES,
        CardSection.ETHICAL_CONSIDERATIONS,
    ),
    "unacceptable": tuple(CardSection),
}


@dataclass
class Section:
    facts: list[str] = field(default_factory=list)  # generated from records and evidence
    text: str = ""  # written by people

    @property
    def present(self) -> bool:
        return bool(self.facts or self.text.strip())


@dataclass
class Card:
    title: str
    risk_tier: str
    sections: dict[CardSection, Section]

    def missing(self) -> list[str]:
        required = REQUIRED.get(self.risk_tier, tuple(CardSection))
        return [s.value for s in required if not self.sections[s].present]

    def to_json(self) -> dict[str, Any]:
        return {
            "missing": self.missing(),
            "complete": not self.missing(),
            "required": [s.value for s in REQUIRED.get(self.risk_tier, tuple(CardSection))],
            "sections": {
                s.value: {"generated": len(sec.facts), "written": bool(sec.text.strip())}
                for s, sec in self.sections.items()
            },
        }


def _metrics_lines(performance: dict[str, Any] | None, reported: dict[str, Any]) -> list[str]:
    lines = []
    if performance:
        shown = ", ".join(f"{k} {v}" for k, v in performance.get("metrics", {}).items())
        lines.append(f"Computed by Charter on {performance.get('dataset')}: {shown}")
    if reported:
        shown = ", ".join(f"{k} {v}" for k, v in sorted(reported.items()))
        lines.append(f"Self-reported by the author (not verified): {shown}")
    return lines


def build(
    facts: dict[str, Any], evidence: dict[str, dict[str, Any]], written: dict[str, str]
) -> Card:
    """`facts`: the registry's record (keys below); `evidence`: the latest computed
    evidence by kind; `written`: the human-written sections."""
    performance = evidence.get("performance_evaluation")
    fairness = evidence.get("fairness_evaluation")
    robustness = evidence.get("robustness_evaluation")
    pii = facts.get("pii", {})
    s = {section: Section(text=written.get(section.value, "")) for section in CardSection}
    s[CardSection.MODEL_DETAILS].facts = [
        f"{facts['model']} version {facts['version']} ({facts['flavor']}"
        + (f", {facts['framework']}" if facts.get("framework") else "")
        + ")",
        f"Risk tier: {facts['risk_tier']}; business unit: {facts.get('business_unit') or '-'}",
        f"Author: {facts['author']}; business owner: {facts.get('business_owner') or '-'}; "
        f"technical owner: {facts.get('technical_owner') or '-'}",
        f"Registered {facts['created_at']}; manifest digest {facts['manifest_digest']}",
        *([f"Description: {facts['description']}"] if facts.get("description") else []),
    ]
    if facts.get("intended_use"):
        s[CardSection.INTENDED_USE].facts = [facts["intended_use"]]
    if fairness:
        s[CardSection.FACTORS].facts = [
            f"Sensitive features evaluated: {', '.join(sorted(fairness.get('features', {})))}"
        ]
    s[CardSection.METRICS].facts = _metrics_lines(performance, facts.get("metrics") or {})
    if not performance:
        s[CardSection.METRICS].facts = []  # self-reported numbers alone are not evidence
    if performance:
        s[CardSection.EVALUATION_DATA].facts = [
            f"{performance.get('dataset')}: {performance.get('rows')} rows, verified against "
            "its registered digest"
        ]
    s[CardSection.TRAINING_DATA].facts = [
        f"{d['name']}: region {d.get('region') or 'unknown'}, legal basis "
        f"{d.get('legal_basis') or 'none recorded'}, personal data: "
        + (", ".join(pii.get(d["name"], [])) or "none found" if d["name"] in pii else "not scanned")
        for d in facts.get("training", [])
    ]
    analyses = []
    if fairness:
        for name, found in sorted(fairness.get("features", {}).items()):
            analyses.append(
                f"Fairness by {name}: demographic parity difference "
                f"{found.get('demographic_parity_difference')}, equalized odds difference "
                f"{found.get('equalized_odds_difference')}"
            )
    if robustness:
        for p in robustness.get("perturbations", []):
            analyses.append(
                f"Robustness, {p['perturbation']}: {robustness.get('metric')} "
                f"changes by {p['change']}"
            )
    s[CardSection.QUANTITATIVE_ANALYSES].facts = analyses
    return Card(f"Model card: {facts['model']} v{facts['version']}", facts["risk_tier"], s)


_ENV = Environment(autoescape=False, trim_blocks=True, lstrip_blocks=True)  # noqa: S701 - Markdown
_HTML = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_MARKDOWN = """# {{ card.title }}

{% for section, body in card.sections.items() %}
## {{ titles[section] }}{% if section.value in missing %} (missing){% endif %}

{% for line in body.facts %}
- {{ line }}
{% endfor %}
{% if body.text %}

{{ body.text }}
{% endif %}

{% endfor %}
"""
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ card.title }}</title></head>
<body>
<h1>{{ card.title }}</h1>
{% if missing %}<p class="missing">Incomplete for risk tier {{ card.risk_tier }}:
{{ missing | join(", ") }}</p>{% endif %}
{% for section, body in card.sections.items() %}
<section><h2>{{ titles[section] }}</h2>
{% if body.facts %}<ul>{% for line in body.facts %}<li>{{ line }}</li>{% endfor %}</ul>{% endif %}
{% if body.text %}<p>{{ body.text }}</p>{% endif %}
</section>
{% endfor %}
</body></html>
"""


def markdown(card: Card) -> str:
    return _ENV.from_string(_MARKDOWN).render(card=card, titles=TITLES, missing=card.missing())


def html(card: Card) -> str:
    return _HTML.from_string(_PAGE).render(card=card, titles=TITLES, missing=card.missing())
