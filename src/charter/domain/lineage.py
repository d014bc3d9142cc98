"""Schemas of the lineage graph: nodes, edges and a traversal result."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from charter.domain.common import Response
from charter.domain.enums import NodeKind

Direction = Literal["upstream", "downstream", "both"]


class LineageNode(Response):
    id: str = Field(description="'model:NAME@V', 'dataset:NAME@V', 'run:ID' or 'evidence:ID'")
    kind: NodeKind
    label: str
    attributes: dict[str, Any] = Field(default_factory=dict)


class LineageEdge(Response):
    source: str
    target: str
    relation: str


class LineageGraph(Response):
    root: str
    direction: Direction
    depth: int
    nodes: list[LineageNode]
    edges: list[LineageEdge]
