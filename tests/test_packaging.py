"""The README's commands and examples match the real command line (tests/test_install.py runs the Dockerfile)."""
import re
import shlex
import socket
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import yaml

from mockserver.cli import build_parser
from mockserver.errors import CODES
from mockserver.settings import Settings, flag_name, settings_from

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
EXAMPLE = ROOT / "tests" / "examples" / "test_plugin_example.py"
SIGNUP = ROOT / "tests" / "examples" / "signup.yaml"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def serve_options() -> set[str]:
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]
    return {opt for action in serve._actions for opt in action.option_strings if opt.startswith("--") and opt != "--help"
            and not opt.startswith("--no-")}


def test_options_table_lists_every_serve_option_and_its_variable():
    rows = re.findall(r"^\| `(--[a-z-]+)(?:[^|]|\\\|)*\| `(MOCKSERVER_[A-Z_]+)`", README, re.M)
    assert {flag for flag, _ in rows} == serve_options()
    assert "| `--strict`, `--no-strict` |" in README and "| `--quiet`, `--no-quiet` |" in README
    names = {f.name for f in fields(Settings)}
    for flag, variable in rows:
        before = settings_from({}, environ={})
        value = {"--api-key": "ak_x", "--log-format": "json", "--rate-limit": "5/1", "--scenario": "a.yaml",
                 "--webhook-schedule": "documented", "--loop": "asyncio", "--upstream": "userflow=http://127.0.0.1:9"}.get(flag, "7")
        if flag in ("--strict", "--quiet"):
            value = "true"
        after = settings_from({}, environ={variable: value})
        assert after != before, f"{variable} changes nothing"
        assert flag in {flag_name(name) for name in names}


def test_every_mockserver_command_in_the_readme_parses():
    commands = []
    for block in blocks("sh") + blocks("yaml"):
        for line in block.splitlines():
            line = line.split(" #")[0].replace('"$MOCKSERVER_URL"', "http://mockserver:8080")
            commands += re.findall(r"mockserver (?:serve|verify|lint|openapi|drift)\b[^&|;>\n]*", line)
    assert len(commands) >= 8
    parser = build_parser()
    for command in commands:
        words = [w for w in shlex.split(command)[1:] if not w.startswith(">")]
        parser.parse_args(words)  # SystemExit (a failed test) on any unknown flag


def test_container_examples_use_real_options():
    gitlab = yaml.safe_load(next(b for b in blocks("yaml") if "services:\n    - name:" in b))
    args = build_parser().parse_args(["serve", *gitlab["test"]["services"][0]["command"]])
    assert (args.seed, args.strict) == (7, True)
    github = yaml.safe_load(next(b for b in blocks("yaml") if "runs-on" in b))
    variables = github["jobs"]["test"]["services"]["mockserver"]["env"]
    settings = settings_from({}, environ=variables)
    assert (settings.seed, settings.strict) == (7, True)


def test_every_ci_recipe_loads_a_scenario_before_it_verifies():
    """`mockserver verify` with nothing loaded checks nothing (and exits 1): each recipe gives it something to check."""
    recipes = [b for b in blocks("yaml") + blocks("sh") if "mockserver verify" in b]
    assert len(recipes) >= 3
    for recipe in recipes:
        before = recipe[:recipe.rindex("mockserver verify")]
        assert "/__mock/scenarios" in before or "--scenario " in before, recipe


def test_the_error_code_list_is_complete():
    [paragraph] = re.findall(r"\*\*Errors\*\*: (.*?)\n\n", README, re.S)
    for code in {*CODES.values(), "invalid_api_version"}:
        assert f"`{code}`" in paragraph, code


def test_the_plain_shell_example_runs(tmp_path):
    [block] = [b for b in blocks("sh") if "until curl" in b]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = block.replace("8080", str(port)).replace("tests/scenarios/signup.yaml", str(SIGNUP)).replace(
        "pytest\n", f"{shlex.quote(sys.executable)} -m pytest -q -p no:cacheprovider {shlex.quote(str(EXAMPLE))}\n")
    script = script.replace("mockserver ", f"{shlex.quote(sys.executable)} -m mockserver ")
    result = subprocess.run(["bash", "-e", "-c", "set -m\n" + script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # the example test made the call the sidecar's scenario expects, and the final verify checked it
    assert "1 passed" in result.stdout and "Scenario 'signup': every expectation was met (1 steps)." in result.stdout
