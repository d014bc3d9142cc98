"""Turning benchmark results into comparisons, target checks, a Rich table and Markdown."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

QUERY_LABELS = {
    "point_lookup": "point lookup (one version)",
    "tag_search": "two-tag search, limit 100",
    "prefix_search": "name-prefix search, limit 100",
    "lineage_depth5": "lineage, depth 5, both ways",
}
MODES = {"inprocess": "in-process", "http": "HTTP"}
TARGET_RATIO = 10.0
TARGET_TAG_P95_HTTP_MS = 15.0


def _mlflow_for(results: dict[str, Any], backend: str) -> tuple[dict[str, Any] | None, str]:
    """MLflow on the same backend if it was run, else MLflow on SQLite (its default)."""
    mlflow = results.get("mlflow", {})
    if backend in mlflow:
        return mlflow[backend], backend
    if "sqlite" in mlflow:
        return mlflow["sqlite"], "sqlite"
    return None, ""


def _ratio(slow: float | None, fast: float | None) -> float | None:
    if slow is None or fast is None or fast <= 0:
        return None
    return round(slow / fast, 1)


def comparisons(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (Charter backend, mode, measurement) with MLflow's number and the ratio."""
    rows: list[dict[str, Any]] = []
    for backend, charter in results["charter"].items():
        mlflow, against = _mlflow_for(results, backend)
        for mode, mode_label in MODES.items():
            ours = charter[mode]
            theirs = mlflow[mode] if mlflow else None
            reg, their_reg = ours["registration"], theirs["registration"] if theirs else None
            rows.append(
                {
                    "backend": backend,
                    "mode": mode_label,
                    "what": f"registration, versions/s (concurrency {reg['concurrency']})",
                    "kind": "rate",
                    "charter": reg["per_s"],
                    "mlflow": their_reg["per_s"] if their_reg else None,
                    "mlflow_backend": against,
                    "ratio": _ratio(reg["per_s"], their_reg["per_s"] if their_reg else None),
                }
            )
            batched = ours.get("batch_registration")
            if batched:
                rows.append(
                    {
                        "backend": backend,
                        "mode": mode_label,
                        "what": f"registration in batches of {batched['batch_size']}, "
                        f"versions/s (concurrency {batched['concurrency']})",
                        "kind": "rate",
                        "batch": True,
                        "charter": batched["per_s"],
                        "mlflow": their_reg["per_s"] if their_reg else None,
                        "mlflow_backend": against,
                        "ratio": _ratio(
                            batched["per_s"], their_reg["per_s"] if their_reg else None
                        ),
                    }
                )
            for query, label in QUERY_LABELS.items():
                mine = ours["queries"][query]
                other = theirs["queries"].get(query) if theirs else None
                rows.append(
                    {
                        "backend": backend,
                        "mode": mode_label,
                        "what": label,
                        "kind": "latency",
                        "charter": mine,
                        "mlflow": other,
                        "mlflow_backend": against,
                        "ratio_p50": _ratio(other["p50"], mine["p50"]) if other else None,
                        "ratio_p95": _ratio(other["p95"], mine["p95"]) if other else None,
                    }
                )
    return rows


def target_checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    for row in comparisons(results):
        where = f"{row['backend']} {row['mode']}"
        if row["kind"] == "rate":
            if row["mode"] == "HTTP" and row["ratio"] is not None:
                how = " (batches; MLflow one at a time)" if row.get("batch") else " (one at a time)"
                checks.append(
                    {
                        "target": f"{where}: API registration{how} >= {TARGET_RATIO:g}x MLflow",
                        "met": row["ratio"] >= TARGET_RATIO,
                        "actual": f"{row['ratio']}x ({row['charter']} vs {row['mlflow']}/s)",
                    }
                )
            continue
        if row["what"].startswith("two-tag") and row["mode"] == "HTTP":
            p95 = row["charter"]["p95"]
            checks.append(
                {
                    "target": f"{where}: two-tag search p95 < {TARGET_TAG_P95_HTTP_MS:g} ms",
                    "met": p95 < TARGET_TAG_P95_HTTP_MS,
                    "actual": f"{p95} ms",
                }
            )
        if row["mlflow"] is not None:
            worst = min(row["ratio_p50"], row["ratio_p95"])
            checks.append(
                {
                    "target": f"{where}: {row['what']} >= {TARGET_RATIO:g}x faster than MLflow",
                    "met": worst >= TARGET_RATIO,
                    "actual": f"p50 {row['ratio_p50']}x, p95 {row['ratio_p95']}x",
                }
            )
    return checks


