"""Property-based contract checks: Schemathesis drives every operation of both APIs from the server's own
OpenAPI document; no 5xx, every response conforms to its declared schema and status codes.

Run by tests/test_contract.py in a pytest process of its own (see there).
"""
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_headers_conformance,
                                 response_schema_conformance, status_code_conformance)

from mockserver.openapi import build
from mockserver.pytest_plugin import _Server
from mockserver.settings import Settings

SMALL = Path(__file__).parent.parent / "fixtures" / "small.yaml"

EXAMPLES = 25
# What the contract promises. (Schemathesis' "schema-valid data is accepted" check does not fit an API where a
# well-formed id that names nothing is a 404, or an unknown segment_id a 400.)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
schema = schemathesis.openapi.from_dict(build())
# the same requests on every run and machine: a failure here is reproducible, never a matter of luck
schema.config.generation.update(deterministic=True)


@pytest.fixture(scope="module")
def base_url():
    server = _Server(Settings(fixtures=SMALL, quiet=True))
    yield server.start()
    server.stop()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_contract(case, base_url):
    key = "api_private_contract" if case.path.startswith("/v1/") else "ak_contract"
    case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)
