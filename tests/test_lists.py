"""One list mechanism for every resource: limit, starting_after, has_more, url, next_page_url, order_by."""
import pytest

from mockserver.lists import Collection, Order, Page


async def walk(api, path, **params):
    """Every page through next_page_url; returns the ids in order and the pages."""
    ids, pages, url = [], [], None
    while True:
        page = await api.ok("GET", url or path, params=None if url else params)
        pages.append(page)
        ids += [o["id"] for o in page["data"]]
        if not page["has_more"]:
            return ids, pages
        url = page["next_page_url"]


async def test_default_limit_is_10_and_has_more(seeded):
    page = await seeded.ok("GET", "/users")
    assert len(page["data"]) == 10 and page["has_more"] is True
    assert page["url"] == "/users"
    assert page["next_page_url"] == f"/users?starting_after={page['data'][-1]['id']}"


async def test_paging_visits_every_user_once_in_created_at_order(seeded):
    ids, pages = await walk(seeded, "/users", limit="37")
    assert len(ids) == len(set(ids)) == 200
    assert [len(p["data"]) for p in pages] == [37] * 5 + [15]
    users = [u for p in pages for u in p["data"]]
    assert [u["created_at"] for u in users] == sorted(u["created_at"] for u in users)


async def test_last_page_still_has_a_next_page_url(api):
    page = await api.ok("GET", "/users", params={"limit": "100"})
    assert page["has_more"] is False
    assert page["next_page_url"] == "/users?limit=100&starting_after=dave"
    empty = await api.ok("GET", page["next_page_url"])
    assert empty["data"] == [] and empty["has_more"] is False
    assert empty["next_page_url"] == "/users?limit=100&starting_after=dave"


async def test_has_more_is_exact_at_the_boundary(api):
    page = await api.ok("GET", "/users", params={"limit": "4"})
    assert len(page["data"]) == 4 and page["has_more"] is False
    page = await api.ok("GET", "/users", params={"limit": "3"})
    assert page["has_more"] is True


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", ""])
async def test_limit_out_of_range_is_400(api, limit):
    reply = await api.get("/users", params={"limit": limit})
    assert reply.status == 400 and reply.body["error"]["message"].startswith("limit: must be a whole number between 1 and 100")


async def test_limit_bounds_are_inclusive(seeded):
    assert len((await seeded.ok("GET", "/users", params={"limit": "1"}))["data"]) == 1
    assert len((await seeded.ok("GET", "/users", params={"limit": "100"}))["data"]) == 100


async def test_unknown_cursor_is_400(api):
    reply = await api.get("/users", params={"starting_after": "ghost"})
    assert reply.status == 400 and "starting_after" in reply.body["error"]["message"]


async def test_url_and_next_page_url_keep_filters_order_and_expand(api):
    """The reference: "It's often easiest to use the list object's `next_page_url` field though" — so following it must
    give a page of the same shape as the first, `expand` included."""
    page = await api.ok("GET", "/users", params=[("group_id", "acme"), ("order_by[]", "-attributes.name"),
                                                    ("expand", "groups"), ("limit", "1"), ("future", "x")])
    assert page["url"] == "/users?group_id=acme&order_by%5B%5D=-attributes.name&expand=groups&limit=1"
    assert page["next_page_url"] == "/users?group_id=acme&order_by%5B%5D=-attributes.name&expand=groups&limit=1&starting_after=bob"
    second = await api.ok("GET", page["next_page_url"])
    assert [u["id"] for u in second["data"]] == ["alice"]
    assert [g["id"] for g in second["data"][0]["groups"]] == ["acme", "globex"] and page["data"][0]["groups"] is not None


async def test_every_page_of_an_expanded_list_has_the_same_shape(seeded):
    page = await seeded.ok("GET", "/users", params={"expand": "memberships.group", "limit": "100"})
    while page["has_more"]:
        page = await seeded.ok("GET", page["next_page_url"])
        assert all(isinstance(u["memberships"], list) for u in page["data"])
        assert all(m["group"]["object"] == "group" for u in page["data"] for m in u["memberships"])