def _ms(stats: dict[str, float] | None) -> str:
    if not stats:
        return "n/a"
    return f"{stats['p50']:.1f} / {stats['p95']:.1f} / {stats['p99']:.1f}"


def _cells(row: dict[str, Any]) -> list[str]:
    if row["kind"] == "rate":
        theirs = "n/a" if row["mlflow"] is None else f"{row['mlflow']:.1f}"
        ratio = "n/a" if row["ratio"] is None else f"{row['ratio']}x"
        return [f"{row['charter']:.1f}", theirs, ratio]
    ratio = "n/a"
    if row["mlflow"] is not None:
        ratio = f"{row['ratio_p50']}x / {row['ratio_p95']}x"
    return [_ms(row["charter"]), _ms(row["mlflow"]), ratio]


HEADERS = [
    "backend",
    "mode",
    "measurement",
    "Charter (p50 / p95 / p99 ms, or /s)",
    "MLflow",
    "MLflow ÷ Charter (p50 / p95)",
]


def _connection_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    systems = [("Charter", results["charter"]), ("MLflow", results.get("mlflow", {}))]
    for name, by_backend in systems:
        for backend, result in by_backend.items():
            conn = result["http"].get("connection")
            if conn:
                rows.append(
                    [
                        name,
                        backend,
                        _ms(conn["sdk_reused"]),
                        _ms(conn["reused_connection"]),
                        _ms(conn["new_connection"]),
                    ]
                )
    return rows


CONNECTION_HEADERS = [
    "system",
    "backend",
    "SDK client, reused",
    "raw HTTP, kept-alive",
    "raw HTTP, new connection",
]


def print_tables(results: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="Charter vs MLflow model registry", show_lines=False)
    for header in HEADERS:
        table.add_column(header)
    for row in comparisons(results):
        backend = row["backend"] + (
            f" (MLflow: {row['mlflow_backend']})" if row["mlflow_backend"] != row["backend"] else ""
        )
        table.add_row(backend, row["mode"], row["what"], *_cells(row))
    console.print(table)
    conn = Table(title="Point lookup over HTTP by connection handling (p50 / p95 / p99 ms)")
    for header in CONNECTION_HEADERS:
        conn.add_column(header)
    for cells in _connection_rows(results):
        conn.add_row(*cells)
    console.print(conn)
    checks = Table(title="Targets")
    for header in ("target", "met", "actual"):
        checks.add_column(header)
    for check in target_checks(results):
        mark = "[green]yes[/green]" if check["met"] else "[red]NO[/red]"
        checks.add_row(check["target"], mark, check["actual"])
    console.print(checks)


def markdown(results: dict[str, Any]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    out = [line(HEADERS), line(["---"] * len(HEADERS))]
    for row in comparisons(results):
        backend = row["backend"] + (
            f" (MLflow on {row['mlflow_backend']})"
            if row["mlflow_backend"] and row["mlflow_backend"] != row["backend"]
            else ""
        )
        out.append(line([backend, row["mode"], row["what"], *_cells(row)]))
    out += ["", line(CONNECTION_HEADERS), line(["---"] * len(CONNECTION_HEADERS))]
    out += [line(cells) for cells in _connection_rows(results)]
    out += ["", line(["target", "met", "actual"]), line(["---"] * 3)]
    for check in target_checks(results):
        out.append(line([check["target"], "yes" if check["met"] else "**no**", check["actual"]]))
    return "\n".join(out) + "\n"
