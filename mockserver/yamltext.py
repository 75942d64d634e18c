"""YAML in and out, the one way the server reads it: safe types only, no anchors or aliases (so a small document
cannot expand into a huge one), and no key given twice (the second would silently win)."""
from __future__ import annotations

import yaml


class DocumentLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser where PyYAML has it: ~10x faster
    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def _refuse_aliases(root) -> None:
    """An alias is a node met twice in the composed tree: refused before anything is built from it."""
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise yaml.composer.ComposerError(None, None, "anchors and aliases (&name, *name) are not supported", node.start_mark)
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def compose(text: str):
    """(document, node tree): the nodes carry the line numbers of every value."""
    loader = DocumentLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _refuse_aliases(node)
        return loader.construct_document(node), node
    finally:
        loader.dispose()


def load(text: str):
    return compose(text)[0]


class _FullDumper(yaml.SafeDumper):
    """Writes shared objects out in full, as the loader reads no aliases."""

    def ignore_aliases(self, data) -> bool:
        return True


def dump(data) -> str:
    return yaml.dump(data, Dumper=_FullDumper, sort_keys=False, allow_unicode=True)
