"""Vulnerability advisories in OSV format, and matching them against an environment.

Reads one OSV JSON file, a directory of them, or a zip of them (as OSV publishes per
ecosystem). Matching follows the OSV schema for the PyPI ecosystem: `ranges` of type
ECOSYSTEM are event lists (introduced / fixed / last_affected / limit) compared with PEP
440 ordering (packaging.version), and `versions` lists name affected versions exactly.
Written by hand because no maintained library on PyPI evaluates OSV ranges offline;
`packaging` does the version semantics.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

SEVERITIES = ("CRITICAL", "HIGH", "MODERATE", "LOW", "UNKNOWN")
MAX_FILES = 200_000


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Finding:
    advisory: str
    aliases: list[str]
    package: str
    installed: str
    fixed: list[str]
    severity: str
    summary: str

    def to_json(self) -> dict[str, Any]:
        return {
            "advisory": self.advisory,
            "aliases": self.aliases,
            "package": self.package,
            "installed": self.installed,
            "fixed": self.fixed,
            "severity": self.severity,
            "summary": self.summary,
        }


@dataclass
class Scan:
    findings: list[Finding] = field(default_factory=list)
    unparsable: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        found = Counter(f.severity for f in self.findings)
        return {level: found.get(level, 0) for level in SEVERITIES}

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts(),
            "findings": [f.to_json() for f in self.findings],
            "unparsable_versions": self.unparsable,
        }


def read(path: Path) -> Iterator[dict[str, Any]]:
    """Every advisory in a JSON file, a directory (recursively) or a zip of JSON files;
    ValueError names a file that is not an OSV advisory."""
    if path.is_dir():
        for item in sorted(path.rglob("*.json")):
            yield _parse(item.name, item.read_bytes())
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(".json")]
            if len(names) > MAX_FILES:
                raise ValueError(f"{path.name} holds {len(names)} files; at most {MAX_FILES}")
            for name in names:
                yield _parse(name, archive.read(name))
    else:
        data = json.loads(path.read_bytes())
        for item in data if isinstance(data, list) else [data]:
            yield _parse(path.name, json.dumps(item).encode())


def read_bytes(name: str, data: bytes) -> Iterator[dict[str, Any]]:
    """Like `read`, for an upload held in memory (a zip or a JSON document)."""
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                if member.endswith(".json"):
                    yield _parse(member, archive.read(member))
        return
    try:
        loaded = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"{name}: not JSON or a zip of JSON files ({exc})") from None
    for item in loaded if isinstance(loaded, list) else [loaded]:
        yield _parse(name, json.dumps(item).encode())


def _parse(name: str, data: bytes) -> dict[str, Any]:
    try:
        advisory = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"{name}: not JSON ({exc})") from None
    if not isinstance(advisory, dict) or not isinstance(advisory.get("id"), str):
        raise ValueError(f"{name}: not an OSV advisory (no 'id')")
    if not isinstance(advisory.get("affected", []), list):
        raise ValueError(f"{name}: 'affected' must be a list")
    return advisory


def severity(advisory: dict[str, Any]) -> str:
    """CRITICAL / HIGH / MODERATE / LOW from the database's own label, else from a CVSS
    v3 base score given as a number, else UNKNOWN (vectors are not scored here)."""
    label = str((advisory.get("database_specific") or {}).get("severity", "")).upper()
    if label == "MEDIUM":
        label = "MODERATE"
    if label in SEVERITIES:
        return label
    for item in advisory.get("severity") or []:
        try:
            score = float(item.get("score", ""))
        except (TypeError, ValueError):
            continue
        return (
            "CRITICAL"
            if score >= 9
            else "HIGH"
            if score >= 7
            else "MODERATE"
            if score >= 4
            else "LOW"
        )
    return "UNKNOWN"


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _in_range(installed: Version, events: list[dict[str, str]]) -> bool:
    """OSV's evaluation of one range: walk the events in version order; introduced opens,
    fixed and limit close before, last_affected closes after."""
    affected = False
    ordered = []
    for event in events:
        for kind, value in event.items():
            point = Version("0") if value == "0" and kind == "introduced" else _version(value)
            if point is not None:
                ordered.append((point, kind))
    ordered.sort(key=lambda e: (e[0], 0 if e[1] in ("fixed", "limit") else 1))
    for point, kind in ordered:
        if kind == "introduced" and installed >= point:
            affected = True
        elif (kind in ("fixed", "limit") and installed >= point) or (
            kind == "last_affected" and installed > point
        ):
            affected = False
    return affected


def _fixed(affected: dict[str, Any]) -> list[str]:
    return sorted(
        {
            event["fixed"]
            for r in affected.get("ranges") or []
            for event in r.get("events") or []
            if "fixed" in event
        }
    )


def match(advisories: Iterable[dict[str, Any]], packages: dict[str, str]) -> Scan:
    """Findings for an environment (package name -> installed version)."""
    installed = {normalise(name): version for name, version in packages.items()}
    scan = Scan()
    parsed: dict[str, Version | None] = {}
    for name, text in installed.items():
        parsed[name] = _version(text)
        if parsed[name] is None:
            scan.unparsable.append(f"{name}=={text}")
    for advisory in advisories:
        for affected in advisory.get("affected") or []:
            package = affected.get("package") or {}
            if package.get("ecosystem") != "PyPI":
                continue
            name = normalise(str(package.get("name", "")))
            version = parsed.get(name)
            if version is None:
                continue
            listed = {str(v) for v in affected.get("versions") or []}
            hit = installed[name] in listed or any(
                _in_range(version, r.get("events") or [])
                for r in affected.get("ranges") or []
                if r.get("type") == "ECOSYSTEM"
            )
            if hit:
                scan.findings.append(
                    Finding(
                        advisory=advisory["id"],
                        aliases=sorted(advisory.get("aliases") or []),
                        package=name,
                        installed=installed[name],
                        fixed=_fixed(affected),
                        severity=severity(advisory),
                        summary=str(advisory.get("summary") or advisory.get("details", ""))[:500],
                    )
                )
    # One finding per advisory and package, even when several `affected` entries match.
    unique = {(f.advisory, f.package): f for f in scan.findings}
    scan.findings = sorted(unique.values(), key=lambda f: (SEVERITIES.index(f.severity), f.package))
    return scan