async def test_ordering_by_a_string_attribute_ignores_case(api):
    """Chosen (the reference is silent on collation): names sort as people read them, alice after Bob only by case."""
    for key, name in (("zed", "Zed"), ("bob2", "bob"), ("al", "alice"), ("bob1", "Bob")):
        await api.ok("POST", "/users", json={"id": key, "attributes": {"name": name}}, key="ak_collation")
    page = await api.ok("GET", "/users", params={"order_by": "attributes.name", "limit": "100"}, key="ak_collation")
    names = [u["attributes"]["name"] for u in page["data"] if u["id"] in ("zed", "bob2", "al", "bob1")]
    assert names == ["alice", "Bob", "bob", "Zed"]
    page = await api.ok("GET", "/users", params={"order_by": "-attributes.name", "limit": "100"}, key="ak_collation")
    assert [u["attributes"]["name"] for u in page["data"] if u["id"] in ("zed", "bob2", "al", "bob1")] == ["Zed", "bob", "Bob", "alice"]


@pytest.mark.parametrize("order_by, expected", [
    ("created_at", ["alice", "bob", "carol", "dave"]),
    ("-created_at", ["dave", "carol", "bob", "alice"]),
    ("attributes.name", ["alice", "bob", "carol", "dave"]),
    ("-attributes.name", ["dave", "carol", "bob", "alice"]),
    ("attributes.signed_up_at", ["carol", "alice", "bob", "dave"]),  # dave has none: last ascending
    ("-attributes.signed_up_at", ["dave", "bob", "alice", "carol"]),  # ... and first descending
    ("attributes.last_seen_at", ["carol", "alice", "bob", "dave"]),  # ties broken by id
])
async def test_order_by_each_documented_field(api, order_by, expected):
    page = await api.ok("GET", "/users", params={"order_by": order_by})
    assert [u["id"] for u in page["data"]] == expected


async def test_order_by_several_fields(api):
    await api.ok("POST", "/users", json={"id": "erin", "attributes": {"name": "Bob Brown"}})
    page = await api.ok("GET", "/users", params=[("order_by[]", "attributes.name"), ("order_by[]", "-created_at")])
    assert [u["id"] for u in page["data"]] == ["alice", "erin", "bob", "carol", "dave"]


async def test_ordering_follows_updates(api):
    await api.ok("POST", "/users", json={"id": "dave", "attributes": {"name": "Aaron Dave"}})
    page = await api.ok("GET", "/users", params={"order_by": "attributes.name", "limit": "2"})
    assert [u["id"] for u in page["data"]] == ["dave", "alice"]
    page = await api.ok("GET", "/users", params={"order_by": "attributes.name", "starting_after": "dave"})
    assert [u["id"] for u in page["data"]] == ["alice", "bob", "carol"]


async def test_undocumented_order_field_is_400(api):
    reply = await api.get("/users", params={"order_by": "attributes.plan"})
    assert reply.status == 400
    assert reply.body["error"]["message"].startswith("order_by: cannot order by 'attributes.plan'; use one of created_at,")


async def test_paging_with_a_filter_and_a_cursor(seeded):
    ids, _ = await walk(seeded, "/users", segment_id="seg_pro_users", limit="7")
    everyone, _ = await walk(seeded, "/users", limit="100")
    store_order = [i for i in everyone]
    pro = [u["id"] for u in (await seeded.ok("GET", "/users", params={"segment_id": "seg_pro_users", "limit": "100"}))["data"]]
    assert ids == pro and ids == [i for i in store_order if i in set(pro)]


def test_descending_strings_put_a_longer_string_before_its_prefix():
    col = Collection()
    for i, name in enumerate(["ab", "a", "b", "abc"]):
        col.put({"id": str(i), "attributes": {"name": name}})
    order = Order.parse(["-attributes.name"], ("attributes.name",), "attributes.name")
    found, more = col.page(Page(10, None, order))
    assert [o["attributes"]["name"] for o in found] == ["b", "abc", "ab", "a"] and not more


def test_index_stays_sorted_through_updates_and_removals():
    col = Collection()
    order = Order.parse(["attributes.n"], ("attributes.n",), "attributes.n")
    for i in range(50):
        col.put({"id": f"o{i}", "attributes": {"n": (i * 37) % 50}})
    col.index(order)
    for i in range(0, 50, 3):
        col.put({"id": f"o{i}", "attributes": {"n": -i}})
    for i in range(1, 50, 5):
        col.remove(f"o{i}")
    found, _ = col.page(Page(100, None, order))
    assert [o["attributes"]["n"] for o in found] == sorted(o["attributes"]["n"] for o in col.values())
    assert len(found) == len(col) == 40


