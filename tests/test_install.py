"""What users install, tried as they would: the wheel and sdist `pip install .` builds, installed into a fresh
virtualenv outside the work tree, and the container image, reproduced step by step from the Dockerfile (no Docker
engine here): only what it COPYs, its non-editable install, its user, its ENTRYPOINT, CMD and ENV, and its
HEALTHCHECK command, in a network namespace of its own so it binds its real port."""
from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import site
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parent.parent
# where each top-level folder lands inside the wheel
IN_WHEEL = {"mockserver": "mockserver", "schemas": "mockserver/schema_files", "fixtures": "mockserver/fixture_files"}
CLIENT = '''
import json, sys, urllib.error, urllib.request
method, url, key = sys.argv[1:4]
body = sys.argv[4].encode() if len(sys.argv) > 4 else None
request = urllib.request.Request(url, data=body, method=method,
                                 headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
try:
    with urllib.request.urlopen(request, timeout=10) as resp:
        print(json.dumps([resp.status, json.loads(resp.read() or b"null")]))
except urllib.error.HTTPError as err:
    print(json.dumps([err.code, json.loads(err.read() or b"null")]))
'''


def project_files() -> list[str]:
    """Every file of the project as a clean clone has it (tracked, or new and not ignored)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    return [name for name in listed if (ROOT / name).is_file()]


def fresh_venv(where: Path) -> Path:
    """A virtualenv with nothing of this project in it; the dependencies already installed here are reachable as plain
    paths (their .pth files, this work tree's editable install among them, are not run). Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    [site_dir] = (where / "lib").glob("python3*/site-packages")
    (site_dir / "_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return where / "bin" / "python"


def clean_environ(**extra) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("MOCKSERVER_", "PYTHON"))}, **extra}


def wait_ready(proc: subprocess.Popen) -> str:
    line = proc.stdout.readline()
    assert line.startswith("mockserver listening on http://"), (line, proc.stderr.read() if proc.poll() is not None else "")
    return line.split()[-1]


