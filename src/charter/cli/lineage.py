"""`charter lineage`: what a model, dataset or run came from and what used it, as a tree."""

from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.tree import Tree

from charter.cli.arguments import JsonOption, TokenOption, UrlOption
from charter.cli.connection import connect
from charter.cli.output import console, fail, print_json
from charter.client.tree import render_tree
from charter.domain.enums import NodeKind
from charter.domain.lineage import LineageGraph, LineageNode

app = typer.Typer(help="Trace lineage upstream and downstream.", no_args_is_help=True)

KIND_STYLE = {
    NodeKind.DATASET_VERSION: "cyan",
    NodeKind.RUN: "yellow",
    NodeKind.MODEL_VERSION: "green",
}
Links = dict[str, list[tuple[str, str]]]


def node_id(value: str) -> str:
    """'model:NAME@V', 'dataset:NAME@V', 'run:ID', or a bare 'NAME@V' meaning a model."""
    kind, found, rest = value.partition(":")
    if not found:
        if "@" in value:
            return f"model:{value}"
        fail(f"node {value!r} must be model:NAME@V, dataset:NAME@V or run:ID")
    if kind not in {k.value for k in NodeKind} or not rest:
        fail(f"node {value!r} must be model:NAME@V, dataset:NAME@V or run:ID")
    return value


def label(node: LineageNode) -> str:
    extras = []
    for key in ("stage", "status", "rows", "region"):
        value = node.attributes.get(key)
        if value not in (None, "", "none"):
            extras.append(f"{key}={value}")
    digest = node.attributes.get("manifest_digest") or node.attributes.get("digest")
    if digest:
        extras.append(f"digest={str(digest).removeprefix('sha256:')[:12]}")
    style = KIND_STYLE.get(node.kind, "white")
    text = f"[{style}]{escape(node.label)}[/]"
    return text + (f" [dim]{escape(', '.join(extras))}[/]" if extras else "")


def rich_tree(graph: LineageGraph) -> Tree:
    """Upstream (what it came from) and downstream (what used it) as two branches."""
    nodes = {n.id: n for n in graph.nodes}
    parents: Links = {}
    children: Links = {}
    for edge in graph.edges:
        parents.setdefault(edge.target, []).append((edge.source, edge.relation))
        children.setdefault(edge.source, []).append((edge.target, edge.relation))

    def name(node: str) -> str:
        return label(nodes[node]) if node in nodes else escape(node)

    def walk(node: str, links: Links, arrow: str, branch: Tree, seen: frozenset[str]) -> None:
        for other, relation in sorted(links.get(node, [])):
            if other in seen:
                branch.add(f"{arrow} {escape(relation)}: {name(other)} [dim](cycle)[/]")
                continue
            walk(
                other,
                links,
                arrow,
                branch.add(f"{arrow} {escape(relation)}: {name(other)}"),
                seen | {other},
            )

    root = Tree(f"[bold]{name(graph.root)}[/]")
    directions: list[tuple[Literal["upstream", "downstream"], Links, str]] = [
        ("upstream", parents, "◀"),
        ("downstream", children, "▶"),
    ]
    for direction, links, arrow in directions:
        if graph.direction in (direction, "both") and links.get(graph.root):
            walk(
                graph.root, links, arrow, root.add(f"[bold]{direction}[/]"), frozenset({graph.root})
            )
    return root


@app.command("show")
def show(
    node: Annotated[
        str,
        typer.Argument(
            metavar="NODE", help="model:NAME@V, dataset:NAME@V, run:ID (bare NAME@V = model)"
        ),
    ],
    direction: Annotated[str, typer.Option(help="upstream, downstream or both")] = "both",
    depth: Annotated[int, typer.Option(help="how many hops to follow (1-50)")] = 5,
    plain: Annotated[bool, typer.Option("--plain", help="plain text tree, no colours")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show a node's lineage: a tree for people, the graph (nodes, edges) with --json."""
    if direction not in ("upstream", "downstream", "both"):
        fail(f"--direction {direction!r} must be upstream, downstream or both")
    if not 1 <= depth <= 50:
        fail(f"--depth must be between 1 and 50, got {depth}")
    target = node_id(node)
    with connect(url, token) as client:
        graph = client.lineage(target, direction, depth)
    if json_output:
        print_json(graph)
    elif plain:
        console.print(render_tree(graph), markup=False, highlight=False, soft_wrap=True)
    else:
        console.print(rich_tree(graph))
