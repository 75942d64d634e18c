"""The pytest plugin, run through pytester in separate pytest processes."""
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SMALL

EXAMPLE = Path(__file__).parent / "examples" / "test_plugin_example.py"
README = Path(__file__).parent.parent / "README.md"


def test_the_readme_example_runs_and_is_the_one_in_the_readme(pytester):
    assert EXAMPLE.read_text() in README.read_text()
    pytester.makepyfile(test_example=EXAMPLE.read_text())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_verify_failure_shows_the_diff(pytester):
    pytester.makepyfile('''
        import json, urllib.request

        def test_wrong_call(mockserver):
            mockserver.load_scenario("name: expect-alice\\nsteps:\\n  - request: {method: GET, path: /users/alice}\\n")
            request = urllib.request.Request(mockserver.url + "/users?limit=1", headers=mockserver.headers)
            urllib.request.urlopen(request).read()
            mockserver.verify()
    ''')
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)  # and no second report at teardown
    result.stdout.fnmatch_lines(["*AssertionError: Scenario 'test_wrong_call-*.expect-alice' is not met:*",
                                 "*step 1 (GET /users/alice): expected 1 more time (received 0 of 1)*",
                                 "*closest: GET /users*", "*path: expected /users/alice, got /users*"])
    assert "pytest_plugin.py" not in result.stdout.str()  # the plugin's own frames are hidden: the test's line is shown


def test_each_test_gets_its_own_environment(pytester):
    pytester.makepyfile('''
        import json, urllib.request
        import pytest

        def call(mockserver, method, path, body=None):
            data = json.dumps(body).encode() if body is not None else None
            request = urllib.request.Request(mockserver.url + path, data=data, headers=mockserver.headers, method=method)
            with urllib.request.urlopen(request) as resp:
                return json.loads(resp.read())

        @pytest.mark.parametrize("run", [1, 2])
        def test_isolated(mockserver, run):
            before = call(mockserver, "GET", "/users?limit=100")["data"]
            call(mockserver, "POST", "/users", {"id": "same-id", "attributes": {"run": run}})
            assert "same-id" not in [u["id"] for u in before]
            assert len(mockserver.requests()) == 2

        def test_frigade_keys_share_one_environment(mockserver):
            body = json.dumps({"userId": "u1"}).encode()
            request = urllib.request.Request(mockserver.url + "/v1/public/sessions", data=body,
                                             headers=mockserver.frigade_headers(), method="POST")
            assert urllib.request.urlopen(request).status == 201
            request = urllib.request.Request(mockserver.url + "/v1/users?userId=u1", headers=mockserver.frigade_headers(private=True))
            assert json.loads(urllib.request.urlopen(request).read())["userId"] == "u1"
            assert [r["api"] for r in mockserver.requests()] == ["frigade", "frigade"]
    ''')
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=3)


def test_options_choose_seed_and_fixtures(pytester):
    pytester.makepyfile('''
        import json, urllib.request

        def test_small_fixtures(mockserver):
            request = urllib.request.Request(mockserver.url + "/users?limit=100", headers=mockserver.headers)
            assert [u["id"] for u in json.loads(urllib.request.urlopen(request).read())["data"]] == ["alice", "bob", "carol", "dave"]
    ''')
    result = pytester.runpytest_subprocess(f"--mockserver-fixtures={SMALL}", "--mockserver-seed=3")
    result.assert_outcomes(passed=1)


