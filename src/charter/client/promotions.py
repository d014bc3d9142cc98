"""The SDK's evidence and promotion methods (mixed into Client)."""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from charter.artifacts.manifest import iter_file_chunks
from charter.client.plumbing import ClientPlumbing
from charter.domain.artifacts import ManifestEntry
from charter.domain.common import Page
from charter.domain.enums import Stage
from charter.domain.evidence import (
    AdvisoryImportResult,
    CardFields,
    ComputedKind,
    DatasetContent,
    DatasetEvidence,
    Evidence,
    EvidenceKind,
    SignatureReport,
    SigningKey,
)
from charter.domain.gates import GateEvaluation, Promotion
from charter.domain.registry import DatasetVersion
from charter.domain.registry import ModelVersion as ModelVersionDoc

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def _entry(path: Path) -> ManifestEntry:
    digest = hashlib.sha256()
    for chunk in iter_file_chunks(path):
        digest.update(chunk)
    return ManifestEntry(path=path.name, size=path.stat().st_size, sha256=digest.hexdigest())


class PromotionsApi(ClientPlumbing):
    """Evidence, dry runs, promotion requests and their decisions."""

    def attach_evidence(
        self,
        model: str,
        version: int,
        kind: EvidenceKind | str,
        path: Path | str,
        title: str = "",
        media_type: str = "text/markdown",
    ) -> Evidence:
        """Upload a document and attach it to a version as evidence."""
        path = Path(path)
        entry = _entry(path)
        self.upload_file(path, entry)
        return self._one(
            Evidence,
            "POST",
            f"/models/{model}/versions/{version}/evidence",
            json={
                "kind": str(kind),
                "sha256": entry.sha256,
                "title": title or path.name,
                "media_type": media_type,
            },
        )

    def attach_content(
        self, dataset: str, version: int, path: Path | str, target: list[str] | None = None
    ) -> DatasetContent:
        """Upload a dataset version's content (a Parquet file); the server checks it
        against the version's digest."""
        path = Path(path)
        entry = _entry(path)
        self.upload_file(path, entry)
        return self._one(
            DatasetContent,
            "PUT",
            f"/datasets/{dataset}/versions/{version}/content",
            json={"sha256": entry.sha256, "target": target or []},
        )

    def get_content(self, dataset: str, version: int) -> DatasetContent:
        return self._one(DatasetContent, "GET", f"/datasets/{dataset}/versions/{version}/content")

    def signature(self, model: str, version: int) -> SignatureReport:
        """The version's signed statement, the server's verdict and the signing key."""
        return self._one(SignatureReport, "GET", f"/models/{model}/versions/{version}/signature")

    def compute_evidence(
        self, model: str, version: int, kinds: list[ComputedKind | str]
    ) -> list[Evidence]:
        """Have the server compute evidence for a version (each kind audited)."""
        data = self._call(
            "POST",
            f"/models/{model}/versions/{version}/evidence/compute",
            json={"kinds": [str(k) for k in kinds]},
        ).json()
        return [Evidence.model_validate(item) for item in data]

    def bom(self, model: str, version: int) -> dict[str, Any]:
        """The version's CycloneDX 1.6 ML-BOM."""
        found: dict[str, Any] = self._call("GET", f"/models/{model}/versions/{version}/bom").json()
        return found

    def import_advisories(self, path: Path | str) -> AdvisoryImportResult:
        """Upload OSV advisories: a JSON file, a zip of them, or a directory (zipped here)."""
        path = Path(path)
        with tempfile.TemporaryDirectory() as tmp:
            upload = path
            if path.is_dir():
                upload = Path(tmp) / "advisories.zip"
                with zipfile.ZipFile(upload, "w", zipfile.ZIP_DEFLATED) as archive:
                    for item in sorted(path.rglob("*.json")):
                        archive.write(item, item.relative_to(path).as_posix())
            entry = _entry(upload)
            self.upload_file(upload, entry)
        return self._one(
            AdvisoryImportResult,
            "POST",
            "/advisories",
            json={"sha256": entry.sha256, "name": path.name},
        )

    def scan_dataset(
        self, dataset: str, version: int, sample_rows: int | None = None
    ) -> DatasetEvidence:
        """Have the server scan a dataset version's content for personal data."""
        return self._one(
            DatasetEvidence,
            "POST",
            f"/datasets/{dataset}/versions/{version}/scan",
            json={"sample_rows": sample_rows} if sample_rows else {},
        )

    def intake(self, dataset: str, version: int, actions: dict[str, str]) -> DatasetVersion:
        """Mask, tokenise or drop columns (column -> action) into a derived version."""
        return self._one(
            DatasetVersion,
            "POST",
            f"/datasets/{dataset}/versions/{version}/intake",
            json={"actions": actions},
        )

    def dataset_evidence(self, dataset: str, version: int) -> list[DatasetEvidence]:
        data = self._call("GET", f"/datasets/{dataset}/versions/{version}/evidence").json()
        return [DatasetEvidence.model_validate(item) for item in data]

    def evaluate_version(
        self,
        model: str,
        version: int,
        dataset: str | None = None,
        sensitive_features: list[str] | None = None,
    ) -> list[Evidence]:
        """Have Charter evaluate the version; `dataset` is NAME@VERSION (default: the
        version's evaluation dataset)."""
        body: dict[str, Any] = {"sensitive_features": sensitive_features or []}
        if dataset:
            name, _, number = dataset.rpartition("@")
            body["dataset"] = {"dataset": name, "version": int(number)}
        data = self._call("POST", f"/models/{model}/versions/{version}/evaluate", json=body).json()
        return [Evidence.model_validate(item) for item in data]

    def generate_card(self, model: str, version: int) -> Evidence:
        """Generate the version's model card; `details["missing"]` lists what its tier needs."""
        return self._one(Evidence, "POST", f"/models/{model}/versions/{version}/card")

    def card(self, model: str, version: int, html: bool = False) -> str:
        params = {"format": "html" if html else "markdown"}
        return self._call("GET", f"/models/{model}/versions/{version}/card", params=params).text

    def write_card(self, model: str, version: int, fields: dict[str, str]) -> CardFields:
        """Write (or with "" clear) human-written sections of the model card."""
        return self._one(
            CardFields,
            "PATCH",
            f"/models/{model}/versions/{version}/card/fields",
            json={"fields": fields},
        )

    def register_signing_key(self, principal: str, public_key_pem: str) -> SigningKey:
        return self._one(
            SigningKey, "POST", f"/principals/{principal}/keys", json={"public_key": public_key_pem}
        )

    def sign_version(
        self, model: str, version: int, key: Ed25519PrivateKey, signer: str
    ) -> Evidence:
        """Sign a version one registered with one's own key (registered beforehand)."""
        from datetime import UTC, datetime

        from charter.evidence.manifest_signing import sign

        found = self._one(ModelVersionDoc, "GET", f"/models/{model}/versions/{version}")
        files = [f.model_dump() for f in found.files]
        statement = sign(
            model, version, found.manifest_digest, files, key, datetime.now(UTC).isoformat(), signer
        )
        return self._one(
            Evidence,
            "POST",
            f"/models/{model}/versions/{version}/signatures",
            json={"statement": statement},
        )

    def list_evidence(self, model: str, version: int) -> list[Evidence]:
        data = self._call("GET", f"/models/{model}/versions/{version}/evidence").json()
        return [Evidence.model_validate(item) for item in data]

    @staticmethod
    def _ask(
        model: str,
        version: int,
        to: Stage | str,
        region: str,
        comment: str,
        break_glass_reason: str | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "version": version,
            "to": str(to),
            "region": region,
            "comment": comment,
        }
        if break_glass_reason is not None:
            body["break_glass_reason"] = break_glass_reason
        return body

    def dry_run_promotion(
        self, model: str, version: int, to: Stage | str, region: str = ""
    ) -> GateEvaluation:
        """What would block this promotion? Opens nothing."""
        body = self._ask(model, version, to, region, "", None)
        return self._one(GateEvaluation, "POST", "/promotions/dry-run", json=body)

    def promote(
        self,
        model: str,
        version: int,
        to: Stage | str,
        region: str = "",
        comment: str = "",
        break_glass_reason: str | None = None,
    ) -> Promotion:
        """Open a promotion request (it executes at once if the gate passes)."""
        body = self._ask(model, version, to, region, comment, break_glass_reason)
        return self._one(Promotion, "POST", "/promotions", json=body)

    def get_promotion(self, request_id: int) -> Promotion:
        return self._one(Promotion, "GET", f"/promotions/{request_id}")

    def list_promotions(self, **filters: Any) -> Page[Promotion]:
        return self._page(Promotion, "/promotions", filters)

    def approve(self, request_id: int, comment: str = "") -> Promotion:
        return self._one(
            Promotion, "POST", f"/promotions/{request_id}/approve", json={"comment": comment}
        )

    def reject(self, request_id: int, comment: str) -> Promotion:
        return self._one(
            Promotion, "POST", f"/promotions/{request_id}/reject", json={"comment": comment}
        )

    def evaluate_promotion(self, request_id: int) -> Promotion:
        return self._one(Promotion, "POST", f"/promotions/{request_id}/evaluate")

    def withdraw_promotion(self, request_id: int, comment: str = "") -> Promotion:
        return self._one(
            Promotion, "POST", f"/promotions/{request_id}/withdraw", json={"comment": comment}
        )
