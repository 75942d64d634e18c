"""Attribute operations, data types and naming rules, through POST /users (the same code serves groups, memberships, events)."""
import json

import pytest


async def attrs(api, changes, user="alice"):
    return (await api.ok("POST", "/users", json={"id": user, "attributes": changes}))["attributes"]


@pytest.mark.parametrize("changes, expected", [
    ({"phone": {"set": 12345678, "data_type": "string"}}, "12345678"),
    ({"phone": {"set": "42"}}, "42"),
    ({"flag": {"set": "true", "data_type": "boolean"}}, True),
    ({"score": {"set": "3.5", "data_type": "number"}}, 3.5),
    ({"seen": {"set": "2023-05-01T12:00:00+02:00"}}, "2023-05-01T10:00:00.000+00:00"),
    ({"seen": {"set": 0, "data_type": "datetime"}}, "1970-01-01T00:00:00.000+00:00"),
    ({"foods": {"set": "apple", "data_type": "list"}}, ["apple"]),
])
async def test_set_with_and_without_data_type(api, changes, expected):
    name = next(iter(changes))
    assert (await attrs(api, changes))[name] == expected


async def test_set_once_only_sets_a_missing_attribute(api):
    assert (await attrs(api, {"coupon_code": {"set_once": "xyz123"}}))["coupon_code"] == "xyz123"
    assert (await attrs(api, {"coupon_code": {"set_once": "other"}}))["coupon_code"] == "xyz123"
    assert (await attrs(api, {"plan": {"set_once": "free"}}))["plan"] == "pro"


async def test_add_and_subtract(api):
    assert (await attrs(api, {"project_count": {"add": 1}}))["project_count"] == 13
    assert (await attrs(api, {"project_count": {"subtract": 5}}))["project_count"] == 8
    assert (await attrs(api, {"project_count": {"add": -8}}))["project_count"] == 0
    assert (await attrs(api, {"total_revenue": {"add": 1234.56}}))["total_revenue"] == 1234.56
    assert (await attrs(api, {"days_left": {"subtract": 1}}))["days_left"] == -1


async def test_add_on_a_string_attribute_is_rejected(api):
    reply = await api.post("/users", json={"id": "alice", "attributes": {"name": {"add": 1}}})
    assert reply.status == 400
    assert reply.body["error"]["message"] == "attributes.name: add only works on number attributes; this one is string"


async def test_append_prepend_remove(api):
    assert (await attrs(api, {"foods": {"append": "apple"}}))["foods"] == ["apple"]
    assert (await attrs(api, {"foods": {"append": ["banana", "apple", "cherry"]}}))["foods"] == ["apple", "banana", "cherry"]
    assert (await attrs(api, {"foods": {"prepend": ["kiwi", "banana"]}}))["foods"] == ["kiwi", "apple", "banana", "cherry"]
    assert (await attrs(api, {"foods": {"remove": ["apple", "cherry"]}}))["foods"] == ["kiwi", "banana"]
    assert (await attrs(api, {"empty_list": {"remove": "x"}}))["empty_list"] == []


async def test_exactly_one_operation_per_object(api):
    for bad in ({"set": 1, "add": 2}, {"data_type": "string"}, {}):
        reply = await api.post("/users", json={"id": "alice", "attributes": {"x": bad}})
        assert reply.status == 400
        assert ("attributes.x: exactly one of set, set_once, add, subtract, append, prepend or remove must be set "
                f"(got {json.dumps(bad)}) (rule: oneOf)" in reply.body["error"]["message"])


async def test_unknown_operation_key_is_named(api):
    reply = await api.post("/users", json={"id": "alice", "attributes": {"x": {"sett": 1}}})
    assert reply.status == 400 and "'sett' was unexpected" in reply.body["error"]["message"]


@pytest.mark.parametrize("name", ["bad.name", "emoji🙂", "slash/x", ""])
async def test_attribute_naming_rules(api, name):
    reply = await api.post("/users", json={"id": "alice", "attributes": {name: 1}})
    assert reply.status == 400
    assert "attributes: " in reply.body["error"]["message"]
    assert "rule: pattern" in reply.body["error"]["message"] or "rule: minLength" in reply.body["error"]["message"]


async def test_names_with_dashes_and_spaces_are_allowed(api):
    assert (await attrs(api, {"Favourite colour-2": "red"}))["Favourite colour-2"] == "red"


async def test_values_are_coerced_to_the_attributes_data_type(api):
    assert (await attrs(api, {"project_count": "17"}))["project_count"] == 17
    reply = await api.post("/users", json={"id": "alice", "attributes": {"project_count": "lots"}})
    assert reply.status == 400 and "attributes.project_count: 'lots' cannot be stored as data type number" in reply.body["error"]["message"]


