"""YAML in and out, the one way the server reads it: safe types only, no anchors or aliases (so a small document
cannot expand into a huge one), and no key given twice (the second would silently win)."""
from __future__ import annotations

import yaml


class DocumentLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "anchors and aliases (&name, *name) are not supported",
                                              event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def compose(text: str):
    """(document, node tree): the nodes carry the line numbers of every value."""
    loader = DocumentLoader(text)
    try:
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
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
