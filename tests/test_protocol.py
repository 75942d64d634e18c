"""HTTP-level behaviour: keys, versions, content negotiation, status codes, strict mode, request ids."""
import json

import pytest
from conftest import raw_request

from mockserver import jsontext
from mockserver.keys import ENVIRONMENTS


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer "}, {"Authorization": "Basic ak_abc"},
                                     {"Authorization": "Bearer sk_live_123"}, {"Authorization": "Bearer ak_bad-key"}])
async def test_missing_or_malformed_key_is_401(api, headers):
    api.key = ""
    reply = await api.get("/users", headers=headers)
    assert reply.status == 401 and reply.body["error"]["code"] == "invalid_api_key"


async def test_unknown_url_without_key_is_still_401(api):
    api.key = ""
    assert (await api.get("/nowhere")).status == 401


async def test_api_key_option_restricts_keys(make_api):
    api = await make_api(key="ak_allowed", api_keys=("ak_allowed",))
    assert (await api.get("/users")).status == 200
    reply = await api.get("/users", key="ak_other")
    assert reply.status == 401 and "not one of the keys this server accepts" in reply.body["error"]["message"]


async def test_userflow_version_header(api):
    assert (await api.get("/users", headers={"Userflow-Version": "2020-01-03"})).status == 200
    reply = await api.get("/users", headers={"Userflow-Version": "2023-01-01"})
    assert reply.status == 400 and reply.body["error"]["code"] == "invalid_api_version"


async def test_unknown_url_is_404(api):
    reply = await api.get("/userz")
    assert reply.status == 404 and reply.body["error"]["message"] == "Unrecognized request URL (GET /userz)"


async def test_wrong_method_is_405_with_allow(api):
    reply = await api.call("PUT", "/users/alice", json={})
    assert reply.status == 405 and reply.body["error"]["code"] == "method_not_allowed"
    assert set(reply.headers["Allow"].split(", ")) == {"DELETE", "GET", "HEAD"}


@pytest.mark.parametrize("accept, status", [("text/html", 406), ("application/xml, text/plain", 406),
                                            ("application/json", 200), ("*/*", 200), ("text/html, application/*;q=0.8", 200),
                                            ("application/vnd.api+json", 200), ("application/problem+json, text/html", 200),
                                            ("application/json;q=0, text/html", 406), ("text/x+json", 406)])
async def test_accept_header(api, accept, status):
    assert (await api.get("/users/alice", headers={"Accept": accept})).status == status


async def test_json_media_types_are_the_same_in_content_type_and_accept(api):
    headers = {"Content-Type": "application/merge-patch+json", "Accept": "application/merge-patch+json"}
    assert (await api.call("POST", "/users", data=b'{"id": "typed"}', headers=headers)).status == 200


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "text/x+json"])
async def test_post_without_json_content_type_is_415(api, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    reply = await api.call("POST", "/users", data=b'{"id": "x"}', headers=headers)
    assert reply.status == 415 and reply.body["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize("raw, message", [(b'{"id": ', "not valid JSON"), (b"\xff\xfe", "not valid UTF-8"),
                                          (b'{"id": NaN}', "not valid JSON"), (b"[1, 2]", "is not of type 'object'")])
async def test_malformed_bodies_are_400(api, raw, message):
    reply = await api.call("POST", "/users", data=raw, headers={"Content-Type": "application/json"})
    assert reply.status == 400 and message in reply.body["error"]["message"]


async def test_oversized_body_is_413(make_api):
    api = await make_api(max_body_bytes=1000)
    reply = await api.post("/users", json={"id": "x", "attributes": {"blob": "a" * 2000}})
    assert reply.status == 413 and reply.body["error"]["code"] == "request_too_large"
    assert (await api.get("/users/x")).status == 404


async def test_unexpected_failure_is_500_without_traceback(api, monkeypatch):
    store = api.client.app[ENVIRONMENTS].get(api.key).userflow
    monkeypatch.setattr(store, "get_user", lambda user_id: 1 / 0)
    reply = await api.get("/users/alice")
    assert reply.status == 500 and reply.body["error"]["code"] == "internal_error"
    assert "ZeroDivision" not in reply.body["error"]["message"]


async def test_unknown_query_parameters_are_ignored_unless_strict(api, make_api):
    assert (await api.get("/users", params={"colour": "red"})).status == 200
    strict = await make_api(strict=True)
    reply = await strict.get("/users", params={"colour": "red"})
    assert reply.status == 400 and reply.body["error"]["message"] == "Unknown query parameter: colour (--strict is on)"


async def test_unknown_body_fields_are_ignored_unless_strict(api, make_api):
    assert (await api.post("/users", json={"id": "x", "colour": "red"})).status == 200
    strict = await make_api(strict=True)
    reply = await strict.post("/users", json={"id": "x", "memberships": [{"group": {"id": "g", "colour": "red"}}]})
    assert reply.status == 400 and "memberships[0].group: Unevaluated properties are not allowed ('colour' was unexpected)" in reply.body["error"]["message"]
    assert (await strict.post("/users", json={"id": "x", "attributes": {"colour": "red"}})).status == 200


async def test_a_single_value_parameter_given_twice_is_400(api):
    reply = await api.get("/users", params=[("limit", "1"), ("limit", "2")])
    assert reply.status == 400 and reply.body["error"]["message"] == "limit: given 2 times, expected one value"


