"""Condition filtering: every operator, clauses, prefixes, errors and the 10,000-match limit."""
import json

import pytest

from mockserver.conditions import MAX_MATCHES


async def ids(api, condition, path="/users"):
    page = await api.ok("GET", path, params={"condition": json.dumps(condition), "limit": "100"})
    return [o["id"] for o in page["data"]]


def attr(name, operator, **rest):
    return {"type": "attribute", "attribute_name": name, "operator": operator, **rest}


@pytest.mark.parametrize("condition, expected", [
    (attr("plan", "eq", value="pro"), ["alice"]),
    (attr("plan", "ne", value="pro"), ["bob", "carol", "dave"]),
    (attr("name", "contains", value="ar"), ["carol"]),
    (attr("name", "not_contains", value="a"), ["bob"]),
    (attr("name", "starts_with", value="Bo"), ["bob"]),
    (attr("email", "ends_with", value="e@example.com"), ["alice", "dave"]),
    (attr("project_count", "gt", value=12), ["carol"]),
    (attr("project_count", "gte", value=12), ["alice", "carol"]),
    (attr("project_count", "lt", value=3), ["dave"]),
    (attr("project_count", "lte", value=3), ["bob", "dave"]),
    (attr("project_count", "between", value=3, value2=12), ["alice", "bob"]),
    (attr("signed_up_at", "gt", value="2023-01-20T00:00:00Z"), ["alice", "bob"]),
    (attr("last_seen_at", "empty"), ["alice", "bob", "dave"]),
    (attr("last_seen_at", "not_empty"), ["carol"]),
    (attr("email_verified", "true"), ["alice", "carol"]),
    (attr("email_verified", "false"), ["bob"]),
    (attr("tags", "includes_all", values=["beta", "api"]), ["alice"]),
    (attr("tags", "includes_any", values=["api", "sso"]), ["alice", "carol"]),
    (attr("tags", "excludes_all", values=["beta", "sso"]), ["alice", "bob", "carol", "dave"]),
    (attr("tags", "excludes_any", values=["beta", "sso"]), ["bob", "dave"]),
    (attr("tags", "excludes_any", value="sso"), ["alice", "bob", "dave"]),
    ({"type": "clause", "operator": "and", "conditions": [attr("plan", "ne", value="free"), attr("project_count", "gte", value=10)]},
     ["alice", "carol"]),
    ({"type": "clause", "operator": "or", "conditions": [attr("plan", "eq", value="free"), attr("tags", "includes_any", values=["sso"])]},
     ["bob", "carol"]),
    ({"type": "clause", "operator": "and", "conditions": [
        {"type": "clause", "operator": "or", "conditions": [attr("plan", "eq", value="pro"), attr("plan", "eq", value="free")]},
        attr("email_verified", "true")]}, ["alice"]),
])
async def test_user_operators(api, condition, expected):
    assert await ids(api, condition) == expected


async def test_group_and_membership_prefixes_on_users(api):
    assert await ids(api, attr("group/plan", "eq", value="enterprise")) == ["alice", "carol"]
    assert await ids(api, attr("group_membership/role", "eq", value="owner")) == ["alice"]
    assert await ids(api, attr("group/plan", "empty")) == ["dave"]


async def test_conditions_on_groups_are_about_groups(api):
    """The reference: "`condition` - Only include groups that match the given condition." A plain name there is the
    group's own attribute (acme's plan is pro; bob, a member of acme, is on free: no match by member)."""
    assert await ids(api, attr("plan", "eq", value="pro"), "/groups") == ["acme"]
    assert await ids(api, attr("plan", "eq", value="free"), "/groups") == ["initech"]
    assert await ids(api, attr("group/plan", "eq", value="pro"), "/groups") == ["acme"]
    assert await ids(api, attr("group_membership/role", "eq", value="admin"), "/groups") == ["globex"]
    assert await ids(api, attr("employee_count", "gt", value="100"), "/groups") == ["globex"]


