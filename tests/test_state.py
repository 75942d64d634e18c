"""--state files: only what each environment changed, atomic saves, faithful loads, and clear refusals."""
import asyncio
import pickle

import pytest

from mockserver import files, state
from mockserver.environments import Environments
from mockserver.fixtures import load
from mockserver.schemas import Schemas

from conftest import SMALL

SCHEMAS = Schemas()
FIXTURES = load(SMALL, SCHEMAS)
IDENTITY = state.seed_identity(0, FIXTURES)


def state_file(path, seed=0, fixtures=FIXTURES):
    return state.StateFile(path, Environments(seed, fixtures, SCHEMAS), state.seed_identity(seed, fixtures))


def save(file) -> bool:
    return asyncio.run(file.save())


def test_save_and_load_round_trip(tmp_path):
    path = tmp_path / "s.state"
    first = state_file(path)
    envs = first.environments
    envs.get("ak_one").userflow.upsert_user({"id": "saved", "attributes": {"x": 1}})
    envs.get("ak_one").userflow.delete_user("bob")
    envs.get("frig").frigade.upsert_user("fu", {"plan": "pro"})
    envs.get("ak_gone")
    envs.reset("ak_gone")
    envs.get("ak_gone")  # made again after a reset: generation 1
    assert save(first)
    second = state_file(path)
    second.load()
    restored = second.environments
    assert restored.keys() == ["ak_one", "frig", "ak_gone"] and restored.generation == 1
    one = restored.get("ak_one").userflow
    assert one.get_user("saved")["attributes"] == {"x": 1} and "bob" not in one.users and "alice" in one.users
    assert [u["id"] for u in asyncio.run(one.list_users(page(one)))[0]] == ["alice", "carol", "dave", "saved"]  # indexes rebuilt
    assert restored.get("frig").frigade.users["fu"]["properties"] == {"plan": "pro"}
    assert "saved" not in restored.get("ak_new").userflow.users  # a new environment is the seed


def page(store):
    from mockserver.lists import Order, Page
    return Page(100, None, Order.parse([], ("created_at",), "created_at"))


def test_the_file_holds_only_what_changed(tmp_path):
    """A few writes in an environment are a few hundred bytes, not a copy of the seed."""
    file = state_file(tmp_path / "s.state")
    for n in range(20):
        file.environments.get(f"ak_env{n}").userflow.upsert_user({"id": f"u{n}", "attributes": {"n": n}})
    save(file)
    assert (tmp_path / "s.state").stat().st_size < 20 * 3_000


def test_only_changed_environments_are_pickled_again_and_nothing_is_written_when_nothing_changed(tmp_path, monkeypatch):
    file = state_file(tmp_path / "s.state")
    for n in range(3):
        file.environments.get(f"ak_env{n}").userflow.upsert_user({"id": "u"})
    pickled = []
    dumps = file._dumps
    monkeypatch.setattr(file, "_dumps", lambda env: pickled.append(env.key) or dumps(env))
    assert save(file) and sorted(pickled) == ["ak_env0", "ak_env1", "ak_env2"]
    pickled.clear()
    written = (tmp_path / "s.state").stat().st_mtime_ns
    assert not save(file) and pickled == [] and (tmp_path / "s.state").stat().st_mtime_ns == written
    file.environments.get("ak_env1").userflow.upsert_user({"id": "u", "attributes": {"again": True}})
    assert save(file) and pickled == ["ak_env1"]
    file.environments.reset("ak_env2")
    assert save(file) and pickled == ["ak_env1"]  # a reset environment leaves the file; nothing else is pickled


def test_other_seed_or_fixtures_are_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "s.state"
    file = state_file(path)
    file.environments.get("ak_x").userflow.upsert_user({"id": "u"})
    save(file)
    for other in (state_file(path, seed=1), state_file(path, fixtures={**FIXTURES, "users": FIXTURES["users"][:1]})):
        with pytest.raises(state.StateError, match="the state was saved for other data \\(another --seed or --fixtures\\)"):
            other.load()


def test_missing_file_is_a_fresh_start(tmp_path):
    file = state_file(tmp_path / "none.state")
    file.load()
    assert file.environments.keys() == []


def test_incompatible_format_names_the_file(tmp_path):
    path = tmp_path / "old.state"
    path.write_bytes(state.MAGIC + pickle.dumps({"format": 1, "version": "0.0.1", "environments": {}}))
    with pytest.raises(state.StateError, match=f"{path}: state format 1 was written by mockserver 0.0.1"):
        state_file(path).load()


def test_foreign_objects_are_refused(tmp_path):
    path = tmp_path / "odd.state"
    blob = pickle.dumps(("not", "an environment"))
    path.write_bytes(state.MAGIC + pickle.dumps({"format": state.FORMAT, "identity": IDENTITY, "environments": [("ak_x", len(blob))]})
                     + blob)
    with pytest.raises(state.StateError, match="does not hold mockserver environments"):
        state_file(path).load()


def test_a_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "s.state"
    file = state_file(path)
    file.environments.get("ak_one").userflow.upsert_user({"id": "u"})
    save(file)
    before = path.read_bytes()
    file.environments.get("ak_new").userflow.upsert_user({"id": "v"})
    monkeypatch.setattr(files.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(files.FileProblem, match="disk full"):
        save(file)
    assert path.read_bytes() == before
