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


def render(obj: dict, kind: str, tree: dict, relations: Relations, related) -> dict:
    """The object with each expanded relation filled in (see renderer)."""
    return renderer(kind, tree, relations, related)(obj)


def renderer(kind: str, tree: dict, relations: Relations, related):
    """render() for every object of one kind and tree: the tree is walked once, not once per object of a list, and
    `related(kind, field)` gives once the function finding an object's related object(s) (a list for a to-many field,
    the object or None for a to-one)."""
    if not tree:
        return _same
    steps = []
    for field, subtree in tree.items():
        relation = relations[kind][field]
        steps.append((field, relation.many, related(kind, field), renderer(relation.target, subtree, relations, related)))

    def rendered(obj: dict) -> dict:
        out = dict(obj)
        for field, many, find, inner in steps:
            found = find(obj)
            if many:
                out[field] = found if inner is _same else list(map(inner, found))
            else:
                out[field] = None if found is None else inner(found)
        return out
    return rendered


def _same(obj: dict) -> dict:
    return obj