@pytest.mark.parametrize("condition, expected", [
    (attr("project_count", "eq", value="12"), ["alice"]),
    (attr("project_count", "gt", value="12"), ["carol"]),
    (attr("project_count", "between", value="3", value2=12.0), ["alice", "bob"]),
    (attr("email_verified", "eq", value="true"), ["alice", "carol"]),
    (attr("signed_up_at", "lt", value=1674777600), ["carol"]),  # 2023-01-27 as Unix seconds
    (attr("signed_up_at", "lt", value=1674777600000), ["carol"]),  # and as milliseconds
    (attr("name", "eq", value="ALICE ADAMS"), ["alice"]),
    (attr("plan", "eq", value="Pro"), ["alice"]),  # the reference's own example asks for "Pro"
    (attr("name", "starts_with", value="DAVE"), ["dave"]),
    (attr("name", "contains", value="CLARK"), ["carol"]),
    (attr("tags", "includes_any", values=["BETA"]), ["alice"]),
])
async def test_values_compare_in_the_attributes_data_type_and_strings_without_case(api, condition, expected):
    """A value is compared as the attribute's data type ("10" with a number attribute is 10); strings compare without
    regard to case, so the reference's `"value": "Pro"` example finds users on "pro"."""
    assert await ids(api, condition) == expected


async def test_a_value_that_cannot_be_the_attributes_type_is_400(api):
    reply = await api.get("/users", params={"condition": json.dumps({"type": "clause", "operator": "and", "conditions": [
        attr("plan", "eq", value="pro"), attr("project_count", "gt", value="lots")]})})
    assert reply.status == 400
    assert reply.body["error"]["message"] == "condition.conditions[1].value: 'lots' cannot be compared with project_count, a number attribute"


@pytest.mark.parametrize("raw, message", [
    ("{not json", "condition: not valid JSON"),
    ("NaN", "condition: not valid JSON"),
    (json.dumps(attr("plan", "like", value="x")), "condition.operator: is not a known operator"),
    (json.dumps(attr("plan", "eq")), "condition.value: is required"),
    (json.dumps(attr("n", "between", value=1)), "condition.value2: is required"),
    (json.dumps({"type": "clause", "operator": "xor", "conditions": []}), "condition.operator: must be and or or"),
    (json.dumps({"type": "clause", "operator": "and", "conditions": [attr("a", "bogus")]}), "condition.conditions[0].operator"),
    (json.dumps(attr("bad.name", "empty")), "condition.attribute_name"),
])
async def test_bad_conditions_are_400(api, raw, message):
    reply = await api.get("/users", params={"condition": raw})
    assert reply.status == 400 and message in reply.body["error"]["message"], reply.body


async def test_more_than_10000_matches_is_rejected(make_api, tmp_path):
    fixture = tmp_path / "big.yaml"
    fixture.write_text(f"generate: {{users: {MAX_MATCHES + 1}, groups: 0, events: 0}}\n")
    api = await make_api(fixtures=fixture)
    reply = await api.get("/users", params={"condition": json.dumps(attr("email", "not_empty"))})
    assert reply.status == 400 and "10,000" in reply.body["error"]["message"]
    narrowed = await api.ok("GET", "/users", params={"condition": json.dumps(attr("plan", "eq", value="pro"))})
    assert len(narrowed["data"]) == 10

    async def matches(condition):
        params = {"limit": "100", "condition": json.dumps(condition)}
        return [user["id"] for user in (await api.ok("GET", "/users", params=params))["data"]]
    # over this many users a clause is ordered on a sample of them: it still answers as its conditions do, in any order
    pro, has_email, nobody = attr("plan", "eq", value="pro"), attr("email", "not_empty"), attr("plan", "eq", value="none")
    expected = await matches(pro)
    assert len(expected) == 100
    for operator, other in (("and", has_email), ("or", nobody)):
        for pair in ([pro, other], [other, pro]):
            assert await matches({"type": "clause", "operator": operator, "conditions": pair}) == expected


