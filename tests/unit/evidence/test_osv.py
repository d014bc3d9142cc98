"""OSV advisories: reading files, directories and zips; PEP 440 range semantics."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from charter.evidence import osv


def advisory(
    id_: str, package: str, events: list[dict[str, str]], severity: str | None = "HIGH", **more: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": id_,
        "aliases": [f"CVE-2026-{id_[-4:]}"],
        "summary": f"{package} is broken",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": package},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
        **more,
    }
    if severity:
        out["database_specific"] = {"severity": severity}
    return out


def hits(advisories: list[dict[str, Any]], **packages: str) -> list[str]:
    return [f.advisory for f in osv.match(advisories, packages).findings]


def test_introduced_fixed_and_last_affected_boundaries() -> None:
    fixed = [advisory("GHSA-0001", "jinja2", [{"introduced": "0"}, {"fixed": "2.10.1"}])]
    assert hits(fixed, jinja2="2.10") == ["GHSA-0001"]
    assert hits(fixed, jinja2="2.10.1") == []  # fixed is exclusive
    assert hits(fixed, jinja2="2.10.1rc1") == ["GHSA-0001"]  # a pre-release comes before
    last = [advisory("GHSA-0002", "requests", [{"introduced": "2.0"}, {"last_affected": "2.3"}])]
    assert hits(last, requests="2.3") == ["GHSA-0002"]  # last_affected is inclusive
    assert hits(last, requests="2.3.1") == []
    assert hits(last, requests="1.9") == []
    two = [
        advisory(
            "GHSA-0003",
            "numpy",
            [{"introduced": "1.0"}, {"fixed": "1.2"}, {"introduced": "1.5"}, {"fixed": "1.6"}],
        )
    ]
    assert [hits(two, numpy=v) for v in ("1.1", "1.3", "1.5.2", "1.6")] == [
        ["GHSA-0003"],
        [],
        ["GHSA-0003"],
        [],
    ]


def test_versions_lists_names_severity_and_ecosystems() -> None:
    listed = advisory("GHSA-0004", "Scikit_Learn", [], severity=None, severity_=None)
    listed["affected"][0]["versions"] = ["0.24.1"]
    listed["severity"] = [{"type": "CVSS_V3", "score": "9.8"}]
    npm = advisory("GHSA-0005", "jinja2", [{"introduced": "0"}])
    npm["affected"][0]["package"]["ecosystem"] = "npm"
    scan = osv.match(
        [listed, npm], {"scikit-learn": "0.24.1", "jinja2": "1.0", "odd": "not a version"}
    )
    assert [(f.advisory, f.package, f.severity) for f in scan.findings] == [
        ("GHSA-0004", "scikit-learn", "CRITICAL")
    ]
    assert scan.counts()["CRITICAL"] == 1 and scan.unparsable == ["odd==not a version"]
    assert osv.severity({"database_specific": {"severity": "medium"}}) == "MODERATE"
    assert osv.severity({}) == "UNKNOWN"


def test_reads_files_directories_and_zips(tmp_path: Path) -> None:
    items = [advisory(f"GHSA-{i:04d}", "jinja2", [{"introduced": "0"}]) for i in range(3)]
    folder = tmp_path / "osv"
    folder.mkdir()
    for item in items:
        (folder / f"{item['id']}.json").write_text(json.dumps(item))
    archive = tmp_path / "PyPI.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for item in items:
            zipped.writestr(f"{item['id']}.json", json.dumps(item))
    assert [a["id"] for a in osv.read(folder)] == [a["id"] for a in items]
    assert len(list(osv.read(archive))) == 3
    assert len(list(osv.read_bytes("x.zip", archive.read_bytes()))) == 3
    single = folder / "GHSA-0000.json"
    assert [a["id"] for a in osv.read(single)] == ["GHSA-0000"]
    with pytest.raises(ValueError, match="not an OSV advisory"):
        list(osv.read_bytes("bad.json", b'{"no": "id"}'))
    with pytest.raises(ValueError, match="not JSON"):
        list(osv.read_bytes("bad.json", b"garbage"))