def test_webhooks_of_this_test(pytester):
    pytester.makepyfile('''
        import json, threading, urllib.request
        from http.server import BaseHTTPRequestHandler, HTTPServer

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(204)
                self.end_headers()
            def log_message(self, *args):
                pass

        def test_webhook_arrives(mockserver):
            server = HTTPServer(("127.0.0.1", 0), Hook)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            def post(path, body):
                request = urllib.request.Request(mockserver.url + path, data=json.dumps(body).encode(), headers=mockserver.headers, method="POST")
                return json.loads(urllib.request.urlopen(request).read())
            post("/webhook_subscriptions", {"url": f"http://127.0.0.1:{server.server_port}/hook", "topics": ["user.created"]})
            post("/users", {"id": "hooked"})
            [attempt] = mockserver.webhooks()
            assert (attempt["topic"], attempt["status"], attempt["outcome"]) == ("user.created", 204, "delivered")
            server.shutdown()
    ''')
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_external_sidecar_through_mockserver_url(pytester):
    proc = subprocess.Popen([sys.executable, "-m", "mockserver", "serve", "--port", "0", "--fixtures", str(SMALL)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().split()[-1]
        pytester.makepyfile(f'''
            def test_uses_the_sidecar(mockserver):
                assert mockserver.url == "{url}"
        ''')
        monkeypatch = pytest.MonkeyPatch()
        monkeypatch.setenv("MOCKSERVER_URL", url)
        try:
            result = pytester.runpytest_subprocess()
        finally:
            monkeypatch.undo()
        result.assert_outcomes(passed=1)
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_server_that_cannot_start_fails_the_test_clearly(pytester):
    pytester.makepyfile('''
        def test_needs_server(mockserver):
            pass

        def test_needs_it_too(mockserver):
            pass
    ''')
    result = pytester.runpytest_subprocess("--mockserver-fixtures=/no/such/fixtures.yaml")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*mockserver did not start: /no/such/fixtures.yaml: no such fixture file or folder*"])
    pytester.makefile(".yaml", broken="frigade:\n  flows:\n    - {slug: f, name: N, type: CARD, data: {steps: [{id: s}]}}\n"
                                      "    - {slug: f, name: N, type: CARD, data: {steps: [{id: s}]}}\n")
    result = pytester.runpytest_subprocess("--mockserver-fixtures=broken.yaml")
    result.assert_outcomes(errors=2)
    # each test's error says it (newer pytest versions repeat it in the short summary)
    assert result.stdout.str().count("mockserver did not start: broken.yaml:4: frigade.flows[1].slug: 'f' is already used by the flow "
                                     "at broken.yaml:3 (rule: unique)") >= 2
    assert "Traceback" not in result.stdout.str() and "The above exception" not in result.stdout.str()


def test_a_sidecar_that_is_not_a_mockserver_fails_at_once(pytester, tmp_path):
    other = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"], cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        url = "http://127.0.0.1:" + other.stdout.readline().split(" port ")[1].split()[0]
        pytester.makepyfile('''
            def test_needs_server(mockserver):
                pass
        ''')
        monkeypatch = pytest.MonkeyPatch()
        monkeypatch.setenv("MOCKSERVER_URL", url)
        try:
            result = pytester.runpytest_subprocess()
        finally:
            monkeypatch.undo()
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines([f"*MOCKSERVER_URL={url} is not a mockserver: /__mock/health did not answer JSON*"])
    finally:
        other.terminate()
        other.wait(10)


def test_a_scenario_the_test_forgot_to_verify_fails_it_at_teardown(pytester):
    pytester.makepyfile('''
        import urllib.request
        import pytest

        def get(mockserver, path):
            urllib.request.urlopen(urllib.request.Request(mockserver.url + path, headers=mockserver.headers)).read()

        def test_forgets_verify(mockserver):
            mockserver.load_scenario({"name": "expect-bob", "steps": [{"request": {"method": "GET", "path": "/users/bob"}}]})
            get(mockserver, "/users/alice")

        def test_meets_it_without_calling_verify(mockserver):
            mockserver.load_scenario({"name": "expect-bob", "steps": [{"request": {"method": "GET", "path": "/users/bob"}}]})
            get(mockserver, "/users/bob")

        def test_opts_out(mockserver):
            mockserver.load_scenario({"name": "not-checked", "steps": [{"request": {"path": "/users/bob"}}]}, verify=False)

        def test_fails_on_its_own(mockserver):
            mockserver.load_scenario({"name": "expect-bob", "steps": [{"request": {"path": "/users/bob"}}]})
            assert False, "the test's own failure"
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", f"--mockserver-fixtures={SMALL}")
    result.assert_outcomes(passed=3, failed=1, errors=1)  # the forgetful test passed its body, then errored at teardown
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_forgets_verify*",
                                 "*scenarios this test loaded are not met at its end*",
                                 "*Scenario 'test_forgets_verify-*.expect-bob' is not met:*",
                                 "*FAILED *test_fails_on_its_own*"])
    assert "ERROR at teardown of test_fails_on_its_own" not in result.stdout.str()
