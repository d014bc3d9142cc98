"""A CycloneDX 1.6 ML bill of materials for a model version, made with cyclonedx-python-lib
and validated against the 1.6 JSON schema before it is returned.

The library builds the model (a machine-learning-model component with the manifest's
hashes), the datasets (data components) and every package of the environment (library
components with PEP 503-normalised pypi purls), and the dependencies between them. It has
no model card classes (cyclonedx-python-lib 11), so the model card block — the one part
written by hand here — is added to the model component of the library's JSON output, and
the whole document is then validated strictly against the schema, which does know it.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

NAMESPACE = uuid.UUID("7f1b5a9e-4c62-4d0b-9d4e-6a2f0c3e8b11")  # serial numbers of Charter BOMs


@dataclass(frozen=True)
class DatasetPart:
    name: str
    version: int
    digest: str
    role: str  # "training" or "evaluation"
    region: str | None = None
    legal_basis: str | None = None
    contains_pii: bool = False
    rows: int | None = None


@dataclass(frozen=True)
class ModelPart:
    """What the BOM says about one model version; `packages` are (name, version)."""

    model: str
    version: int
    manifest_digest: str
    files: list[dict[str, Any]]
    flavor: str
    framework: str | None = None
    description: str = ""
    risk_tier: str = ""
    intended_use: str = ""
    task: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    datasets: list[DatasetPart] = field(default_factory=list)
    packages: list[tuple[str, str]] = field(default_factory=list)


def normalise(name: str) -> str:
    """PEP 503: runs of '-', '_' and '.' become one '-', lower case."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _sha256(digest: str) -> HashType:
    return HashType(alg=HashAlgorithm.SHA_256, content=digest.removeprefix("sha256:"))


def _components(part: ModelPart) -> tuple[Component, list[Component], list[Component]]:
    files = [
        Component(
            name=f["path"],
            type=ComponentType.FILE,
            bom_ref=f"file:{f['path']}",
            hashes=[_sha256(f["sha256"])],
            properties=[Property(name="charter:size", value=str(f["size"]))],
        )
        for f in part.files
    ]
    model = Component(
        name=part.model,
        version=str(part.version),
        type=ComponentType.MACHINE_LEARNING_MODEL,
        bom_ref=f"model:{part.model}@{part.version}",
        description=part.description or None,
        hashes=[_sha256(part.manifest_digest)],
        components=files,
        properties=[
            Property(name="charter:manifest_digest", value=part.manifest_digest),
            Property(name="charter:flavor", value=part.flavor),
            Property(name="charter:risk_tier", value=part.risk_tier or "unknown"),
            *([Property(name="charter:framework", value=part.framework)] if part.framework else []),
        ],
    )
    datasets = [
        Component(
            name=d.name,
            version=str(d.version),
            type=ComponentType.DATA,
            bom_ref=f"dataset:{d.name}@{d.version}",
            hashes=[_sha256(d.digest)],
            properties=[
                Property(name="charter:role", value=d.role),
                Property(name="charter:data_region", value=d.region or "unknown"),
                Property(name="charter:legal_basis", value=d.legal_basis or "none recorded"),
                Property(name="charter:contains_pii", value=str(d.contains_pii).lower()),
            ],
        )
        for d in part.datasets
    ]
    seen: set[str] = set()
    packages = []
    for name, version in sorted(part.packages):
        key = normalise(name)
        if key in seen:
            continue
        seen.add(key)
        purl = PackageURL(type="pypi", name=key, version=version)
        packages.append(
            Component(
                name=key,
                version=version,
                type=ComponentType.LIBRARY,
                purl=purl,
                bom_ref=purl.to_string(),
            )
        )
    return model, datasets, packages


def _model_card(part: ModelPart) -> dict[str, Any]:
    """CycloneDX 1.6 `modelCard` (written by hand: see the module docstring)."""
    card: dict[str, Any] = {
        "modelParameters": {
            "datasets": [{"ref": f"dataset:{d.name}@{d.version}"} for d in part.datasets],
        },
        "considerations": {
            "useCases": [part.intended_use] if part.intended_use else [],
        },
    }
    if part.task:
        card["modelParameters"]["task"] = part.task
    if part.metrics:
        card["quantitativeAnalysis"] = {
            "performanceMetrics": [
                {"type": name, "value": str(value)} for name, value in sorted(part.metrics.items())
            ]
        }
    if not card["modelParameters"]["datasets"]:
        del card["modelParameters"]["datasets"]
    if not card["considerations"]["useCases"]:
        del card["considerations"]
    return card


def build(part: ModelPart, timestamp: datetime) -> str:
    """The BOM as JSON text; raises ValueError naming the schema violation if invalid.

    Deterministic for the same input and timestamp: the serial number is derived from the
    manifest digest.
    """
    model, datasets, packages = _components(part)
    bom = Bom(
        serial_number=uuid.uuid5(NAMESPACE, f"{part.model}@{part.version}:{part.manifest_digest}"),
    )
    bom.metadata.timestamp = timestamp
    bom.metadata.component = model
    for component in (*datasets, *packages):
        bom.components.add(component)
    bom.register_dependency(model, [*datasets, *packages])
    document = json.loads(JsonV1Dot6(bom).output_as_string())
    document["metadata"]["component"]["modelCard"] = _model_card(part)
    text = json.dumps(document, sort_keys=True, indent=2)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise ValueError(f"the generated BOM does not validate against CycloneDX 1.6: {error}")
    return text


def validate(text: str) -> str | None:
    """Why `text` is not a valid CycloneDX 1.6 JSON BOM, or None."""
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    return None if error is None else str(error)
