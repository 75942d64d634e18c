"""The real CLI as a subprocess, talking HTTP."""
import json
import os
import re
import shutil
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
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"]) for line in lines)  # ISO 8601
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
    assert result.returncode == 2 and f"mockserver verify: cannot reach {base}: " in result.stderr


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


# -- a newcomer's mistakes get a message, never a traceback -------------------------------------------------------------

def test_mockserver_alone_lists_the_commands():
    result = run()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for command in ("serve", "openapi", "verify", "lint", "drift"):
        assert re.search(rf"^\s+{command}\s+\S", result.stderr, re.M), command


def test_a_mistyped_flag_is_told_with_the_commands_own_usage():
    result = run("serve", "--prot", "3")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: mockserver serve ")
    assert result.stderr.strip().endswith("mockserver serve: error: unrecognized arguments: --prot 3")


@pytest.mark.parametrize("args, env, message", [
    (["--port", "70000"], {}, "--port: must be at most 65535, got 70000"),
    (["--port", "eighty"], {}, "argument --port: invalid int value: 'eighty'"),
    (["--state-interval", "0"], {}, "--state-interval: must be above 0, got 0.0"),
    (["--webhook-max-attempts", "0"], {}, "--webhook-max-attempts: must be at least 1, got 0"),
    (["--webhook-timeout", "nan"], {}, "--webhook-timeout: expected a finite number, got nan"),
    (["--journal-size", "-1"], {}, "--journal-size: must be at least 1, got -1"),
    ([], {"MOCKSERVER_PORT": "eighty"}, "MOCKSERVER_PORT: expected a whole number, got 'eighty'"),
    ([], {"MOCKSERVER_WEBHOOK_MAX_ATTEMPTS": "0"}, "MOCKSERVER_WEBHOOK_MAX_ATTEMPTS: must be at least 1, got 0"),
    ([], {"MOCKSERVER_STRICT": "maybe"}, "MOCKSERVER_STRICT: expected true or false, got 'maybe'"),
    ([], {"MOCKSERVER_LOG_FORMAT": "xml"}, "MOCKSERVER_LOG_FORMAT: expected one of text, json, got 'xml'"),
    ([], {"MOCKSERVER_LATENCY": "-5"}, "MOCKSERVER_LATENCY: must be at least 0, got -5"),
])
def test_bad_values_name_their_flag_or_variable(args, env, message):
    result = run("serve", *args, env={**os.environ, **env})
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_no_flag_beats_the_environment():
    proc, base = start("--port", "0", "--fixtures", str(SMALL), "--no-strict", "--no-quiet",
                       env={"MOCKSERVER_STRICT": "true", "MOCKSERVER_QUIET": "true"})
    try:
        assert call(f"{base}/users/alice?colour=red")[0] == 200  # strict would refuse the unknown parameter
    finally:
        stop(proc)
    assert "mockserver.access: GET /users/alice" in proc.stderr.read()  # quiet would log nothing


@pytest.mark.parametrize("option", ["--state", "--record"])
def test_a_file_that_cannot_be_written_is_refused_at_start(tmp_path, option):
    (tmp_path / "a-file").write_text("")
    for path, reason in ((tmp_path / "missing" / "x", "No such file or directory"), (tmp_path / "a-file" / "x", "Not a directory"),
                         (tmp_path, "is a folder, not a file")):
        result = run("serve", "--port", "0", option, str(path))
        assert result.returncode == 2 and f"mockserver: error: {option} {path}: " in result.stderr and reason in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # the probe left nothing behind