async def test_every_response_has_a_fresh_request_id(api):
    first, second = await api.get("/users/alice"), await api.get("/users/alice")
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


@pytest.mark.parametrize("depth", [65, 5000])
async def test_deeply_nested_json_is_400_not_500(api, depth):
    raw = b'{"id": "x", "attributes": {"a": ' + b"[" * depth + b"]" * depth + b"}}"
    reply = await api.call("POST", "/users", data=raw, headers={"Content-Type": "application/json"})
    assert reply.status == 400 and "nested more than 64 levels deep" in reply.body["error"]["message"]
    nested = {"type": "clause", "operator": "and", "conditions": []}
    for _ in range(depth // 2):
        nested = {"type": "clause", "operator": "and", "conditions": [nested]}
    import json
    raw_condition = json.dumps(nested) if depth < 100 else "[" * 2000  # URLs stop at 8 KiB
    reply = await api.get("/users", params={"condition": raw_condition})
    assert reply.status == 400 and "condition: not valid JSON (nested more than 64 levels deep)" in reply.body["error"]["message"]


@pytest.mark.parametrize("text, problem", [
    ('{"a": [1.5, -1e309]}', "a[1]: a number too large to represent (it would be infinite)"),
    ('{"a": 1e400, "b": ' + "[" * 70 + "]" * 70 + "}", "nested more than 64 levels deep"),
    ('{"a": "caf\\u00e9 \\ud800"}', "a: invalid Unicode (a lone surrogate, \\ud800)"),
    ('{"a": {"\\udc00": 1}}', "a.\\udc00: invalid Unicode in a name (a lone surrogate)"),
    ('{"a": ["caf\u00e9", "\udced\udca0"]}', "a[1]: invalid Unicode (a lone surrogate, \\udced)"),  # no escape: the text's own
    ("[" * 65 + "]" * 65, "nested more than 64 levels deep"),
])
def test_json_that_cannot_be_kept_is_refused_naming_where(text, problem):
    with pytest.raises(ValueError) as refused:
        jsontext.loads(text)
    assert str(refused.value) == problem


def test_json_is_taken_up_to_64_levels_with_escapes_and_brackets_in_its_text():
    """The walk looking for what cannot be kept is skipped where the text cannot hold it: what it would accept is taken."""
    assert jsontext.loads("[" * 64 + "]" * 64) == json.loads("[" * 64 + "]" * 64)
    assert jsontext.loads('{"a": "' + "[{" * 100 + '"}') == {"a": "[{" * 100}
    assert jsontext.loads('{"a": "caf\\u00e9 \\ud83d\\ude00", "n": 1e308, "m": -2.5}') == {"a": "café 😀", "n": 1e308, "m": -2.5}


def _answers(raw: bytes) -> list[tuple[bytes, dict, bytes]]:
    """(status line, headers, body) of each answer in `raw`, each body exactly its Content-Length."""
    found = []
    while raw:
        head, _, raw = raw.partition(b"\r\n\r\n")
        status, *lines = head.split(b"\r\n")
        headers = {k.lower(): v for k, _, v in (line.decode().partition(": ") for line in lines)}
        length = int(headers.get("content-length", 0))
        found.append((status, headers, raw[:length]))
        raw = raw[length:]
    return found


async def test_json_answers_on_the_wire(api):
    """A JSON answer is written in one piece: the status line, Content-Type, Content-Length, Date, Server and the
    request id, then exactly the body. Keep-alive holds across answers, `Connection: close` closes after its answer,
    and HTTP/1.0 and HEAD are answered as HTTP says."""
    key = f"Authorization: Bearer {api.key}\r\nHost: x".encode()
    raw = await raw_request(api.client.port, b"GET /users/alice HTTP/1.1\r\n%s\r\n\r\n" % key
                          + b"GET /users/nobody HTTP/1.1\r\n%s\r\n\r\n" % key
                          + b"GET /users/bob HTTP/1.1\r\n%s\r\nConnection: close\r\n\r\n" % key)
    (alice_status, alice, alice_body), (missing_status, missing, missing_body), (bob_status, bob, bob_body) = _answers(raw)
    assert alice_status == b"HTTP/1.1 200 OK" and json.loads(alice_body)["id"] == "alice"
    assert alice["content-type"] == "application/json" and int(alice["content-length"]) == len(alice_body)
    assert alice["x-request-id"].startswith("req_") and alice["date"].endswith(" GMT") and alice["server"].startswith("Python/")
    assert "connection" not in alice  # HTTP/1.1 keeps the connection open by default
    assert missing_status == b"HTTP/1.1 404 Not Found" and json.loads(missing_body)["error"]["code"] == "not_found"
    assert bob_status == b"HTTP/1.1 200 OK" and json.loads(bob_body)["id"] == "bob" and bob["connection"] == "close"
    [(status, old, body)] = _answers(await raw_request(api.client.port, b"GET /users/carol HTTP/1.0\r\n%s\r\n\r\n" % key))
    assert status == b"HTTP/1.0 200 OK" and json.loads(body)["id"] == "carol" and int(old["content-length"]) == len(body)
    head = await raw_request(api.client.port, b"HEAD /users/dave HTTP/1.1\r\n%s\r\nConnection: close\r\n\r\n" % key)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")  # the headers, and no body
