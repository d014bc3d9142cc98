"""Render a lineage graph as an indented text tree a person can read."""

from __future__ import annotations

from charter.domain.lineage import LineageGraph, LineageNode


def _label(node: LineageNode) -> str:
    extras = []
    for key in ("stage", "status", "rows", "region"):
        value = node.attributes.get(key)
        if value not in (None, "", "none"):
            extras.append(f"{key}={value}")
    digest = node.attributes.get("manifest_digest") or node.attributes.get("digest")
    if digest:
        extras.append(f"digest={str(digest).removeprefix('sha256:')[:12]}")
    return node.label + (f"  [{', '.join(extras)}]" if extras else "")


def render_tree(graph: LineageGraph) -> str:
    """Upstream (what it came from) above the root, downstream (what used it) below."""
    nodes = {n.id: n for n in graph.nodes}
    parents: dict[str, list[tuple[str, str]]] = {}
    children: dict[str, list[tuple[str, str]]] = {}
    for edge in graph.edges:
        parents.setdefault(edge.target, []).append((edge.source, edge.relation))
        children.setdefault(edge.source, []).append((edge.target, edge.relation))
    lines = [_label(nodes[graph.root])]

    def walk(
        node_id: str,
        links: dict[str, list[tuple[str, str]]],
        arrow: str,
        prefix: str,
        seen: frozenset[str],
    ) -> None:
        items = sorted(links.get(node_id, []))
        for index, (other, relation) in enumerate(items):
            last = index == len(items) - 1
            branch = "└── " if last else "├── "
            text = _label(nodes[other]) if other in nodes else other
            cycle = " (cycle)" if other in seen else ""
            lines.append(f"{prefix}{branch}{arrow} {relation}: {text}{cycle}")
            if other not in seen:
                walk(other, links, arrow, prefix + ("    " if last else "│   "), seen | {other})

    if graph.direction in ("upstream", "both") and parents.get(graph.root):
        lines.append("upstream:")
        walk(graph.root, parents, "◀", "  ", frozenset({graph.root}))
    if graph.direction in ("downstream", "both") and children.get(graph.root):
        lines.append("downstream:")
        walk(graph.root, children, "▶", "  ", frozenset({graph.root}))
    return "\n".join(lines)