def test_a_sample_orders_each_clause_by_what_settles_it_and_never_changes_an_answer():
    from mockserver import conditions

    objects = [{"attributes": {"plan": ("pro", "free", "starter", "team")[i % 4], "seats": i % 100, "beta": i % 2 == 0}}
               for i in range(400)]
    often, rarely = attr("seats", "gte", value=5), attr("plan", "eq", value="pro")  # 95 % and 25 % of them pass
    either = {"type": "clause", "operator": "or", "conditions": [attr("seats", "eq", value=3), attr("beta", "true")]}
    condition = {"type": "clause", "operator": "and", "conditions": [often, either, rarely]}
    ordered = conditions._decisive_first(condition, lambda name: name, objects)
    # and: what fails most often first; or: what passes most often first
    assert ordered["conditions"] == [rarely, {**either, "conditions": either["conditions"][::-1]}, often]
    plain = conditions.compile(condition, lambda name: name)
    sampled = conditions.compile(condition, lambda name: name, sample=objects[:64])
    assert [sampled(o) for o in objects] == [plain(o) for o in objects] and sum(map(plain, objects)) == 92


def _reference(c: dict, value) -> bool:
    """The condition semantics written out plainly, one value at a time (what the compiled conditions must equal)."""
    from mockserver.attributes import MISSING, parse_datetime

    def comparable(a, b):
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
            return a, b
        left, right = parse_datetime(a), parse_datetime(b)
        return (left, right) if left and right else None

    def folded(v):
        return v.casefold() if isinstance(v, str) else v

    op = c["operator"]
    empty = value is MISSING or value is None or value == "" or value == []
    if op in ("empty", "not_empty"):
        return empty == (op == "empty")
    if op in ("true", "false"):
        return value is (op == "true")
    if value is MISSING:
        return op in ("ne", "not_contains", "excludes_all", "excludes_any")
    if op in ("includes_all", "includes_any", "excludes_all", "excludes_any"):
        wanted = c.get("values", c.get("value"))
        wanted = [folded(wanted)] if isinstance(wanted, str) else [folded(str(w)) for w in wanted]
        have = [folded(v) for v in value] if isinstance(value, list) else [folded(value)]
        result = all(w in have for w in wanted) if op.endswith("_all") else any(w in have for w in wanted)
        return result if op.startswith("includes") else not result
    target = c["value"]
    if op in ("eq", "ne"):
        pair = comparable(value, target)
        if pair:
            equal = pair[0] == pair[1]
        elif isinstance(value, list):
            equal = folded(target) in [folded(v) for v in value]
        else:
            equal = folded(value) == folded(target) and type(value) is type(target)
        return equal if op == "eq" else not equal
    if op in ("contains", "not_contains", "starts_with", "ends_with"):
        if not isinstance(value, str) or not isinstance(target, str):
            return op == "not_contains"
        v, t = value.casefold(), target.casefold()
        return {"starts_with": v.startswith(t), "ends_with": v.endswith(t), "contains": t in v, "not_contains": t not in v}[op]
    if op == "between":
        low, high = comparable(value, target), comparable(value, c["value2"])
        return bool(low and high) and low[1] <= low[0] <= high[1]
    pair = comparable(value, target)
    return bool(pair) and {"gt": pair[0] > pair[1], "gte": pair[0] >= pair[1], "lt": pair[0] < pair[1], "lte": pair[0] <= pair[1]}[op]


