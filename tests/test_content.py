"""Content, content versions and content sessions on the built-in data set."""
import pytest

from mockserver.keys import ENVIRONMENTS


def store_of(api):
    return api.client.app[ENVIRONMENTS].get(api.key).userflow


async def all_of(api, path, **params):
    return (await api.ok("GET", path, params={"limit": "100", **params}))["data"]


async def test_list_content_and_filter_by_type(seeded):
    content = await all_of(seeded, "/content")
    assert len(content) >= 12 and {c["type"] for c in content} == {"flow", "checklist", "launcher"}
    assert [c["created_at"] for c in content] == sorted(c["created_at"] for c in content)
    for kind in ("flow", "checklist", "launcher"):
        assert [c["id"] for c in await all_of(seeded, "/content", type=kind)] == [c["id"] for c in content if c["type"] == kind]
    reply = await seeded.get("/content", params={"type": "tour"})
    assert reply.status == 400 and reply.body["error"]["message"] == "type: must be one of checklist, flow, launcher, got 'tour'"


async def test_content_order_by_name(seeded):
    names = [c["name"] for c in await all_of(seeded, "/content", order_by="name")]
    assert names == sorted(names)
    assert [c["name"] for c in await all_of(seeded, "/content", order_by="-name")] == names[::-1]


async def test_draft_and_published_versions_are_consistent(seeded):
    unpublished = 0
    for content in await all_of(seeded, "/content", expand=["draft_version", "published_version"]):
        versions = await all_of(seeded, "/content_versions", content_id=content["id"])
        assert [v["number"] for v in versions] == list(range(1, len(versions) + 1)) and 1 <= len(versions) <= 5
        assert content["draft_version"]["id"] == content["draft_version_id"] == versions[-1]["id"]
        if content["published_version_id"] is None:
            unpublished += 1
            assert content["published_version"] is None
        else:
            assert content["published_version"]["number"] in (len(versions), len(versions) - 1)
    assert unpublished >= 1


async def test_get_content_and_404(seeded):
    first = (await all_of(seeded, "/content"))[0]
    assert await seeded.ok("GET", f"/content/{first['id']}") == first
    reply = await seeded.get("/content/nope")
    assert reply.status == 404 and reply.body["error"]["message"] == "No content object with id 'nope'"


async def test_content_versions_need_content_id(seeded):
    reply = await seeded.get("/content_versions")
    assert reply.status == 400 and reply.body["error"]["message"] == "content_id: is required"


async def test_content_versions_number_filter_and_order(seeded):
    counts = {c["id"]: len(await all_of(seeded, "/content_versions", content_id=c["id"])) for c in await all_of(seeded, "/content")}
    multi = {"id": next(cid for cid, n in counts.items() if n >= 3)}
    page = await seeded.ok("GET", "/content_versions", params={"content_id": multi["id"], "number": "2"})
    assert [v["number"] for v in page["data"]] == [2]
    assert page["url"] == f"/content_versions?content_id={multi['id']}&number=2"
    desc = await all_of(seeded, "/content_versions", content_id=multi["id"], order_by="-number")
    assert [v["number"] for v in desc] == sorted((v["number"] for v in desc), reverse=True)
    reply = await seeded.get("/content_versions", params={"content_id": multi["id"], "number": "two"})
    assert reply.status == 400 and reply.body["error"]["message"] == "number: must be a whole number, got 'two'"
    reply = await seeded.get("/content_versions", params={"content_id": multi["id"], "order_by": "created_at"})
    assert reply.status == 400


async def test_questions_keep_cvid_across_versions_and_get_new_ids(seeded):
    seen_types = set()
    for flow in await all_of(seeded, "/content", type="flow"):
        versions = await all_of(seeded, "/content_versions", content_id=flow["id"], expand="questions")
        cvids = [[q["cvid"] for q in v["questions"]] for v in versions]
        ids = [q["id"] for v in versions for q in v["questions"]]
        assert all(c == cvids[0] for c in cvids) and cvids[0]
        assert len(ids) == len(set(ids))
        assert all(v["tasks"] is None for v in versions)
        seen_types |= {q["type"] for q in versions[0]["questions"]}
    assert seen_types == {"multiline_text", "multiple_choice", "nps", "stars", "text"}


