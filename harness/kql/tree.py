"""Navigation over one analysis's syntax tree: the one helper desugaring and mutation both edit by."""

from __future__ import annotations

from collections.abc import Iterable

from harness.kql.model import Analysis, SyntaxNode


class SyntaxTree:
    """The syntax tree of one analysis, with children per node (the walk gives parents only)."""

    def __init__(self, analysis: Analysis) -> None:
        self.text = analysis.text
        self.nodes: tuple[SyntaxNode, ...] = analysis.tree or ()
        self.children: dict[int, list[int]] = {}
        for n in self.nodes:
            self.children.setdefault(n.parent, []).append(n.index)

    def kids(self, node: SyntaxNode) -> list[SyntaxNode]:
        return [self.nodes[i] for i in self.children.get(node.index, [])]

    def parent(self, node: SyntaxNode) -> SyntaxNode | None:
        return self.nodes[node.parent] if node.parent >= 0 else None

    def of_type(self, *types: str) -> Iterable[SyntaxNode]:
        return (n for n in self.nodes if n.type in types)

    def source(self, node: SyntaxNode) -> str:
        return node.span.text(self.text)
