"""The request validator: the fast first check agrees with jsonschema, which words every problem."""
import pytest

from mockserver.errors import InvalidRequest
from mockserver.schemas import Schemas

SCHEMAS = Schemas()
STRICT = Schemas(strict=True)

SAMPLES = {
    "userflow/create_user.json": [
        {"id": "u"}, {"id": ""}, {"id": 5}, {}, [], "x", None, {"id": "u", "attributes": {"a b-c_1": 1}},
        {"id": "u", "attributes": {"bad.name": 1}}, {"id": "u", "attributes": {"x": {"set": 1, "add": 2}}},
        {"id": "u", "attributes": {"x": {"append": ["a", 1]}}}, {"id": "u", "attributes": {"x": {"set": [1]}}},
        {"id": "u", "attributes": {"x": {"data_type": "list", "set": "a"}}}, {"id": "u", "attributes": {"x": {"data_type": "money", "set": 1}}},
        {"id": "u", "groups": [{"id": "g"}], "memberships": [{"group": {"id": "g"}}]}, {"id": "u", "groups": [{"name": "no id"}]},
        {"id": "u", "memberships": [{"attributes": {"role": "admin"}, "group": {"id": "g", "attributes": {"plan": None}}}]},
        {"id": "u", "prune_memberships": "yes"}, {"id": "u", "extra": {"deep": [1, 2]}}, {"id": "u\n"}, {"id": "u", "attributes": {"x": 2 ** 70}},
        {"id": "u", "attributes": {"x": 1.5e308}}, {"id": "u", "attributes": {"émoji🙂": 1}},
    ],
    "userflow/track_event.json": [
        {"name": "x", "user_id": "u"}, {"name": "x"}, {"name": "x", "user_id": None, "group_id": "g"}, {"name": "x", "user_id": None},
        {"name": "a.b", "user_id": "u"}, {"name": "x", "user_id": "u", "time": "2024-01-01T00:00:00Z"},
        {"name": "x", "user_id": "u", "time": "2024-01-01"}, {"name": "x", "user_id": "u", "time": "yesterday"},
        {"name": "x", "user_id": "u", "time": "2024-02-30T00:00:00Z"}, {"name": "x", "user_id": "u", "time": "2024-01-01T00:00:00"},
        {"name": "x", "user_id": "u", "time": 5},
    ],
    "userflow/create_webhook_subscription.json": [
        {"url": "https://e.com/h", "topics": ["user"]}, {"url": "ftp://e.com", "topics": ["*"]}, {"url": "https://e.com", "topics": []},
        {"url": "https://e.com", "topics": ["event.tracked.a b"]}, {"url": "https://e.com", "topics": ["event.tracked."]},
        {"url": "https://e.com", "topics": ["user"], "api_version": "2020-01-03"}, {"url": "http://", "topics": ["user"]},
    ],
    "userflow/condition.json": [
        {"type": "attribute", "attribute_name": "a", "operator": "eq", "value": 1},
        {"type": "attribute", "attribute_name": "group/a", "operator": "between", "value": 1},
        {"type": "clause", "operator": "and", "conditions": [{"type": "attribute", "attribute_name": "a", "operator": "empty"}]},
        {"type": "clause", "operator": "xor", "conditions": []}, {"type": "other"},
        {"type": "attribute", "attribute_name": "a", "operator": "includes_any", "value": "x"},
        {"type": "attribute", "attribute_name": "a", "operator": "includes_any"},
    ],
    "frigade/flow_state_request.json": [
        {"userId": "u"}, {"userId": "u", "flowSlug": "f"}, {"userId": "u", "flowSlug": "f", "actionType": "STARTED_FLOW", "data": {"a": 1}},
        {"userId": "u", "flowSlug": "f", "actionType": "DONE"}, {"userId": "u", "createdAt": "2024-01-01T00:00:00.000Z"},
        {"userId": "u", "createdAt": "soon"}, {"userId": "", "data": 5},
    ],
    "frigade/update_flow.json": [{"name": "n"}, {"name": ""}, {"type": "TOUR"}, {"type": "tour"}, {"data": {"steps": []}}, {"active": 1}],
}


@pytest.mark.parametrize("schemas", [SCHEMAS, STRICT], ids=["lenient", "strict"])
@pytest.mark.parametrize("name", SAMPLES)
def test_fast_check_agrees_with_jsonschema(schemas, name):
    for body in SAMPLES[name]:
        python_valid = not schemas._describe_all(schemas._request_validators[name], body, "")
        fast_valid = schemas._fast_accepts(name, body)
        assert not (fast_valid and not python_valid), f"fast check accepts what jsonschema rejects: {body!r}"
        try:
            schemas.validate(name, body)
            accepted = True
        except InvalidRequest:
            accepted = False
        assert accepted == python_valid, body


def test_strict_only_adds_the_unknown_field_rule():
    STRICT.validate("userflow/create_user.json", {"id": "u", "attributes": {"anything": 1}})
    with pytest.raises(InvalidRequest, match=r"'extra' was unexpected"):
        STRICT.validate("userflow/create_user.json", {"id": "u", "extra": 1})
    SCHEMAS.validate("userflow/create_user.json", {"id": "u", "extra": 1})
