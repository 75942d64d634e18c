"""--state files: atomic saves, faithful loads, and clear refusals."""
import pickle

import pytest

from mockserver import files, state
from mockserver.environments import Environments
from mockserver.fixtures import load
from mockserver.schemas import Schemas

from conftest import SMALL


@pytest.fixture(scope="module")
def environments():
    schemas = Schemas()
    return lambda: Environments(0, load(SMALL, schemas), schemas)


def test_save_and_load_round_trip(tmp_path, environments):
    envs = environments()
    envs.get("ak_one").userflow.upsert_user({"id": "saved", "attributes": {"x": 1}})
    envs.get("frig").frigade.upsert_user("fu", {"plan": "pro"})
    path = tmp_path / "s.state"
    state.save(path, envs.all())
    restored = environments()
    restored.restore(state.load(path))
    assert restored.keys() == ["ak_one", "frig"]
    assert restored.get("ak_one").userflow.get_user("saved")["attributes"] == {"x": 1}
    assert restored.get("frig").frigade.users["fu"]["properties"] == {"plan": "pro"}
    assert not (tmp_path / "s.state.tmp").exists()


def test_missing_file_is_a_fresh_start(tmp_path):
    assert state.load(tmp_path / "nothing.state") is None


def test_incompatible_format_names_the_file(tmp_path):
    path = tmp_path / "old.state"
    path.write_bytes(state.MAGIC + pickle.dumps({"format": 0, "version": "0.0.1", "environments": {}}))
    with pytest.raises(state.StateError, match=rf"{path}: state format 0 was written by mockserver 0.0.1; this mockserver .* reads format 1"):
        state.load(path)


def test_foreign_objects_are_refused(tmp_path):
    path = tmp_path / "odd.state"
    path.write_bytes(state.MAGIC + pickle.dumps({"format": state.FORMAT, "environments": {"ak_x": ("not", "stores")}}))
    with pytest.raises(state.StateError, match="does not hold mockserver environments"):
        state.load(path)


def test_a_failed_save_leaves_the_old_file(tmp_path, environments, monkeypatch):
    path = tmp_path / "s.state"
    state.save(path, environments().all())
    before = path.read_bytes()
    monkeypatch.setattr(files.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(files.FileProblem, match="disk full"):
        state.save(path, {"ak_new": environments().get("ak_new")})
    assert path.read_bytes() == before