def test_a_failed_write_at_shutdown_is_reported_as_what_it_is(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    recording = folder / "session.yaml"
    proc, base = start("--port", "0", "--fixtures", str(SMALL), "--record", str(recording))
    call(f"{base}/users/alice")
    shutil.rmtree(folder)  # the folder goes away while the server runs
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 1
    errors = proc.stderr.read()
    assert f"mockserver: error: cannot write {recording}: No such file or directory" in errors and "cannot listen" not in errors


def test_a_recording_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    from mockserver import files, recording
    path = tmp_path / "recorded.yaml"
    recording.write(path, {"name": "first", "steps": []})
    monkeypatch.setattr(files.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(files.FileProblem, match="No space left on device"):
        recording.write(path, {"name": "second", "steps": [{"request": {"path": "/users"}}]})
    assert yaml.safe_load(path.read_text())["name"] == "first" and sorted(p.name for p in tmp_path.iterdir()) == ["recorded.yaml"]


def test_the_recording_expects_only_calls_that_reached_an_environment(tmp_path):
    recording = tmp_path / "session.yaml"
    proc, base = start("--port", "0", "--fixtures", str(SMALL), "--record", str(recording))
    call(f"{base}/users/alice", key="not-a-key")  # 401: no environment
    try:
        urllib.request.urlopen(f"{base}/favicon.ico", timeout=10)  # what a browser asks for beside the inspector
    except urllib.error.HTTPError as err:
        assert err.code == 401
    call(f"{base}/users/bob")
    stop(proc)
    steps = yaml.safe_load(recording.read_text())["steps"]
    assert [s["request"]["path"] for s in steps] == ["/users/bob"]


def test_verify_finds_its_server_in_mockserver_url_and_says_what_is_wrong(tmp_path):
    proc, base = start("--port", "0", "--fixtures", str(SMALL), "--admin-token", "tok")
    try:
        environ = {**os.environ, "MOCKSERVER_URL": base}
        environ.pop("MOCKSERVER_ADMIN_TOKEN", None)
        missing = run("verify", env=environ)
        assert missing.returncode == 2
        assert f"mockserver verify: {base} runs with --admin-token: pass --admin-token TOKEN or set MOCKSERVER_ADMIN_TOKEN" in missing.stderr
        wrong = run("verify", "--admin-token", "nope", env=environ)
        assert wrong.returncode == 2 and "refused the admin token given" in wrong.stderr
        empty = run("verify", env={**environ, "MOCKSERVER_ADMIN_TOKEN": "tok"})
        assert empty.returncode == 1 and f"no scenarios are loaded on {base}: nothing was verified" in empty.stdout
    finally:
        stop(proc)
    other = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"], cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        port = re.search(r"port (\d+)", other.stdout.readline()).group(1)
        result = run("verify", "--url", f"http://127.0.0.1:{port}")
        assert result.returncode == 2
        assert f"http://127.0.0.1:{port} is not a mockserver: GET /__mock/scenarios answered 404 (text/html)" in result.stderr
    finally:
        other.terminate()
        other.wait(10)
    nowhere = run("verify", env={k: v for k, v in os.environ.items() if k != "MOCKSERVER_URL"})
    assert nowhere.returncode == 2 and "Pass --url URL or set MOCKSERVER_URL" in nowhere.stderr


def test_fixtures_that_reuse_a_flow_slug_are_caught_by_lint_and_serve(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    flow = "    - {{slug: {slug}, name: N, type: CARD, data: {{steps: [{{id: s1}}]}}}}\n"
    (folder / "a.yaml").write_text("frigade:\n  flows:\n" + flow.format(slug="flow_one") + flow.format(slug="flow_two"))
    (folder / "b.yaml").write_text("frigade:\n  flows:\n" + flow.format(slug="flow_two"))
    linted = run("lint", str(folder))
    assert linted.returncode == 1
    assert (f"{folder / 'b.yaml'}:3: frigade.flows[0].slug: 'flow_two' is already used by the flow at {folder / 'a.yaml'}:4 "
            f"(rule: unique)") in linted.stdout
    served = run("serve", "--port", "0", "--fixtures", str(folder))
    assert served.returncode == 2 and f"{folder / 'b.yaml'}:3: frigade.flows[0].slug: 'flow_two' is already used" in served.stderr
    (folder / "b.yaml").write_text("frigade:\n  generate: {flows: 10}\n  flows:\n"
                                   "    - {id: 10000, slug: flow_new, name: N, type: CARD, data: {steps: [{id: s1}]}}\n")
    clash = run("serve", "--port", "0", "--fixtures", str(folder))  # the id of a generated flow
    assert clash.returncode == 2 and f"mockserver: error: {folder}: id 10000 is already used by another flow" in clash.stderr


def test_fixtures_given_a_scenario_say_so():
    result = run("serve", "--port", "0", "--fixtures", "fixtures/scenarios/flaky-network.yaml", cwd=str(SMALL.parent.parent.parent))
    assert result.returncode == 2
    assert "fixtures/scenarios/flaky-network.yaml: is a scenario (it has steps), not fixtures: load it with --scenario" in result.stderr


@pytest.mark.parametrize("name, text, problem", [
    ("twice.yaml", "users:\n  - id: a\n    id: b\n", "twice.yaml:3: not valid YAML: key 'id' is given twice"),
    ("twice.json", '{"users": [{"id": "a",\n "id": "b"}]}', "twice.json: not valid JSON: key 'id' is given twice"),
    ("quotes.json", "{'users': []}", "quotes.json:1: not valid JSON: Expecting property name enclosed in double quotes (column 2)"),
    ("comma.json", '{"users": [],\n}', "comma.json:2: not valid JSON: Expecting property name enclosed in double quotes (column 1)"),
    ("alias.yaml", "name: a\nsteps: &s []\nother: *s\n", "alias.yaml:2: not valid YAML: anchors and aliases (&name, *name) are not supported"),
])
def test_lint_refuses_keys_given_twice_invalid_json_and_aliases(tmp_path, name, text, problem):
    (tmp_path / name).write_text(text)
    result = run("lint", name, cwd=str(tmp_path))
    assert result.returncode == 1 and problem in result.stdout, result.stdout


def test_a_stderr_nobody_reads_never_holds_the_server_and_no_log_line_is_lost():
    """The access log is written by a thread of its own: with the stderr pipe full (64 KiB, about 600 lines), requests
    are answered as before; once stderr is read, every line is there, in order, the start-up summary first."""
    import http.client
    import threading
    import time
    from urllib.parse import urlsplit

    proc, base = start("--port", "0", "--fixtures", str(SMALL))  # start() never reads stderr
    try:
        address = urlsplit(base)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        slowest = 0.0
        for i in range(3000):
            started = time.perf_counter()
            connection.request("GET", f"/users/u{i}", headers={"Authorization": "Bearer ak_cli"})
            assert connection.getresponse().read() and time.perf_counter() - started < 5
            slowest = max(slowest, time.perf_counter() - started)
        assert slowest < 1.0, f"a request waited {slowest:.2f} s behind the log"
        collected = []
        reader = threading.Thread(target=lambda: collected.append(proc.stderr.read()))
        reader.start()
        stop(proc)
        reader.join(10)
    finally:
        proc.kill()
    lines = collected[0].splitlines()
    requests = [line for line in lines if " INFO mockserver.access: GET /users/u" in line]
    assert [line.split("GET /users/")[1].split()[0] for line in requests] == [f"u{i}" for i in range(3000)]
    assert " INFO mockserver: loaded seed 0; " in lines[0] and "event loop " in lines[0]
    assert lines[-1].endswith("INFO mockserver: shutting down") and "lost" not in collected[0]


def test_log_lines_past_the_pending_bound_are_counted_and_reported_in_the_log_format(monkeypatch):
    import io

    from mockserver import logs

    monkeypatch.setattr(logs, "MAX_PENDING", 3)
    out = io.StringIO()
    writer = logs.Writer(out, logs.JsonFormatter())
    writer._closed = True  # nothing written until close(): the lines pile up as behind a stderr nobody reads
    writer._thread.join()
    for i in range(5):
        writer.put(f"line {i}\n")
    writer.close()
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["line 0", "line 1", "line 2"]
    assert json.loads(lines[3])["message"] == "2 log lines were lost: stderr is not being read fast enough"
    assert json.loads(lines[3])["level"] == "warning" and len(lines) == 4