async def test_conflicting_explicit_data_type_is_rejected(api):
    reply = await api.post("/users", json={"id": "alice", "attributes": {"project_count": {"set": "3", "data_type": "string"}}})
    assert reply.status == 400
    assert "data_type string conflicts with the attribute's data type number" in reply.body["error"]["message"]


async def test_literal_types(api):
    reply = await api.post("/users", json={"id": "alice", "attributes": {"x": [1, 2]}})
    assert reply.status == 400 and "attributes.x: must be a string, number, boolean, null or a list of strings" in reply.body["error"]["message"]


@pytest.mark.parametrize("value, expected", [
    (1664454896, "2022-09-29T12:34:56.000+00:00"),  # Unix seconds
    (1664454896000, "2022-09-29T12:34:56.000+00:00"),  # JavaScript's Date.now(): milliseconds
    (1664454896123, "2022-09-29T12:34:56.123+00:00"),
    (99_999_999_999, "5138-11-16T09:46:39.000+00:00"),  # the largest number read as seconds
    (-62135596800, "0001-01-01T00:00:00.000+00:00"),
])
async def test_a_number_for_a_datetime_is_unix_seconds_or_milliseconds(api, value, expected):
    """The reference: datetime "Represents a point in time, always stored as ISO 8601 in UTC"; a number is read as
    Unix seconds, and as milliseconds where seconds would be absurd (from 100,000,000,000: past year 5138)."""
    assert (await attrs(api, {"signed_up_at": value}))["signed_up_at"] == expected  # alice's is a datetime attribute
    assert (await attrs(api, {"seen": {"set": value, "data_type": "datetime"}}, user="new"))["seen"] == expected


@pytest.mark.parametrize("value", [1e20, -1e15, 2 ** 70, -62135596801])
async def test_a_number_that_is_no_time_is_400_naming_the_field(api, value):
    for changes, field in (({"signed_up_at": value}, "attributes.signed_up_at"),
                           ({"seen": {"set": value, "data_type": "datetime"}}, "attributes.seen")):
        reply = await api.post("/users", json={"id": "alice", "attributes": changes})
        assert reply.status == 400, reply.body
        assert reply.body["error"]["message"].startswith(f"{field}: ") and "is not a time" in reply.body["error"]["message"]
    assert (await api.ok("GET", "/users/alice"))["attributes"]["signed_up_at"] == "2023-01-31T10:00:00.000+00:00"


async def test_messages_show_values_as_json(api):
    """A client sent JSON: a message quotes null, true and lists as JSON, never as Python's None or True."""
    reply = await api.post("/users", json={"id": "alice", "attributes": {"project_count": {"set": True, "data_type": "number"}}})
    assert reply.body["error"]["message"] == "attributes.project_count: true cannot be stored as data type number"
    reply = await api.post("/users", json={"id": "x", "groups": [None]})
    assert reply.body["error"]["message"] == "Invalid request body: groups[0]: null is not of type 'object' (rule: type)"
    reply = await api.post("/users", json={"id": "x", "attributes": {"tags": [1, None]}})
    assert "None" not in reply.body["error"]["message"] and "[1, null]" in reply.body["error"]["message"]


def test_the_clock_is_written_in_milliseconds_turning_over_each_second(monkeypatch):
    """created_at and every other time of now: the text up to the second is formatted once a second and reused."""
    from mockserver import attributes
    for nanoseconds, text in [(1_700_000_000_999_999_999, "2023-11-14T22:13:20.999+00:00"),
                              (1_700_000_001_000_000_000, "2023-11-14T22:13:21.000+00:00"),
                              (1_700_000_001_007_900_000, "2023-11-14T22:13:21.007+00:00"),
                              (1_600_000_000_000_000_000, "2020-09-13T12:26:40.000+00:00")]:
        monkeypatch.setattr(attributes.time, "time_ns", lambda: nanoseconds)
        assert attributes.utc_now() == text


async def test_data_type_may_come_before_the_operation(api):
    assert (await attrs(api, {"score": {"data_type": "number", "set": "7"}}))["score"] == 7
    assert (await attrs(api, {"flavours": {"data_type": "list", "append": "a"}}))["flavours"] == ["a"]
    reply = await api.post("/users", json={"id": "alice", "attributes": {"score": {"data_type": "string", "add": 1}}})
    assert reply.status == 400
    assert reply.body["error"]["message"] == "attributes.score: data_type string conflicts with the attribute's data type number"
