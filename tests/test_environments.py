"""Environments as copy-on-write forks of one seed: isolated, small, and freed when reset."""
import gc
import tracemalloc

import pytest

from mockserver.environments import Environments
from mockserver.fixtures import load
from mockserver.schemas import Schemas

SCHEMAS = Schemas()


@pytest.fixture(scope="module")
def environments():
    return Environments(0, load(None, SCHEMAS), SCHEMAS)  # the built-in data: 200 users, 32 groups, 1,200 events


def write(env, n: int) -> None:
    """A few writes of every kind: a new user in a seeded group, a change to a seeded user, an event, a Frigade action."""
    store = env.userflow
    seeded_user, seeded_group = next(iter(store.users.values())), next(iter(store.groups.values()))
    store.upsert_user({"id": f"user-{n}", "attributes": {"n": n}, "groups": [{"id": seeded_group["id"]}]})
    store.upsert_user({"id": seeded_user["id"], "attributes": {"plan": f"plan-{n}"}})
    store.track_event({"user_id": f"user-{n}", "name": "forked"})
    flow = next(f for f in env.frigade.flows.values() if f["active"])
    env.frigade.act({"userId": f"user-{n}", "flowSlug": flow["slug"], "actionType": "STARTED_FLOW"})


def test_a_thousand_forks_are_isolated_small_and_freed(environments):
    seed_users = len(environments.userflow.users)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(1000):
        write(environments.get(f"ak_fork{n}"), n)
    gc.collect()
    per_environment = (tracemalloc.get_traced_memory()[0] - before) / 1000
    for n in (0, 499, 999):  # each sees its own writes and no one else's
        store = environments.get(f"ak_fork{n}").userflow
        assert len(store.users) == seed_users + 1 and f"user-{n}" in store.users and f"user-{n + 1}" not in store.users
        seeded = next(iter(store.users.values()))
        assert seeded["attributes"]["plan"] == f"plan-{n}"
        members = store.group_memberships.get(next(iter(store.groups.values()))["id"])
        assert f"user-{n}" in members and f"user-{(n + 1) % 1000}" not in members
    fresh = environments.get("ak_untouched").userflow  # and the seed is as it was
    assert len(fresh.users) == seed_users and next(iter(fresh.users.values()))["attributes"]["plan"] in ("free", "starter", "pro", "enterprise")
    assert per_environment < 100_000, f"{per_environment:,.0f} bytes per environment"
    environments.reset()
    gc.collect()
    left = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert left < 200_000, f"{left:,} bytes left after the reset"  # what a reset frees is freed at once (no cycles)


def test_a_new_environment_costs_a_few_objects(environments):
    gc.collect()
    tracked = len(gc.get_objects())
    for n in range(100):
        environments.get(f"ak_cheap{n}")
    # the environment, its two stores, their id sources, outboxes and write counter: the containers are forked when touched
    assert len(gc.get_objects()) - tracked <= 13 * 100 + 10
    environments.reset()


def test_a_write_to_the_seed_is_refused(environments):
    """No code path may change what every other environment sees: the seed's objects refuse writes."""
    seeded = next(iter(environments.userflow.users.values()))
    with pytest.raises(TypeError, match="seeded data is read-only"):
        seeded["attributes"]["plan"] = "hacked"
