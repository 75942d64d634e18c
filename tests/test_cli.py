"""The real CLI as a subprocess, talking HTTP."""
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import time

import pytest
import yaml

from conftest import SMALL, assert_valid


def start(*args, env=None):
    proc = subprocess.Popen([sys.executable, "-m", "mockserver", "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})
    line = proc.stdout.readline()
    assert line.startswith("mockserver listening on http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, line.split()[-1]


def call(url, method="GET", body=None, key="ak_cli"):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_serve_answers_over_http_and_stops_cleanly_on_sigterm():
    proc, base = start("--port", "0", "--fixtures", str(SMALL), "--seed", "3")
    try:
        status, user = call(f"{base}/users", "POST", {"id": "cli-user", "attributes": {"plan": "pro"}})
        assert status == 200 and user["attributes"] == {"plan": "pro"}
        status, page = call(f"{base}/users?limit=2")
        assert status == 200 and [u["id"] for u in page["data"]] == ["alice", "bob"]
        assert_valid("userflow/response.json", page)
        status, error = call(f"{base}/users", key="nope")
        assert status == 401 and error["error"]["code"] == "invalid_api_key"
        assert call(f"{base}/__mock/health") == (200, {"status": "ok"})
    finally:
        stop(proc)


def test_settings_from_environment_variables():
    proc, base = start(env={"MOCKSERVER_PORT": "0", "MOCKSERVER_API_KEY": "ak_one,ak_two", "MOCKSERVER_STRICT": "true",
                            "MOCKSERVER_FIXTURES": str(SMALL)})
    try:
        assert call(f"{base}/users/alice", key="ak_two")[0] == 200
        assert call(f"{base}/users/alice", key="ak_three")[0] == 401
        status, error = call(f"{base}/users/alice?colour=red", key="ak_one")
        assert status == 400 and "colour" in error["error"]["message"]
    finally:
        stop(proc)


def test_ctrl_c_stops_cleanly():
    proc, _ = start("--port", "0", "--fixtures", str(SMALL))
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0


def test_json_logs_on_stderr():
    proc, base = start("--port", "0", "--fixtures", str(SMALL), "--log-format", "json")
    call(f"{base}/users/nobody")
    stop(proc)
    lines = [json.loads(line) for line in proc.stderr.read().splitlines() if line.strip()]
    assert lines[0]["message"].startswith("loaded seed 0; fixtures ") and "4 users, 3 groups" in lines[0]["message"]
    [request] = [line for line in lines if line["logger"] == "mockserver.access"]
    assert {k: request[k] for k in ("method", "path", "status", "env", "fault")} == {
        "method": "GET", "path": "/users/nobody", "status": 404, "env": "ak_cli", "fault": None}
    assert request["request_id"].startswith("req_") and request["duration_ms"] > 0
    assert lines[-1]["message"] == "shutting down"


def test_text_logs_and_quiet():
    proc, base = start("--port", "0", "--fixtures", str(SMALL))
    call(f"{base}/users/alice")
    stop(proc)
    text = proc.stderr.read()
    assert " INFO mockserver: loaded seed 0; " in text
    assert re.search(r" INFO mockserver.access: GET /users/alice 200 [0-9.]+ms env=ak_cli req_[0-9a-f]{20}\n", text)
    proc, base = start("--port", "0", "--fixtures", str(SMALL), "--quiet")
    call(f"{base}/users/alice")
    stop(proc)
    assert proc.stderr.read() == ""


@pytest.mark.parametrize("args, message", [
    (["--fixtures", "/no/such/file.yaml"], "mockserver: error: /no/such/file.yaml: no such fixture file or folder"),
    (["--log-format", "xml"], "invalid choice"),
])
def test_bad_options_exit_2_with_a_message(args, message):
    result = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", "0", *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and message in result.stderr


def test_help_lists_every_option():
    out = subprocess.run(["mockserver", "serve", "--help"], capture_output=True, text=True, check=True).stdout
    for flag in ("--host", "--port", "--seed", "--fixtures", "--api-key", "--strict", "--log-format", "--journal-size", "MOCKSERVER_",
                 "--scenario", "--record", "--rate-limit", "--latency", "--concurrency-limit", "--webhook-retry-delay",
                 "--webhook-retry-factor", "--webhook-max-attempts", "--webhook-timeout", "--webhook-log-size", "--webhook-shutdown-grace"):
        assert flag in out


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "mockserver", *args], capture_output=True, text=True, timeout=60, **kw)


def test_lint_good_and_bad_files(tmp_path):
    good = run("lint", "fixtures/default.yaml", "fixtures/scenarios", str(SMALL), cwd=str(SMALL.parent.parent.parent))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "fixtures/scenarios/flaky-network.yaml: ok" in good.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad scenario\norder: sometimes\nsteps:\n  - request: {method: GET, path: users}\n    times: 0\n")
    broken = tmp_path / "broken.json"
    broken.write_text('{"users": [\n  {"id": 1}\n]}\n')
    result = run("lint", str(bad), str(broken))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert f"{bad}:1: name: must be 1-100 letters, digits, '_', '.' or '-' (it is used in URLs) (got 'bad scenario') (rule: pattern)" in lines
    assert f"{bad}:2: order: must be strict or any (got 'sometimes') (rule: enum)" in lines
    assert f"{bad}:4: steps[0].request.path: must start with / ({{name}} matches one path segment) (got 'users') (rule: pattern)" in lines
    assert f"{bad}:5: steps[0].times: 0 is less than the minimum of 1 (rule: minimum)" in lines
    assert f"{broken}:2: users[0].id: 1 is not of type 'string' (rule: type)" in lines


def test_record_then_replay_then_verify(tmp_path):
    recorded = tmp_path / "session.yaml"
    proc, base = start("--port", "0", "--fixtures", str(SMALL), "--record", str(recorded))
    call(f"{base}/users", "POST", {"id": "rec-user", "attributes": {"plan": "pro"}})
    call(f"{base}/users/rec-user")
    stop(proc)
    assert run("lint", str(recorded)).returncode == 0
    assert [s["request"]["path"] for s in yaml.safe_load(recorded.read_text())["steps"]] == ["/users", "/users/rec-user"]

    proc, base = start("--port", "0", "--fixtures", str(SMALL), "--scenario", str(recorded))
    try:
        call(f"{base}/users", "POST", {"id": "rec-user", "attributes": {"plan": "pro"}})
        unmet = run("verify", "--url", base)
        assert unmet.returncode == 1
        assert "Scenario 'recorded' is not met:" in unmet.stdout and "step 2 (GET /users/rec-user): expected 1 more time" in unmet.stdout
        call(f"{base}/users/rec-user")
        met = run("verify", "--url", base, "--scenario", "recorded")
        assert met.returncode == 0 and "every expectation was met" in met.stdout
    finally:
        stop(proc)


def test_verify_unknown_scenario_and_unreachable_server():
    proc, base = start("--port", "0", "--fixtures", str(SMALL))
    try:
        result = run("verify", "--url", base, "--scenario", "nope")
        assert result.returncode == 1 and "No scenario named 'nope'" in result.stdout
    finally:
        stop(proc)
    result = run("verify", "--url", base)
    assert result.returncode == 2 and "cannot ask" in result.stderr


def test_a_bad_scenario_file_stops_start_up(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("name: s\nsteps:\n  - request: {path: /users}\n    response: {status: 700}\n")
    result = run("serve", "--port", "0", "--scenario", str(bad))
    assert result.returncode == 2 and f"{bad}:4: steps[0].response.status: 700 is greater than the maximum of 599" in result.stderr


def test_bad_rate_limit_option():
    result = run("serve", "--port", "0", "--rate-limit", "lots")
    assert result.returncode == 2 and "expected N/SECONDS" in result.stderr


def test_state_survives_a_restart_and_a_kill(tmp_path):
    state = tmp_path / "state.bin"
    proc, base = start("--port", "0", "--fixtures", str(SMALL), "--state", str(state))
    call(f"{base}/users", "POST", {"id": "kept", "attributes": {"n": 1}})
    call(f"{base}/users/alice", "DELETE", key="ak_other")
    stop(proc)
    assert state.exists() and not (tmp_path / "state.bin.tmp").exists()
    proc, base = start("--port", "0", "--fixtures", str(SMALL), "--state", str(state), "--state-interval", "0.1")
    try:
        assert call(f"{base}/users/kept")[1]["attributes"] == {"n": 1}
        assert call(f"{base}/users/alice", key="ak_other")[0] == 404 and call(f"{base}/users/alice")[0] == 200
        call(f"{base}/users", "POST", {"id": "periodic"})
        before = state.stat().st_mtime_ns
        deadline = time.monotonic() + 10
        while state.stat().st_mtime_ns == before and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        proc.kill()  # no shutdown: only the periodic save has happened
        proc.wait()
    proc, base = start("--port", "0", "--fixtures", str(SMALL), "--state", str(state))
    try:
        assert call(f"{base}/users/periodic")[0] == 200
    finally:
        stop(proc)


@pytest.mark.parametrize("content, message", [
    (b"hello", "not a mockserver state file"),
    (b"mockserver-state\n\x80\x05garbage", "the state file is damaged and cannot be read"),
])
def test_a_bad_state_file_stops_start_up(tmp_path, content, message):
    state = tmp_path / "state.bin"
    state.write_bytes(content)
    result = run("serve", "--port", "0", "--state", str(state))
    assert result.returncode == 2 and f"mockserver: error: {state}: {message}" in result.stderr
    assert state.read_bytes() == content  # never overwritten
