"""`expand`: dotted paths parsed into a tree once, then applied while rendering objects."""
from __future__ import annotations

from dataclasses import dataclass

from mockserver.errors import InvalidRequest

MAX_DEPTH = 4


@dataclass(frozen=True)
class Relation:
    target: str  # object type of the related object(s)
    many: bool


# object type -> field -> Relation; each API registers its own.
Relations = dict[str, dict[str, Relation]]


def parse(paths: list[str], root: str, relations: Relations) -> dict:
    """{'memberships': {'group': {}}} from ['memberships.group']; unknown paths are a 400."""
    tree: dict = {}
    for path in paths:
        parts = path.split(".")
        if len(parts) > MAX_DEPTH:
            raise InvalidRequest(f"expand: {path!r} is more than {MAX_DEPTH} levels deep")
        kind, node = root, tree
        for depth, part in enumerate(parts):
            relation = relations.get(kind, {}).get(part)
            if relation is None:
                where = ".".join(parts[:depth]) or root
                options = ", ".join(sorted(relations.get(kind, {}))) or "nothing"
                raise InvalidRequest(f"expand: cannot expand {path!r}: {where} has no expandable field {part!r} (expandable: {options})")
            node = node.setdefault(part, {})
            kind = relation.target
    return tree


def render(obj: dict, kind: str, tree: dict, relations: Relations, resolve) -> dict:
    """The object with each expanded relation filled in; `resolve(kind, obj, field)` finds related objects."""
    return renderer(kind, tree, relations, resolve)(obj)


def renderer(kind: str, tree: dict, relations: Relations, resolve):
    """render() for every object of one kind and tree: the tree is walked once, not once per object of a list."""
    if not tree:
        return _same
    steps = []
    for field, subtree in tree.items():
        relation = relations[kind][field]
        steps.append((field, relation.many, renderer(relation.target, subtree, relations, resolve)))

    def rendered(obj: dict) -> dict:
        out = dict(obj)
        for field, many, inner in steps:
            related = resolve(kind, obj, field)
            if many:
                out[field] = related if inner is _same else [inner(item) for item in related]
            else:
                out[field] = None if related is None else inner(related)
        return out
    return rendered


def _same(obj: dict) -> dict:
    return obj
