"""End-to-end smoke of the registry over HTTP: model, dataset, run, version, lineage."""

from __future__ import annotations

from pathlib import Path

from charter.client.client import Client
from charter.client.tree import render_tree


def test_register_and_trace(client: Client, tmp_path: Path) -> None:
    client.create_model("credit", "high", description="d", tags={"bu": "retail"})
    client.create_dataset("loans")
    dv = client.create_dataset_version(
        "loans", uri="file:///x.csv", digest="sha256:" + "a" * 64, row_count=10
    )
    run = client.create_run(name="train", inputs=[{"dataset": "loans", "version": dv.version}])
    art = tmp_path / "model.bin"
    art.write_bytes(b"x" * 3000)
    mv = client.register_version(
        "credit",
        art,
        "skops",
        run_id=run.id,
        training_datasets=[{"dataset": "loans", "version": 1}],
        tags={"bu": "retail"},
    )
    assert mv.version == 1
    graph = client.lineage("model:credit@1", "upstream", 5)
    text = render_tree(graph)
    assert "dataset loans@1" in text and "run " in text
    dest = tmp_path / "dl"
    client.download_version("credit", 1, dest)
    assert (dest / "model.bin").read_bytes() == b"x" * 3000
    page = client.search_versions(tag=["bu:retail"])
    assert [v.version for v in page.items] == [1]
