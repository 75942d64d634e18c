"""CORS (DESIGN section 10): Frigade answers browsers on any origin, Userflow only when asked, the control API never.
tests/test_frigade_browser.py drives the real @frigade/react SDK in Chromium from another origin."""
import pytest

from mockserver.keys import LIMITS

ORIGIN = "http://localhost:5173"
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type,x-frigade-sdk-platform,x-frigade-sdk-version"}


async def preflight(api, path, headers=PREFLIGHT):
    return await api.client.options(path, headers=headers)


async def test_a_frigade_preflight_is_answered_before_any_key_check(api):
    reply = await preflight(api, "/v1/public/flowStates")  # no Authorization: a browser sends none on a preflight
    assert reply.status == 204 and reply.headers["Access-Control-Allow-Origin"] == "*"
    assert {"POST", "GET", "PUT", "DELETE"} <= {m.strip() for m in reply.headers["Access-Control-Allow-Methods"].split(",")}
    allowed = {h.strip() for h in reply.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-frigade-sdk-platform", "x-frigade-sdk-version"} <= allowed
    assert int(reply.headers["Access-Control-Max-Age"]) > 0
    for path in ("/v1/flows/101", "/v1/users", "/v1/no/such/route"):
        assert (await preflight(api, path)).status == 204, path


async def test_every_frigade_answer_carries_the_allowed_origin_errors_included(make_api, monkeypatch):
    api = await make_api(key="api_public_cors", rate_limit="2/60")  # the 403s and the 404 are refused before they count
    answers = [
        await api.call("POST", "/v1/public/flowStates", json={"userId": "u1"}, headers={"Origin": ORIGIN}),  # 201
        await api.call("POST", "/v1/public/flowStates", json={}, headers={"Origin": ORIGIN}),  # 400
        await api.call("GET", "/v1/flows", headers={"Origin": ORIGIN}),  # 403: a public key on a private route
        await api.call("GET", "/v1/public/nothing", headers={"Origin": ORIGIN}),  # 404
        await api.call("GET", "/v1/public/flows", headers={"Origin": ORIGIN}),  # 429: past the rate limit
        await api.call("GET", "/v1/public/flows", key="bogus", headers={"Origin": ORIGIN}),  # 403: no such key
    ]
    assert [a.status for a in answers] == [201, 400, 403, 404, 429, 403]
    assert all(a.headers["Access-Control-Allow-Origin"] == "*" for a in answers)
    assert "Retry-After" in answers[4].headers["Access-Control-Expose-Headers"]  # the SDK may read it
    monkeypatch.setattr(api.client.app[LIMITS], "default", None)
    from mockserver.frigade import store
    monkeypatch.setattr(store.FrigadeStore, "list_flows", lambda self: 1 / 0)
    broken = await api.call("GET", "/v1/public/flows", headers={"Origin": ORIGIN})
    assert broken.status == 500 and broken.headers["Access-Control-Allow-Origin"] == "*"


async def test_userflow_sends_no_cors_headers_unless_asked(api, make_api):
    answer = await api.call("GET", "/users/alice", headers={"Origin": ORIGIN})
    assert answer.status == 200 and "Access-Control-Allow-Origin" not in answer.headers
    reply = await preflight(api, "/users")
    assert reply.status == 401 and "Access-Control-Allow-Origin" not in reply.headers  # not a CORS answer: no key
    opened = await make_api(cors_origins=(ORIGIN,))
    reply = await preflight(opened, "/users")
    assert reply.status == 204 and reply.headers["Access-Control-Allow-Origin"] == ORIGIN and reply.headers["Vary"] == "Origin"
    answer = await opened.call("GET", "/users/alice", headers={"Origin": ORIGIN})
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN


async def test_cors_origin_narrows_both_apis(make_api):
    api = await make_api(cors_origins=(ORIGIN, "https://app.example"), key="api_public_narrow")
    other = {**PREFLIGHT, "Origin": "https://evil.example"}
    refused = await preflight(api, "/v1/public/flowStates", headers=other)
    assert refused.status == 403 and "Access-Control-Allow-Origin" not in refused.headers
    assert (await refused.json())["message"] == "CORS: origin 'https://evil.example' is not allowed (--cors-origin http://localhost:5173 https://app.example)"
    answer = await api.call("GET", "/v1/public/flows", headers={"Origin": "https://evil.example"})
    assert answer.status == 200 and "Access-Control-Allow-Origin" not in answer.headers  # the browser withholds it
    answer = await api.call("GET", "/v1/public/flows", headers={"Origin": "https://app.example"})
    assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example"
    anyone = await make_api(cors_origins=("*",))
    assert (await preflight(anyone, "/users")).headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("origins", [(), ("*",), (ORIGIN,)])
async def test_the_control_api_is_never_opened_to_other_origins(make_api, origins):
    api = await make_api(cors_origins=origins)
    answer = await api.call("GET", "/__mock/requests", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in answer.headers
    reply = await preflight(api, "/__mock/reset")
    assert "Access-Control-Allow-Origin" not in reply.headers and reply.status != 204


def test_cors_origin_from_the_environment():
    from mockserver.settings import settings_from
    assert settings_from({}, environ={"MOCKSERVER_CORS_ORIGIN": "http://a.test,http://b.test"}).cors_origins == ("http://a.test", "http://b.test")