def _sealed_collection(n: int) -> Collection:
    col = Collection()
    for i in range(n):
        col.put({"id": f"o{i:05d}", "attributes": {"n": (i * 7919) % 1000, "name": f"N{(i * 31) % 97}"}})
    col.seal()
    return col


async def test_a_new_order_on_a_large_seed_is_built_in_steps_once_and_equals_the_plain_build():
    import asyncio

    seed = _sealed_collection(10_000)
    order = Order.parse(["-attributes.n", "attributes.name"], ("attributes.n", "attributes.name"), "attributes.n")
    first, second = seed.fork(None), seed.fork(None)
    ticks = 0

    async def bystander():  # runs between the steps: the build never holds the loop for all of its work
        nonlocal ticks
        while order not in seed.indexes:
            ticks += 1
            await asyncio.sleep(0)
    await asyncio.gather(first.ready(order), second.ready(order), bystander())
    assert ticks > 5 and not seed.building
    assert seed.indexes[order].keys == sorted(order.key(o) for o in seed.values())
    assert first.index(order).base is second.index(order).base is seed.indexes[order]  # built once, shared
    page, more = first.page(Page(5, "o00003", order))
    everyone = [o["id"] for o in sorted(seed.values(), key=order.key)]
    assert [o["id"] for o in page] == everyone[everyone.index("o00003") + 1:][:5] and more


async def test_a_scan_finds_every_match_in_steps_and_many_candidates_are_found_by_walking_the_index():
    seed = _sealed_collection(9_000)
    env = seed.fork(None)
    env.remove("o00010")
    env.put({"id": "new", "attributes": {"n": 500, "name": "new"}})
    matched = await env.scan(lambda o: o["attributes"]["n"] == 500)
    assert sorted(matched) == sorted(o["id"] for o in env.values() if o["attributes"]["n"] == 500) and "new" in matched
    order = Order.parse(["attributes.n"], ("attributes.n",), "attributes.n")
    await env.ready(order)
    env.put({"id": "o00020", "attributes": {"n": -1, "name": "changed"}})
    assert len(env.index(order)) == len(env) == 9_000  # one removed, one added, one changed
    everyone = [o["id"] for o in sorted(env.values(), key=order.key)]
    for candidates in ({i for i in everyone if int(i[1:] if i != "new" else 0) % 3}, set(everyone[:40]), {"new", "o00010"}):
        for cursor in (None, everyone[100]):
            found, more = env.page(Page(7, cursor, order), candidates)
            after = everyone if cursor is None else everyone[everyone.index(cursor) + 1:]
            expected = [i for i in after if i in candidates]
            assert [o["id"] for o in found] == expected[:7] and more == (len(expected) > 7)


def test_an_index_kept_up_by_writes_in_and_out_of_order_is_what_a_sort_gives():
    """Each write puts its key in place: appended when it sorts last (a new object in created_at order), inserted
    where it belongs otherwise; objects of the seed changed or removed in a fork, and the fork's own, leave no stale key."""
    import random

    rng = random.Random(7)
    seed = _sealed_collection(300)
    orders = [Order.parse([field], ("created_at", "attributes.name"), "created_at")
              for field in ("created_at", "-created_at", "attributes.name")]
    env = seed.fork(None)
    for order in orders:
        env.index(order)
    clock = 0
    for step in range(3000):
        clock += rng.choice((0, 1))  # often the same millisecond: then the id decides
        object_id = f"o{rng.randrange(400):05d}"
        if rng.random() < 0.1:
            env.remove(object_id)
            continue
        created_at = f"2026-01-01T00:{clock // 60000 % 60:02d}:{clock // 1000 % 60:02d}.{clock % 1000:03d}"
        env.put({"id": object_id, "created_at": created_at, "attributes": {"name": rng.choice(["ann", "Bob", "bob", None, 7])}})
    for order in orders:
        assert [o["id"] for o in env.page(Page(1000, None, order))[0]] == [o["id"] for o in sorted(env.values(), key=order.key)]
