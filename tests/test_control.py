"""Control API: health, reset, the journal; and the isolation of environments."""
import json

from conftest import raw_request


async def test_health(api):
    assert await api.ok("GET", "/__mock/health") == {"status": "ok"}


async def test_environments_are_isolated(api):
    other = "ak_other"
    await api.ok("POST", "/users", json={"id": "only-here"})
    assert (await api.get("/users/only-here", key=other)).status == 404
    await api.ok("DELETE", "/users/alice", key=other)
    assert (await api.get("/users/alice")).status == 200


async def test_reset_one_environment(api):
    await api.ok("POST", "/users", json={"id": "temp"})
    await api.ok("POST", "/users", json={"id": "temp"}, key="ak_keep")
    assert await api.ok("POST", "/__mock/reset", json={"env": api.key}) == {"reset": [api.key], "env": api.key}
    assert (await api.get("/users/temp")).status == 404
    assert (await api.get("/users/temp", key="ak_keep")).status == 200


async def test_reset_all_returns_the_seeded_state(api):
    before = await api.ok("GET", "/users", params={"limit": "100"})
    await api.ok("DELETE", "/users/alice")
    reply = await api.ok("POST", "/__mock/reset")
    assert reply["reset"] == [api.key] and reply["env"] is None
    assert await api.ok("GET", "/users", params={"limit": "100"}) == before


async def test_reset_rejects_a_bad_body(api):
    reply = await api.call("POST", "/__mock/reset", json={"env": 5})
    assert reply.status == 400


async def test_journal_records_requests_and_responses(api):
    await api.post("/users", json={"id": "j1"})
    await api.get("/users/missing")
    await api.get("/users", key="ak_elsewhere")
    journal = await api.ok("GET", "/__mock/requests", params={"env": api.key})
    assert [(e["method"], e["path"], e["response"]["status"]) for e in journal["requests"]] == [
        ("POST", "/users", 200), ("GET", "/users/missing", 404)]
    post = journal["requests"][0]
    assert post["request"]["body"] == {"id": "j1"} and post["response"]["body"]["id"] == "j1"
    assert post["request_id"] == post["response"]["headers"]["X-Request-Id"]
    only_get = await api.ok("GET", "/__mock/requests", params={"method": "get", "path": "/users/missing"})
    assert only_get["count"] == 1
    assert (await api.ok("GET", "/__mock/requests"))["count"] == 3  # the control API is not journaled


async def test_journal_keeps_the_headers_as_sent_and_as_answered(api):
    await api.get("/users/alice", headers={"X-Note": "a: b, c", "User-Agent": "sdk/1.0"})
    entry = (await api.ok("GET", "/__mock/requests", params={"path": "/users/alice"}))["requests"][0]
    sent, answered = entry["request"]["headers"], entry["response"]["headers"]
    assert sent["X-Note"] == "a: b, c" and sent["User-Agent"] == "sdk/1.0" and sent["Authorization"] == f"Bearer {api.key}"
    # what the answer carried on the wire, including what is set as it is written
    assert answered["Content-Type"] == "application/json" and answered["X-Request-Id"] == entry["request_id"]
    assert int(answered["Content-Length"]) > 0 and answered["Date"].endswith(" GMT")


async def test_journal_shows_the_answer_exactly_as_the_client_received_it(api):
    """Over HTTP/1.1 (the server's one-step JSON answer) and HTTP/1.0 (aiohttp's own path): the same headers, status
    and body the client read off the socket."""
    key = f"Authorization: Bearer {api.key}".encode()
    for version in (b"1.1", b"1.0"):
        raw = await raw_request(api.client.port, b"GET /users/alice?v=%s HTTP/%s\r\nHost: x\r\nConnection: close\r\n%s\r\n\r\n"
                                % (version, version, key))
        head, _, body = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode().split("\r\n")
        received = dict(line.split(": ", 1) for line in lines)
        [entry] = (await api.ok("GET", "/__mock/requests", params={"path": "/users/alice"}))["requests"][-1:]
        assert entry["query"] == f"v={version.decode()}"
        assert entry["response"]["headers"] == received and entry["response"]["status"] == int(status_line.split()[1])
        assert entry["response"]["body"] == json.loads(body) and received["Content-Length"] == str(len(body))


async def test_journal_is_bounded(make_api):
    api = await make_api(journal_size=3)
    for i in range(5):
        await api.get(f"/users/u{i}")
    journal = await api.ok("GET", "/__mock/requests")
    assert [e["path"] for e in journal["requests"]] == ["/users/u2", "/users/u3", "/users/u4"]
    assert journal["dropped"] == 2


async def test_clear_journal(api):
    await api.get("/users/alice")
    await api.get("/users/alice", key="ak_two")
    assert await api.ok("DELETE", "/__mock/requests", params={"env": "ak_two"}) == {"deleted": 1}
    assert await api.ok("DELETE", "/__mock/requests") == {"deleted": 1}
    assert (await api.ok("GET", "/__mock/requests"))["count"] == 0


async def test_a_frigade_key_names_its_environment_wherever_the_control_api_takes_one(make_api):
    api = await make_api(key="api_private_shared")
    await api.ok("POST", "/v1/public/users", status=201, json={"userId": "someone"}, key="api_public_shared")
    for env in ("shared", "api_public_shared", "api_private_shared"):
        assert [e["path"] for e in (await api.ok("GET", "/__mock/requests", params={"env": env}))["requests"]] == ["/v1/public/users"]
    assert (await api.ok("POST", "/__mock/reset", json={"env": "api_public_shared"}))["reset"] == ["shared"]
    assert (await api.get("/v1/users", params={"userId": "someone"})).status == 404


async def test_journal_reads_from_a_seq_and_the_newest_entries(api):
    for i in range(4):
        await api.get(f"/users/s{i}")
    journal = await api.ok("GET", "/__mock/requests", params={"env": api.key}, schema="control/requests.json")
    seqs = [e["seq"] for e in journal["requests"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    after = await api.ok("GET", "/__mock/requests", params={"env": api.key, "since": str(seqs[1])})
    assert [e["path"] for e in after["requests"]] == ["/users/s2", "/users/s3"]
    newest = await api.ok("GET", "/__mock/requests", params={"env": api.key, "limit": "1"})
    assert [e["path"] for e in newest["requests"]] == ["/users/s3"] and newest["count"] == 1
    reply = await api.call("GET", "/__mock/requests", params={"limit": "0"})
    assert reply.status == 400 and "limit: must be a whole number of at least 1" in reply.body["error"]["message"]
