"""The built-in data set: size, realism, schema validity, and byte-identical determinism."""
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from mockserver.documents import DocumentError
from mockserver.fixtures import load
from mockserver.schemas import Schemas
from mockserver.userflow import seed
from mockserver.userflow.store import RELATIONS

from conftest import assert_valid

DUMP = """
import json, sys
from mockserver.fixtures import load
from mockserver.schemas import Schemas
from mockserver.userflow import seed
s = seed.build(int(sys.argv[1]), load(None, Schemas()))
state = {"users": list(s.users.values()), "groups": list(s.groups.values()), "memberships": list(s.memberships.values()),
         "events": list(s.events.values()), "attribute_definitions": list(s.definitions.attributes.values()),
         "event_definitions": list(s.definitions.events.values()), "segments": list(s.segments.values())}
sys.stdout.write(json.dumps(state, sort_keys=False))
"""


def dump(seed_value: int, hash_seed: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "TZ": "Pacific/Auckland" if hash_seed == "1" else "UTC"}
    return subprocess.run([sys.executable, "-c", DUMP, str(seed_value)], capture_output=True, check=True, env=env).stdout


def test_same_seed_gives_byte_identical_data_across_processes():
    first, second = dump(0, "1"), dump(0, "2")
    assert first == second and len(first) > 100_000


def test_another_seed_gives_other_data():
    assert dump(0, "1") != dump(7, "1")


@pytest.fixture(scope="module")
def store():
    return seed.build(0, load(None, Schemas()))


def test_default_data_set_size(store):
    assert len(store.users) >= 200 and len(store.groups) >= 30 and len(store.events) >= 1000
    names = Counter(e["name"] for e in store.events.values())
    assert len(names) >= 15 and min(names.values()) > 20
    roles = Counter(m["attributes"]["role"] for m in store.memberships.values())
    assert set(roles) == {"owner", "admin", "member", "viewer"}
    assert len(store.segments) >= 4
    assert len(store.content) >= 12 and len(store.sessions) >= 300


def test_users_have_realistic_attributes(store):
    for user in store.users.values():
        attrs = user["attributes"]
        assert {"name", "email", "signed_up_at", "plan", "project_count", "email_verified"} <= set(attrs)
        assert attrs["email"].endswith("@example.com") and " " in attrs["name"]
        assert attrs["signed_up_at"] <= user["created_at"] < "2024-01-01"
    emails = [u["attributes"]["email"] for u in store.users.values()]
    assert len(set(emails)) == len(emails)


def test_seeded_timestamps_never_come_from_the_clock(store):
    stamps = [u["created_at"] for u in store.users.values()] + [e["created_at"] for e in store.events.values()]
    stamps += [d["created_at"] for d in store.definitions.attributes.values()]
    assert max(stamps) <= "2024-01-01T00:00:00.000+00:00"


def test_every_seeded_object_validates_and_every_relation_expands(store):
    """Walk every object of every kind, expanding each relation, against its schema (questions, tasks and answers
    are checked inside their versions and sessions)."""
    by_kind = {"user": store.users.values(), "group": store.groups.values(), "group_membership": store.memberships.values(),
               "event": store.events.values(), "attribute_definition": store.definitions.attributes.values(),
               "event_definition": store.definitions.events.values(), "content": store.content.values(),
               "content_version": store.versions.values(), "content_session": store.sessions.values()}
    for kind, objects in by_kind.items():
        tree = {field: {} for field in RELATIONS.get(kind, {})}
        for obj in objects:
            assert_valid(f"userflow/{kind}.json", store.render(kind, obj, tree))


def test_segments_in_the_default_data_match_users(store):
    matched = {sid: sum(map(store._predicate(s["condition"], "user"), store.users.values()))
               for sid, s in store.segments.items() if s["scope"] == "user"}
    assert all(0 < n < len(store.users) for n in matched.values()), matched


def test_fixture_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("users:\n  - attributes: {a: 1}\n")
    with pytest.raises(DocumentError, match=r"bad.yaml:2: users\[0\].id: is required"):
        load(bad, Schemas())
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(DocumentError, match="broken.json:1: not valid JSON"):
        load(broken, Schemas())


def test_fixture_folder_merges_files_in_name_order(tmp_path):
    (tmp_path / "a.yaml").write_text("generate: {users: 5}\nusers: [{id: one}]\n")
    (tmp_path / "b.json").write_text(json.dumps({"generate": {"users": 3, "groups": 1}, "users": [{"id": "two"}]}))
    merged = load(tmp_path, Schemas())
    assert merged["generate"] == {"users": 3, "groups": 1}
    built = seed.build(0, merged)
    assert len(built.users) == 5 and {"one", "two"} <= set(built.users.items)


async def test_seeded_environment_over_http(seeded):
    page = await seeded.ok("GET", "/users", params={"limit": "100", "expand": "memberships.group"})
    assert len(page["data"]) == 100
    assert (await seeded.ok("GET", "/groups", params={"limit": "100"}))["has_more"] is False


def test_a_dropped_environment_needs_no_cyclic_collection(store):
    """Stores hold no reference cycles: a reset environment is freed at once (the collector skips frozen seed data)."""
    import gc
    import pickle
    copy = pickle.loads(pickle.dumps(store))
    gc.collect()
    del copy
    assert gc.collect() == 0
