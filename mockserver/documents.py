"""Scenario and fixture files: parsed with line numbers, so every problem names file, line and rule."""
from __future__ import annotations

import json

import yaml

from mockserver import jsontext, yamltext
from mockserver.scenarios import Scenario


class DocumentError(Exception):
    """A file that cannot be used: one `file:line: problem` per line."""


def _strict_json(name: str, text: str) -> None:
    """A .json document must be JSON, not merely YAML that looks like it (single quotes, trailing commas), and no
    key may be given twice."""
    def no_twice(pairs):
        keys = [k for k, _ in pairs]
        twice = next((k for k in keys if keys.count(k) > 1), None)
        if twice is not None:
            raise ValueError(f"key {twice!r} is given twice")
        return dict(pairs)

    try:
        json.loads(text, object_pairs_hook=no_twice)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"{name}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})") from None
    except ValueError as exc:
        raise DocumentError(f"{name}: not valid JSON: {exc}") from None


def parse(name: str, text: str):
    """(document, node tree) of YAML or JSON text; the nodes carry the line numbers."""
    if name.endswith(".json"):
        _strict_json(name, text)
    try:
        doc, node = yamltext.compose(text)
        jsontext.check(doc)
        return doc, node
    except ValueError as exc:  # a lone surrogate, an infinite number, or nesting too deep
        raise DocumentError(f"{name}: not usable: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise DocumentError(f"{name}{line}: not valid {'JSON' if name.endswith('.json') else 'YAML'}: "
                            f"{getattr(exc, 'problem', None) or exc}") from None


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


def check(name: str, text: str, schemas, seen_flows: dict | None = None) -> tuple[object, list[str]]:
    """The document and its problems, each `file:line: field: message (rule: ...)`. `seen_flows` carries the Frigade
    flow slugs and ids of fixture files read before this one (a folder of fixtures is one data set)."""
    doc, node = parse(name, text)
    kind = kind_of(doc)
    schema = "scenario.json" if kind == "scenario" else "fixtures.json"
    problems = [f"{name}:{line_of(node, path)}: {text}" for path, text in schemas.located_errors(schema, doc if doc is not None else {})]
    if kind == "scenario" and not problems:
        try:
            Scenario.from_document(doc, name)
        except ValueError as exc:
            problems.append(f"{name}:{line_of(node, ['steps'])}: steps: {exc} (rule: webhook-needs-env)")
    if kind == "fixtures" and not problems:
        problems += _duplicate_flows(name, doc, node, {} if seen_flows is None else seen_flows)
    return doc, problems


def _duplicate_flows(name: str, doc, node, seen: dict) -> list[str]:
    """Frigade flows are found by slug and by numeric id: each must name one flow across the whole data set."""
    problems = []
    for i, flow in enumerate(((doc or {}).get("frigade") or {}).get("flows", [])):
        for field in ("slug", "id"):
            if field not in flow:
                continue
            where = f"{name}:{line_of(node, ['frigade', 'flows', i, field])}"
            first = seen.setdefault((field, flow[field]), where)
            if first != where:
                problems.append(f"{where}: frigade.flows[{i}].{field}: {flow[field]!r} is already used by the flow at {first} "
                                f"(rule: unique)")
    return problems


def load_scenario(name: str, text: str, schemas, source: str) -> Scenario:
    doc, problems = check(name, text, schemas)
    if problems:
        raise DocumentError("\n".join(problems))
    if kind_of(doc) != "scenario":
        raise DocumentError(f"{name}:1: not a scenario: it has no steps (rule: required)")
    return Scenario.from_document(doc, source)


def dump(doc, as_json: bool) -> str:
    return json.dumps(doc, indent=2) + "\n" if as_json else yamltext.dump(doc)
