"""Personal data in a table, found by column name and by value, column by column.

Recognisers are written here, not taken from presidio-analyzer: its pattern recognisers do
run without a spaCy model, but its e-mail recogniser fetches the public suffix list from
the internet on first use (this machine has none, and Charter must not reach out), its
person-name detection needs a downloaded spaCy model, and it analyses one string at a
time (~20 µs a value here). These recognisers are regular expressions applied to whole
columns with pandas' vectorised string methods, confirmed by checksums where the format
has one (Luhn for cards, ISO 13616 mod-97 for IBANs, the issuing rules of US SSNs and UK
NINOs, `ipaddress` for IP addresses). Reports never hold a raw value: examples are masked.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,24}"
PHONE = r"\+?\d[\d ()./-]{7,18}\d"
CARD = r"(?:\d[ -]?){12,18}\d"
IBAN = r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}"
SSN = r"\d{3}-\d{2}-\d{4}"
NINO = r"[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-Da-d]"
IPV4 = r"(?:\d{1,3}\.){3}\d{1,3}"
IPV6 = r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]+"
DATE = r"\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4}"

NAME_COLUMNS = re.compile(
    r"^(?:(?:first|last|given|family|middle|full|maiden|customer|patient|person|sur)_?name"
    r"|name|surname|forename)$",
    re.IGNORECASE,
)
BIRTH_COLUMNS = re.compile(r"(?:^|_)(?:dob|birth_?date|date_?of_?birth|birthday)(?:$|_)", re.I)


def luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return total % 10 == 0


def iban(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1
    except ValueError:
        return False


def ssn(value: str) -> bool:
    area, group, serial = value.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


_NINO_BAD_FIRST = set("DFIQUV")
_NINO_BAD_SECOND = set("DFIOQUV")
_NINO_BAD_PREFIX = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}


def nino(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    prefix = compact[:2]
    return (
        prefix[0] not in _NINO_BAD_FIRST
        and prefix[1] not in _NINO_BAD_SECOND
        and prefix not in _NINO_BAD_PREFIX
    )


def ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def phone(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    # A bare run of digits is as likely an account or product number, and the SSN shape
    # (also when invalid) is not a phone; phones have a leading '+' or separators.
    if re.fullmatch(SSN, value):
        return False
    return 9 <= digits <= 15 and (value.startswith("+") or not value.isdigit())


def _mask_text(value: str, keep_end: int = 0) -> str:
    shown = value[-keep_end:] if keep_end else ""
    hidden = value[: len(value) - keep_end] if keep_end else value
    return re.sub(r"[A-Za-z0-9]", "*", hidden) + shown


def _mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    head, _, tld = domain.rpartition(".")
    return f"{local[:1]}***@{head[:1]}***.{tld}"


def _alone(pattern: str) -> str:
    """`pattern` not embedded in a longer run of letters and digits (a hex token, an id)."""
    return rf"(?<![A-Za-z0-9])(?:{pattern})(?![A-Za-z0-9])"


@dataclass(frozen=True)
class Recogniser:
    kind: str
    pattern: str
    check: Callable[[str], bool] | None
    mask: Callable[[str], str]


RECOGNISERS = (
    Recogniser("email", EMAIL, None, _mask_email),
    Recogniser("payment_card", _alone(CARD), luhn, lambda v: _mask_text(v, 4)),
    Recogniser("iban", _alone(IBAN), iban, lambda v: v[:2] + _mask_text(v[2:], 4)),
    Recogniser("us_ssn", _alone(SSN), ssn, lambda v: "***-**-" + v[-4:]),
    Recogniser("uk_nino", _alone(NINO), nino, lambda v: v[:2] + _mask_text(v[2:])),
    Recogniser("ip_address", _alone(f"{IPV4}|{IPV6}"), ip, lambda v: _mask_text(v)),
    Recogniser("phone", _alone(PHONE), phone, lambda v: _mask_text(v, 2)),
)


@dataclass
class ColumnReport:
    kinds: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    by_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kinds": self.kinds, "examples": self.examples, "by_name": self.by_name}


@dataclass
class PiiReport:
    rows_scanned: int
    columns: dict[str, ColumnReport]

    @property
    def pii_columns(self) -> list[str]:
        return sorted(name for name, c in self.columns.items() if c.kinds or c.by_name)

    def to_json(self) -> dict[str, Any]:
        return {
            "rows_scanned": self.rows_scanned,
            "pii_columns": self.pii_columns,
            "columns": {name: c.to_json() for name, c in sorted(self.columns.items())},
        }


def _scan_values(values: Any, report: ColumnReport) -> None:
    """Each recogniser claims the cells it confirms; a cell counts for one kind only."""
    remaining = values
    for recogniser in RECOGNISERS:
        if remaining.empty:
            return
        found = remaining.str.extract(f"({recogniser.pattern})", expand=False).dropna()
        if found.empty:
            continue
        if recogniser.check is not None:
            found = found[found.map(recogniser.check)]
        if found.empty:
            continue
        report.kinds[recogniser.kind] = len(found)
        report.examples[recogniser.kind] = [recogniser.mask(v) for v in found.head(3)]
        remaining = remaining.drop(index=found.index)


def scan(frame: Any, sample_rows: int | None = None) -> PiiReport:
    """Scan a pandas DataFrame column by column (at most `sample_rows` rows)."""
    table = frame if sample_rows is None else frame.head(sample_rows)
    columns: dict[str, ColumnReport] = {}
    for name in table.columns:
        label = str(name)
        report = ColumnReport()
        column = table[name]
        if NAME_COLUMNS.match(label):
            report.by_name = "person_name"
        elif BIRTH_COLUMNS.search(label):
            report.by_name = "date_of_birth"
        if column.dtype.kind in "iuf":
            # Numbers only matter as card numbers (13-19 digits).
            values = column.dropna()
            if column.dtype.kind == "f":
                values = values[values == values.round()]
            text = values.astype("int64", errors="ignore").astype(str)
            text = text[text.str.len().between(13, 19)]
        else:
            text = column.dropna().astype(str)
        if not text.empty:
            _scan_values(text.str.strip(), report)
        if report.by_name == "date_of_birth" and not text.empty:
            dates = int(text.str.fullmatch(DATE).sum())
            if dates:
                report.kinds["date_of_birth"] = dates
                report.examples["date_of_birth"] = ["****-**-**"] * min(dates, 3)
        columns[label] = report
    return PiiReport(rows_scanned=len(table), columns=columns)