def test_compiled_conditions_answer_as_the_plain_rules_do():
    """Every operator against values of every kind, with the datetime shortcut both on (a datetime attribute) and off."""
    import itertools

    from mockserver import conditions
    from mockserver.attributes import MISSING

    stamps = ["2023-01-20T00:00:00.000+00:00", "2023-01-20T00:00:00.001+00:00", "0999-12-31T23:59:59.999+00:00",
              "2023-01-20T01:00:00+01:00", "2023-01-20", "2023-01-20T00:00:00Z"]
    values = [MISSING, None, "", [], True, False, 0, 12, 12.5, -3, "pro", "PRO", "Pro plan", "12", ["beta", "API"], ["pro"],
              *stamps]
    targets = [12, 3.5, "pro", "12", True, *stamps]
    operators = ["eq", "ne", "gt", "gte", "lt", "lte", "contains", "not_contains", "starts_with", "ends_with", "empty",
                 "not_empty", "true", "false"]
    cases = [attr("x", op, value=t) for op, t in itertools.product(operators, targets)]
    cases += [attr("x", "between", value=a, value2=b) for a, b in itertools.product(targets, targets)]
    cases += [attr("x", op, values=w) for op in ("includes_all", "includes_any", "excludes_all", "excludes_any")
              for w in (["beta", "api"], ["pro"], "pro", [12])]
    checked = 0
    for case in cases:
        for stored_as in (None, "string", "number", "datetime"):
            prepared = {**case, conditions.STORED: stored_as}
            for value in values:
                if stored_as == "datetime" and isinstance(value, str) and value not in stamps[:3]:
                    continue  # a datetime attribute only ever stores the canonical form
                obj = {"attributes": {} if value is MISSING else {"x": value}}
                own = conditions.compile(prepared, lambda name: name)  # the object's own attribute
                related = conditions.compile(prepared, lambda name: lambda o: [o["attributes"].get(name, MISSING)])
                assert own(obj) == related(obj) == _reference(case, value), (case, stored_as, value)
                checked += 1
    assert checked > 10_000


async def test_a_condition_on_an_integer_beyond_64_bits_is_answered(api):
    huge = 10 ** 30
    assert await ids(api, attr("project_count", "lt", value=huge)) == ["alice", "bob", "carol", "dave"]
    assert await ids(api, attr("project_count", "gt", value=huge)) == []


async def test_conditions_equal_only_as_python_values_are_told_apart(api):
    """1, 1.0 and true are equal in Python, not in a condition: each is its own, however recently another was asked."""
    await api.ok("POST", "/users", json={"id": "one", "attributes": {"code": "1"}})
    await api.ok("POST", "/users", json={"id": "yes", "attributes": {"code": "true"}})
    for value, expected in ((1, ["one"]), (True, ["yes"]), (1.0, ["one"]), (True, ["yes"])):
        assert await ids(api, attr("code", "eq", value=value)) == expected, value


async def test_a_repeated_condition_sees_every_write_made_since(api):
    """Paging through a condition's matches scans once; any write in the environment since (a new user, a changed
    attribute, a deleted user, a membership, a group's attribute) is seen by the next request with that condition."""
    pro = attr("plan", "eq", value="pro")
    by_group = attr("group/plan", "eq", value="pro")
    assert await ids(api, pro) == ["alice"]
    assert await ids(api, pro) == ["alice"]
    await api.ok("POST", "/users", json={"id": "erin", "attributes": {"plan": "pro"}})
    assert await ids(api, pro) == ["alice", "erin"]
    await api.ok("POST", "/users", json={"id": "bob", "attributes": {"plan": "Pro"}})
    assert await ids(api, pro) == ["alice", "bob", "erin"]
    await api.ok("DELETE", "/users/alice")
    assert await ids(api, pro) == ["bob", "erin"]
    assert await ids(api, by_group) == ["bob"]  # acme's plan is pro, and bob is its member
    await api.ok("POST", "/users", json={"id": "dave", "groups": [{"id": "acme"}]})
    assert await ids(api, by_group) == ["bob", "dave"]
    await api.ok("POST", "/groups", json={"id": "acme", "attributes": {"plan": "free"}})
    assert await ids(api, by_group) == []
    page = await api.ok("GET", "/users", params={"condition": json.dumps(attr("plan", "ne", value="x")), "limit": "2"})
    following = await api.ok("GET", page["next_page_url"])
    assert [o["id"] for o in page["data"] + following["data"]] == ["bob", "carol", "dave", "erin"]
