"""The OpenAPI 3.1 document, generated from schemas/ and the operation tables (never written by hand)."""
from __future__ import annotations

import copy
import posixpath
import re

from mockserver import __version__
from mockserver.frigade.handlers import OPERATIONS as FRIGADE
from mockserver.operations import Operation, Param
from mockserver.schemas import load_documents
from mockserver.userflow.handlers import OPERATIONS as USERFLOW

APIS = {"userflow": USERFLOW, "frigade": FRIGADE}
USERFLOW_ERRORS = {400: "Bad Request: invalid parameters or body", 401: "Unauthorized: missing or invalid API key",
                   404: "Not Found: unknown URL or object", 406: "Not Acceptable: the Accept header excludes JSON",
                   413: "Payload Too Large", 415: "Unsupported Media Type: the body is not application/json",
                   429: "Too Many Requests: rate limited", 500: "Internal Server Error", 503: "Service Unavailable"}
FRIGADE_ERRORS = {400: "Bad Request: validation problems in message", 403: "Forbidden: missing or invalid key, or a public key",
                  404: "Not Found", 413: "Payload Too Large", 415: "Unsupported Media Type",
                  429: "Too Many Requests: the account's MAU cap", 500: "Internal Server Error", 503: "Service Unavailable"}
CUSTOM_KEYWORDS = ("x-messages", "x-strict", "x-openapi")


def component_name(document: str) -> str:
    """userflow/user.json -> userflow_user"""
    return document.removesuffix(".json").replace("/", "_")


def _rewrite(node, document: str):
    """A schema document as a component: relative $refs point into #/components/schemas, custom keywords go."""
    if isinstance(node, list):
        return [_rewrite(item, document) for item in node]
    if not isinstance(node, dict):
        return node
    node = node.get("x-openapi", node)  # the same rule, written as generators of requests can read it
    out = {}
    for key, value in node.items():
        if key in CUSTOM_KEYWORDS or key in ("$schema", "$id"):
            continue
        if key == "$ref":
            target, _, pointer = value.partition("#")
            target = posixpath.normpath(posixpath.join(posixpath.dirname(document), target)) if target else document
            out[key] = f"#/components/schemas/{component_name(target)}{pointer}"
        else:
            out[key] = _rewrite(value, document)
    return out


def _parameter(param: Param, where: str) -> dict:
    return {"name": param.name, "in": where, "required": param.required, "schema": param.schema,
            **({"description": param.description} if param.description else {})}


def _ref(document: str) -> dict:
    return {"$ref": f"#/components/schemas/{component_name(document)}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _operation(api: str, op: Operation) -> dict:
    path_params = [Param(name, {"type": "string"}, True) for name in re.findall(r"\{([^}]+)\}", op.path)]
    parameters = [_parameter(p, "path") for p in path_params] + [_parameter(p, "query") for p in op.query]
    if api == "userflow":
        version = Param("Userflow-Version", {"enum": ["2020-01-03"]}, description="API version; absent means the latest")
        parameters.append(_parameter(version, "header"))
    success = {"description": op.summary}
    if op.response:
        schema = _ref(op.response)
        if op.is_list:
            schema = {"allOf": [_ref("userflow/list.json")], "properties": {"data": {"items": schema}}}
        success["content"] = _json(schema)
    errors = USERFLOW_ERRORS if api == "userflow" else FRIGADE_ERRORS
    error_schema = _ref("userflow/error.json" if api == "userflow" else "frigade/error.json")
    out = {"operationId": f"{api}_{op.id}", "summary": op.summary, "tags": [api], "parameters": parameters,
           "responses": {str(op.status): success, **{str(code): {"description": text, "content": _json(error_schema)}
                                                     for code, text in errors.items()}},
           "security": [{"userflowKey": []}] if api == "userflow" else
           [{"frigadePublicKey": []}, {"frigadePrivateKey": []}] if op.path.startswith("/v1/public/") else [{"frigadePrivateKey": []}]}
    if op.request:
        out["requestBody"] = {"required": True, "content": _json(_ref(op.request))}
    return out


def build(api: str | None = None, server: str = "http://127.0.0.1:8080") -> dict:
    """The document for one API, or for both when `api` is None; `server` is the address clients use."""
    apis = [api] if api else list(APIS)
    documents = {name: doc for name, doc in load_documents().items() if name.split("/")[0] in apis}
    paths: dict[str, dict] = {}
    for name in apis:
        for op in APIS[name]:
            paths.setdefault(op.path, {})[op.method.lower()] = _operation(name, op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "mockserver: " + " and ".join(a.capitalize() for a in apis), "version": __version__,
                 "description": "Generated from mockserver's schemas/ and operation tables."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "servers": [{"url": server}],
        "tags": [{"name": a} for a in apis],
        "paths": paths,
        "components": {
            "schemas": {component_name(name): _rewrite(copy.deepcopy(doc), name) for name, doc in documents.items()},
            "securitySchemes": {
                "userflowKey": {"type": "http", "scheme": "bearer", "description": "ak_<letters and digits>"},
                "frigadePublicKey": {"type": "http", "scheme": "bearer", "description": "api_public_<id>"},
                "frigadePrivateKey": {"type": "http", "scheme": "bearer", "description": "api_private_<id>"},
            }},
    }