def test_the_wheel_and_the_sdist_hold_every_file_and_the_installed_server_answers(tmp_path):
    source = tmp_path / "clone"
    for name in project_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    # the sdist first, then the wheel built from it: what a user's `pip install .` or `pip install mockserver-*.tar.gz` gets
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True)
    [wheel], [sdist] = (tmp_path / "dist").glob("*.whl"), (tmp_path / "dist").glob("*.tar.gz")
    shipped = [name for name in project_files() if name.split("/")[0] in IN_WHEEL and "/__pycache__/" not in name]
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    assert [n for n in shipped if IN_WHEEL[n.split("/")[0]] + n[n.index("/"):] not in in_wheel] == []
    in_sdist = {name.split("/", 1)[1] for name in tarfile.open(sdist).getnames() if "/" in name}
    assert [n for n in shipped + ["setup.py", "pyproject.toml", "README.md"] if n not in in_sdist] == []

    python = fresh_venv(tmp_path / "venv")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True, cwd=tmp_path,
                   env=clean_environ())
    where = subprocess.run([str(python), "-c", "import mockserver.frigade, mockserver.schema_files as s; print(s.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path, env=clean_environ()).stdout
    assert where.startswith(str(tmp_path / "venv")), where  # the installed copy, not the work tree
    proc = subprocess.Popen([str(tmp_path / "venv" / "bin" / "mockserver"), "serve", "--port", "0"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_environ())
    try:
        url = wait_ready(proc)
        call = [str(python), "-c", CLIENT]
        users = json.loads(subprocess.run([*call, "GET", f"{url}/users?limit=1", "ak_wheel"], capture_output=True, text=True).stdout)
        assert users[0] == 200 and users[1]["object"] == "list" and len(users[1]["data"]) == 1
        flows = json.loads(subprocess.run([*call, "GET", f"{url}/v1/public/flows", "api_public_wheel"], capture_output=True,
                                          text=True).stdout)
        assert flows[0] == 200 and len(flows[1]["data"]) == 10
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, proc.stderr.read()


# -- the container, reproduced from its Dockerfile ---------------------------------------------------------------------

def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def ignored(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(name, p.removeprefix("**/")) or
               any(fnmatch.fnmatch(part, p.removeprefix("**/")) for part in name.split("/")) for p in patterns)


class Image:
    """The image's file system under a temporary root: /app with what COPY copied, /data, a python with the package
    installed non-editably, and the environment, user and commands the Dockerfile declares."""

    def __init__(self, root: Path):
        self.root, self.env, self.user, self.workdir = root, {}, "root", "/"
        self.entrypoint, self.cmd, self.healthcheck, self.uids = [], [], [], {}
        ignore = [p for p in (ROOT / ".dockerignore").read_text().split() if p]
        context = [n for n in project_files() if not ignored(n, ignore)]
        for instruction, args in dockerfile():
            if instruction == "WORKDIR":
                self.workdir = os.path.join(self.workdir, args)
                self.path(self.workdir).mkdir(parents=True, exist_ok=True)
            elif instruction == "COPY":
                *sources, target = shlex.split(args)
                for src in sources:
                    for name in context:
                        if name == src or name.startswith(src.rstrip("/") + "/"):
                            dest = self.path(os.path.join(self.workdir, target)) / (Path(name).name if name == src else name[len(src.rstrip("/")) + 1:])
                            dest.parent.mkdir(parents=True, exist_ok=True)
                            shutil.copy2(ROOT / name, dest)
            elif instruction == "RUN":
                for command in args.split("&&"):
                    self.run(shlex.split(command))
            elif instruction == "USER":
                self.user = args
            elif instruction == "ENV":
                self.env.update(dict(pair.split("=", 1) for pair in shlex.split(args)))
            elif instruction == "ENTRYPOINT":
                self.entrypoint = json.loads(args)
            elif instruction == "CMD":
                self.cmd = json.loads(args)
            elif instruction == "HEALTHCHECK":
                self.healthcheck = json.loads(args.split(" CMD ", 1)[1])

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")

    def run(self, words: list[str]) -> None:
        """The RUN commands this image uses, done to the temporary root."""
        if words[:2] == ["pip", "install"]:
            assert "-e" not in words and "--editable" not in words
            python = fresh_venv(self.root / "usr")
            target = [self.path(os.path.join(self.workdir, w)) if w == "." else w for w in words[2:]]
            subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--no-build-isolation", "-q",
                            *map(str, target)], check=True, cwd=self.path(self.workdir), env=clean_environ(), capture_output=True)
        elif words[0] == "useradd":
            self.uids[words[-1]] = int(words[words.index("--uid") + 1])
        elif words[0] == "mkdir":
            self.path(words[-1]).mkdir(parents=True)
        elif words[0] == "chown":
            os.chown(self.path(words[-1]), self.uids[words[1]], self.uids[words[1]])
        else:
            raise AssertionError(f"the test does not know how to reproduce RUN {' '.join(words)}")

    def inside(self, words: list[str]) -> list[str]:
        """A command as the container runs it: image paths under the root, its PATH first."""
        return [str(self.root / "usr" / "bin" / words[0]) if words[0] in ("mockserver", "python") else words[0],
                *[str(self.path(w)) if w.startswith(("/data", "/app")) else w for w in words[1:]]]


@pytest.fixture
def image():
    root = Path(tempfile.mkdtemp(prefix="mockserver-image-"))
    root.chmod(0o755)  # the container's user reads it, as it reads / in the image
    try:
        yield Image(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def sandbox():
    """A network namespace (so the image binds its own 0.0.0.0:8080) and the image's non-root user. That user may read
    every file (CAP_DAC_READ_SEARCH: this machine's Python lives under /root, where an image's would not) but writes
    only where its own permissions allow, as in the container."""
    if os.geteuid() != 0:
        pytest.skip("reproducing the image's user and network namespace needs root (CI runs as root)")
    name = f"mockserver-test-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
    try:
        yield lambda user_id: ["ip", "netns", "exec", name, "setpriv", f"--reuid={user_id}", f"--regid={user_id}", "--clear-groups",
                               "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_the_container_runs_as_docker_would_run_it(image, sandbox):
    assert image.user != "root" and image.workdir == "/data"
    as_user = sandbox(image.uids[image.user])
    environ = clean_environ(**image.env, MOCKSERVER_SEED="7", MOCKSERVER_STATE="/data/state.bin", MOCKSERVER_RECORD="/data/recorded.yaml")
    environ = {k: str(image.path(v)) if v.startswith(("/data", "/app")) else v for k, v in environ.items()}
    health = as_user + image.inside(image.healthcheck)
    assert subprocess.run(health, env=environ, capture_output=True).returncode != 0  # nothing listens yet
    proc = subprocess.Popen(as_user + image.inside(image.entrypoint + image.cmd), env=environ, cwd=image.path(image.workdir),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = wait_ready(proc)
        assert url == f"http://0.0.0.0:{image.env['MOCKSERVER_PORT']}"
        result = subprocess.run(health, env=environ, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        client = as_user + image.inside(["python", "-c", CLIENT])
        local = f"http://127.0.0.1:{image.env['MOCKSERVER_PORT']}"
        created = json.loads(subprocess.run([*client, "POST", f"{local}/users", "ak_container", '{"id": "in-a-container"}'],
                                            env=environ, capture_output=True, text=True).stdout)
        assert created[0] == 200 and created[1]["id"] == "in-a-container"
        flows = json.loads(subprocess.run([*client, "GET", f"{local}/v1/public/flows?limit=1", "api_public_container"], env=environ,
                                          capture_output=True, text=True).stdout)
        assert flows[0] == 200 and len(flows[1]["data"]) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, proc.stderr.read()
    data = image.path("/data")
    assert (data / "state.bin").stat().st_uid == image.uids[image.user]
    steps = yaml.safe_load((data / "recorded.yaml").read_text())["steps"]
    assert [(s["request"]["method"], s["request"]["path"]) for s in steps] == [("POST", "/users"), ("GET", "/v1/public/flows")]
    # the image's own files are not the user's to write: a recording there is refused before the server starts
    refused = subprocess.run(as_user + image.inside(image.entrypoint + image.cmd + ["--record", "/app/recorded.yaml"]),
                             env={**environ, "MOCKSERVER_RECORD": ""}, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert f"--record {image.path('/app/recorded.yaml')}: cannot write there (Permission denied)" in refused.stderr