async def test_checklists_have_tasks_and_launchers_neither(seeded):
    for content in await all_of(seeded, "/content", expand=["draft_version.tasks", "draft_version.questions"]):
        version = content["draft_version"]
        if content["type"] == "checklist":
            assert len(version["tasks"]) >= 3 and version["questions"] == []
        else:
            assert version["tasks"] == []
            assert (version["questions"] == []) == (content["type"] == "launcher")


async def test_get_content_version_with_expand(seeded):
    flow = (await all_of(seeded, "/content", type="flow"))[0]
    version = await seeded.ok("GET", f"/content_versions/{flow['draft_version_id']}", params={"expand": "questions"})
    assert version["id"] == flow["draft_version_id"] and version["questions"]
    assert (await seeded.get("/content_versions/nope")).status == 404


async def test_sessions_are_consistent(seeded):
    sessions, more = [], True
    while more:  # next_page_url leaves expand out, as the reference describes `url`; send it with each page
        cursor = [("starting_after", sessions[-1]["id"])] if sessions else []
        page = await seeded.ok("GET", "/content_sessions", params=[("limit", "100"), ("expand[]", "answers"),
                                                                   ("expand[]", "version.questions"), ("expand[]", "content"), *cursor])
        sessions, more = sessions + page["data"], page["has_more"]
    assert len(sessions) >= 300
    for s in sessions:
        assert s["completed"] == (s["progress"] == "1") == (s["completed_at"] is not None)
        assert s["version"]["id"] == s["version_id"] == s["content"]["published_version_id"]
        assert s["last_activity_at"] >= s["created_at"]
        assert s["launcher_activated"] is False or s["content"]["type"] == "launcher"
        questions = {q["cvid"]: q for q in s["version"]["questions"]}
        for answer in s["answers"]:
            kind = questions[answer["question_cvid"]]["type"]
            assert answer["question_name"] == questions[answer["question_cvid"]]["name"]
            expected = {"multiple_choice": "list", "nps": "number", "stars": "number"}.get(kind, "text")
            assert answer["answer_type"] == expected
            if kind == "nps":
                assert 0 <= int(answer["answer_value"]) <= 10
    assert any(s["answers"] for s in sessions) and any(s["group_id"] for s in sessions)


async def test_session_filters_and_order(seeded):
    store = store_of(seeded)
    session = next(iter(store.sessions.values()))
    user_id, content_id = session["user_id"], session["content_id"]
    by_user = await all_of(seeded, "/content_sessions", user_id=user_id)
    assert by_user and all(s["user_id"] == user_id for s in by_user)
    both = await all_of(seeded, "/content_sessions", user_id=user_id, content_id=content_id)
    assert both == [s for s in by_user if s["content_id"] == content_id]
    by_content = await all_of(seeded, "/content_sessions", content_id=content_id, order_by="-last_activity_at")
    assert [s["last_activity_at"] for s in by_content] == sorted((s["last_activity_at"] for s in by_content), reverse=True)
    assert len(by_content) == sum(1 for s in store.sessions.values() if s["content_id"] == content_id)


@pytest.mark.parametrize("expand", ["user.memberships.group", "group", "content.published_version.questions", "answers"])
async def test_session_expands(seeded, expand):
    session = next(s for s in store_of(seeded).sessions.values() if s["group_id"])
    got = await seeded.ok("GET", f"/content_sessions/{session['id']}", params={"expand": expand})
    assert got[expand.split(".")[0]] is not None


async def test_deleting_a_user_deletes_their_sessions(seeded):
    user_id = next(iter(store_of(seeded).sessions.values()))["user_id"]
    assert await all_of(seeded, "/content_sessions", user_id=user_id)
    await seeded.ok("DELETE", f"/users/{user_id}")
    assert await all_of(seeded, "/content_sessions", user_id=user_id) == []
