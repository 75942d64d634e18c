"""The OpenAPI 3.1 document: valid, complete, and generated from schemas/."""
import json
import subprocess
import sys

import pytest
from openapi_spec_validator import validate

from mockserver.app import create_app
from mockserver.openapi import build, component_name
from mockserver.schemas import load_documents
from mockserver.settings import Settings


@pytest.mark.parametrize("api", [None, "userflow", "frigade"])
def test_document_is_valid_openapi_3_1(api):
    doc = build(api)
    validate(doc)
    assert doc["openapi"] == "3.1.0"


def test_every_route_of_both_apis_is_documented():
    app = create_app(Settings())
    doc = build()
    routes = {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
              if r.method != "HEAD" and not r.resource.canonical.startswith("/__mock")}
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert routes == documented and len(routes) == 38


def test_components_are_the_schema_files():
    doc = build()
    api_documents = {name for name in load_documents() if name.split("/")[0] in ("userflow", "frigade")}
    assert set(doc["components"]["schemas"]) == {component_name(name) for name in api_documents}
    assert "x-messages" not in json.dumps(doc)


def test_operations_declare_parameters_bodies_and_errors():
    paths = build()["paths"]
    list_users = paths["/users"]["get"]
    assert {p["name"] for p in list_users["parameters"]} >= {"limit", "starting_after", "order_by", "expand", "email", "group_id",
                                                             "segment_id", "condition", "Userflow-Version"}
    order_by = next(p for p in list_users["parameters"] if p["name"] == "order_by")
    assert "-attributes.name" in order_by["schema"]["enum"]
    assert paths["/users"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/userflow_create_user"}
    assert {"200", "400", "401", "404", "415", "429", "500"} <= set(paths["/users"]["post"]["responses"])
    assert next(p for p in paths["/content_versions"]["get"]["parameters"] if p["name"] == "content_id")["required"] is True
    assert set(paths["/v1/flows/{flow}"]["delete"]["responses"]) >= {"204", "403", "404"}
    assert paths["/v1/public/flowStates"]["post"]["security"] == [{"frigadePublicKey": []}, {"frigadePrivateKey": []}]
    assert paths["/v1/flows"]["get"]["security"] == [{"frigadePrivateKey": []}]


def test_cli_prints_the_document():
    out = subprocess.run([sys.executable, "-m", "mockserver", "openapi", "--api", "userflow"], capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    validate(doc)
    assert all(not path.startswith("/v1/") for path in doc["paths"])


async def test_served_at_mock_openapi_json(api):
    doc = await api.ok("GET", "/__mock/openapi.json", params={"api": "frigade"})
    validate(doc)
    assert set(doc["paths"]) == set(build("frigade")["paths"])
    assert (await api.get("/__mock/openapi.json", params={"api": "soap"})).status == 400


async def test_the_served_document_names_the_address_it_was_fetched_from(api):
    doc = await api.ok("GET", "/__mock/openapi.json")
    assert doc["servers"] == [{"url": str(api.client.make_url("/")).rstrip("/")}]


def test_expand_is_declared_only_where_something_expands():
    """The reference: "You can use the `expand` parameter on any endpoint which returns expandable fields"."""
    doc = build("userflow")
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            declared = any(p["name"] == "expand" for p in operation["parameters"])
            expandable = method != "delete" and not path.startswith(("/webhook_subscriptions", "/attribute_definitions",
                                                                      "/event_definitions", "/group_memberships"))
            assert declared == expandable, (method, path)
