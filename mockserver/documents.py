"""Scenario and fixture files: parsed with line numbers, so every problem names file, line and rule."""
from __future__ import annotations

import json

import yaml

from mockserver.scenarios import Scenario


class DocumentError(Exception):
    """A file that cannot be used: one `file:line: problem` per line."""


def parse(name: str, text: str):
    """(document, node tree) of YAML or JSON text; the nodes carry the line numbers."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise DocumentError(f"{name}{line}: not valid {'JSON' if name.endswith('.json') else 'YAML'}: "
                            f"{getattr(exc, 'problem', None) or exc}") from None
    return doc, node


def line_of(node, path: list) -> int:
    """The line of the value at `path`, or of the deepest part of it that exists."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def kind_of(doc) -> str:
    """A document with steps is a scenario; anything else is read as fixtures."""
    return "scenario" if isinstance(doc, dict) and "steps" in doc else "fixtures"


def check(name: str, text: str, schemas) -> tuple[object, list[str]]:
    """The document and its problems, each `file:line: field: message (rule: ...)`."""
    doc, node = parse(name, text)
    kind = kind_of(doc)
    schema = "scenario.json" if kind == "scenario" else "fixtures.json"
    problems = [f"{name}:{line_of(node, path)}: {text}" for path, text in schemas.located_errors(schema, doc if doc is not None else {})]
    if kind == "scenario" and not problems:
        try:
            Scenario.from_document(doc, name)
        except ValueError as exc:
            problems.append(f"{name}:{line_of(node, ['steps'])}: steps: {exc} (rule: webhook-needs-env)")
    return doc, problems


def load_scenario(name: str, text: str, schemas, source: str) -> Scenario:
    doc, problems = check(name, text, schemas)
    if problems:
        raise DocumentError("\n".join(problems))
    if kind_of(doc) != "scenario":
        raise DocumentError(f"{name}:1: not a scenario: it has no steps (rule: required)")
    return Scenario.from_document(doc, source)


def dump(doc, as_json: bool) -> str:
    return json.dumps(doc, indent=2) + "\n" if as_json else yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
