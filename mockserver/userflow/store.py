"""Userflow state and every rule about it; no HTTP here."""
from __future__ import annotations

import copy
import itertools
import re
import string
import uuid

from mockserver import conditions, expand
from mockserver.attributes import MISSING, Update, format_datetime, parse_datetime, utc_now
from mockserver.errors import InvalidRequest, NotFound
from mockserver.expand import Relation
from mockserver.ids import Ids
from mockserver.layers import Changes, Layer, Seeded
from mockserver.lists import Collection, Page

RELATIONS: expand.Relations = {
    "user": {"groups": Relation("group", True), "memberships": Relation("group_membership", True)},
    "group": {"memberships": Relation("group_membership", True), "users": Relation("user", True)},
    "group_membership": {"group": Relation("group", False), "user": Relation("user", False)},
    "event": {"group": Relation("group", False), "user": Relation("user", False)},
    "content": {"draft_version": Relation("content_version", False), "published_version": Relation("content_version", False)},
    "content_version": {"questions": Relation("question", True), "tasks": Relation("checklist_task", True)},
    "content_session": {"answers": Relation("content_session_answer", True), "content": Relation("content", False),
                        "group": Relation("group", False), "user": Relation("user", False), "version": Relation("content_version", False)},
}
# to-one relations: field -> the store attribute holding its objects; the id is in `<field>_id`
TO_ONE = {"group": "groups", "user": "users", "content": "content", "version": "versions",
          "draft_version": "versions", "published_version": "versions"}
CONTENT_TYPES = ("checklist", "flow", "launcher")
# a condition over more than SAMPLED_FROM users or groups has its clauses ordered on the first SAMPLE of them
SAMPLE, SAMPLED_FROM = 256, 4096


def matches_topic(subscribed: str, topic: str) -> bool:
    """`*` matches everything; a topic matches itself and every topic in its namespace."""
    return subscribed == "*" or topic == subscribed or topic.startswith(subscribed + ".")


def display_name(name: str) -> str:
    return " ".join(word.capitalize() for word in name.replace("-", " ").replace("_", " ").split())


class Source:
    """Where ids and timestamps come from: an id source (ids.py), and a clock that seeding pins.

    Shared by the store and its definitions without either holding the other, so a dropped
    environment is freed at once, without waiting for the cyclic collector.
    """

    __slots__ = ("ids", "fixed_now")

    def __init__(self, seed: int):
        self.ids = Ids(seed)
        self.fixed_now: str | None = None  # set while seeding: seeded data never depends on the wall clock

    def new_id(self) -> str:
        return self.ids.uuid()

    def now(self) -> str:
        return self.fixed_now or utc_now()


class Definitions(Seeded):
    """Attribute and event definitions, created as attributes and events are first used."""

    def __init__(self, source: Source):
        self.source = source
        self.attributes = Collection()
        self.events = Collection()
        self.attribute_ids = Layer()  # (scope, name) -> definition id
        self.event_ids = Layer()  # event name -> definition id
        self.attribute_events = Layer()  # attribute definition id -> event names using it

    def data_type(self, scope: str, name: str) -> str | None:
        definition_id = self.attribute_ids.get((scope, name))
        return self.attributes.get(definition_id)["data_type"] if definition_id else None

    def ensure(self, scope: str, name: str, data_type: str) -> str:
        definition_id = self.attribute_ids.get((scope, name))
        if definition_id is None:
            definition_id = self.source.new_id()
            self.attribute_ids[(scope, name)] = definition_id
            self.attributes.put({
                "id": definition_id, "object": "attribute_definition", "created_at": self.source.now(),
                "data_type": data_type, "description": None, "display_name": display_name(name), "name": name, "scope": scope,
            })
        return definition_id

    def ensure_event(self, name: str, attribute_names) -> None:
        if name not in self.event_ids:
            self.event_ids[name] = self.source.new_id()
            self.events.put({
                "id": self.event_ids[name], "object": "event_definition", "created_at": self.source.now(),
                "description": None, "display_name": display_name(name), "name": name,
            })
        for attribute in attribute_names:
            self.attribute_events.mutable(self.attribute_ids[("event", attribute)], set).add(name)


class UserflowStore(Seeded):
    def __init__(self, seed: int = 0):
        self.source = Source(seed)
        self.users = Collection()
        self.groups = Collection()
        self.memberships = Layer()  # id -> membership
        self.user_memberships = Layer()  # user id -> {group id: membership id}
        self.group_memberships = Layer()  # group id -> {user id: membership id}
        self.events = Layer()  # id -> event
        self.events_by_user = Layer()  # user id -> [event id]
        self.events_by_group = Layer()  # group id -> [event id]
        self.next_event_id = 1
        self.segments = Layer()
        self.definitions = Definitions(self.source)
        self.content = Collection()
        self.versions = Collection()
        self.versions_of = Layer()  # content id -> version ids
        self.version_parts = Layer()  # version id -> its questions or tasks
        self.sessions = Collection()
        self.sessions_by_user = Layer()  # user id -> [session id]
        self.session_answers = Layer()  # session id -> [answer]
        self.subscriptions = Collection()
        self.secrets = Layer()  # subscription id -> secret, shown only at creation
        self.outbox: list[dict] = []  # notifications waiting to be handed to the deliverer
        self.last_scan: tuple | None = None  # (what was scanned for, the environment's write count then, the ids found)

    def fork(self, changes: Changes) -> UserflowStore:
        """An environment: this sealed seed read through layers of its own, whose writes count in `changes`."""
        source = Source(0)  # begin_run gives it its own material
        return super().fork(changes, source=source, definitions=self.definitions.fork(changes, source=source), outbox=[],
                            last_scan=None)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "last_scan": None}  # --state keeps the data, not what a scan found

    # -- identity and time ---------------------------------------------------------------------
    def begin_run(self, material: int) -> None:
        """Ids, secrets and event numbers made from here on come from `material` (derived from the seed, the
        environment's key and its generation), so no two environments, or two lives of one, hand out the same."""
        self.source.ids = Ids(material)
        self.next_event_id = (material % 10**15) * 10**6 + 1

    def new_id(self) -> str:
        return self.source.new_id()

    def now(self) -> str:
        return self.source.now()

    # -- users ---------------------------------------------------------------------------------
    def get_user(self, user_id: str) -> dict:
        return self._get(self.users, "user", user_id)

    def upsert_user(self, body: dict) -> dict:
        """Create or update a user with its embedded groups or memberships, all or nothing."""
        embedded = body.get("memberships")
        if embedded is None and "groups" in body:
            embedded = [{"group": group} for group in body["groups"]]
        if body.get("prune_memberships") and embedded is None:
            raise InvalidRequest("prune_memberships: needs the groups or memberships list it prunes against")
        user = self.users.get(body["id"]) or self._new("user", body["id"], groups=None, memberships=None)
        updates = [(user, Update(user["attributes"], body.get("attributes", {}), "user", self.definitions))]
        for i, item in enumerate(embedded or []):
            key = "memberships" if "memberships" in body else "groups"
            group_body = item["group"]
            field = f"{key}[{i}]" + (".group" if key == "memberships" else "")
            group = self.groups.get(group_body["id"]) or self._new("group", group_body["id"], memberships=None, users=None)
            updates.append((group, Update(group["attributes"], group_body.get("attributes", {}), "group", self.definitions,
                                          f"{field}.attributes")))
            membership = self._membership(user["id"], group["id"])
            updates.append((membership, Update(membership["attributes"], item.get("attributes", {}), "group_membership",
                                               self.definitions, f"{key}[{i}].attributes")))
        # every change is valid: write them all
        user = [self._write(obj, update) for obj, update in updates][0]
        if body.get("prune_memberships"):
            kept = {item["group"]["id"] for item in embedded}
            for group_id in [g for g in self.user_memberships.get(user["id"], {}) if g not in kept]:
                self.delete_membership(user["id"], group_id)
        return user

    def delete_user(self, user_id: str) -> dict:
        """Delete a user with its memberships, events and content sessions ("flow history"); idempotent."""
        for group_id in list(self.user_memberships.get(user_id, {})):
            self.delete_membership(user_id, group_id)
        for session_id in self.sessions_by_user.pop(user_id, []):
            self.sessions.remove(session_id)
            self.session_answers.pop(session_id, None)
        return self._delete(self.users, "user", user_id, self.user_memberships, self.events_by_user)

    async def list_users(self, page: Page, email=None, group_id=None, segment_id=None, condition=None):
        candidates = None if group_id is None else self.group_memberships.get(group_id, {}).keys()
        return await self._filtered_page(self.users, page, candidates, "user", email, segment_id, condition)

    async def _filtered_page(self, collection, page, candidates, scope, email, segment_id, condition):
        """A page of users or groups passing the `email`, `segment_id` and `condition` filters. A condition is
        evaluated once per object: the scan that counts its matches (at most 10,000) also gives the page's candidates."""
        def make_test():
            tests = []
            if email is not None:
                tests.append(lambda obj: obj["attributes"].get("email") == email)
            if segment_id is not None:
                tests.append(self._predicate(self._segment(segment_id, scope)["condition"], scope))
            if condition is not None:
                tests.append(self._predicate(condition, scope))
            return (tests[0] if len(tests) == 1 else lambda obj: all(t(obj) for t in tests)) if tests else None
        if condition is None:
            return collection.page(page, candidates, make_test())
        matched = await self._scan(collection, make_test, (scope, email, segment_id, condition))
        conditions.filter_count_guard(len(matched))
        return collection.page(page, matched if candidates is None else [i for i in matched if i in candidates])

    async def _scan(self, collection, make_test, sought: tuple) -> list:
        """The ids of the objects passing `make_test()`; the last scan's while the environment has written nothing
        since and the same filters are asked for (paging through a condition's matches scans once, not once a page).
        `sought` is (scope, email, segment_id, condition): the condition is the same when it is the same object, as
        conditions.parse() gives for the same text (equal dicts may not be the same condition: 1 == 1.0 == True)."""
        changes = self.__dict__.get("_changes")  # a fork's write count (the seed is never asked)
        last = self.last_scan
        if (changes is not None and last is not None and last[1] == changes.count and last[0][:3] == sought[:3]
                and last[0][3] is sought[3]):
            return last[2]
        count = changes.count if changes is not None else None
        matched = await collection.scan(make_test())
        if changes is not None and changes.count == count:  # nothing was written while the scan ran
            self.last_scan = (sought, count, matched)
        return matched

    def _predicate(self, condition: dict, scope: str):
        """A condition on users or groups as one function of the object (see conditions.compile); over many objects, its
        clauses ordered on a sample of them."""
        collection = self.users if scope == "user" else self.groups
        sample = list(itertools.islice(collection.values(), SAMPLE)) if len(collection) > SAMPLED_FROM else None
        return conditions.compile(conditions.prepare(condition, self._type_of(scope)),
                                  self._user_reader if scope == "user" else self._group_reader, cache=scope, sample=sample)

    def _type_of(self, scope: str):
        """attribute_name in a condition on users or groups -> the data type of the attribute it names."""
        def data_type(name: str) -> str | None:
            prefix, _, rest = name.partition("/")
            if rest and prefix in ("group", "group_membership"):
                return self.definitions.data_type(prefix, rest)
            return self.definitions.data_type(scope, name)
        return data_type

    def _user_reader(self, name: str):
        """How a condition on users reads `name`: a user's own attribute (its key), or (group/..., group_membership/...)
        a function giving those of each of its groups or memberships."""
        prefix, _, key = name.partition("/")
        if key and prefix == "group":
            return lambda user: _each(map(self.groups.get, self.user_memberships.get(user["id"], {})), key)
        if key and prefix == "group_membership":
            return lambda user: _each(map(self.memberships.get, self.user_memberships.get(user["id"], {}).values()), key)
        return name

    # -- groups --------------------------------------------------------------------------------
    def get_group(self, group_id: str) -> dict:
        return self._get(self.groups, "group", group_id)

    def upsert_group(self, body: dict) -> dict:
        group = self.groups.get(body["id"]) or self._new("group", body["id"], memberships=None, users=None)
        return self._write(group, Update(group["attributes"], body.get("attributes", {}), "group", self.definitions))

    def delete_group(self, group_id: str) -> dict:
        """Delete a group with its memberships and events; idempotent. Its users stay."""
        for user_id in list(self.group_memberships.get(group_id, {})):
            self.delete_membership(user_id, group_id)
        return self._delete(self.groups, "group", group_id, self.group_memberships, self.events_by_group)

    async def list_groups(self, page: Page, user_id=None, email=None, segment_id=None, condition=None):
        candidates = None if user_id is None else self.user_memberships.get(user_id, {}).keys()
        return await self._filtered_page(self.groups, page, candidates, "group", email, segment_id, condition)

    def _group_reader(self, name: str):
        """On groups a condition is about the group: a plain name (or group/name) is its own attribute,
        group_membership/name its members' memberships'."""
        if name.startswith("group_membership/"):
            key = name.split("/", 1)[1]
            return lambda group: _each(map(self.memberships.get, self.group_memberships.get(group["id"], {}).values()), key)
        return name.removeprefix("group/")

    def _segment(self, segment_id: str, scope: str) -> dict:
        segment = self.segments.get(segment_id)
        if segment is None or segment["scope"] != scope:
            raise InvalidRequest(f"segment_id: no {scope} segment with id {segment_id!r}")
        return segment

    # -- memberships ---------------------------------------------------------------------------
    def _membership(self, user_id: str, group_id: str) -> dict:
        membership_id = self.user_memberships.get(user_id, {}).get(group_id)
        if membership_id:
            return self.memberships[membership_id]
        return self._new("group_membership", self.new_id(), group=None, group_id=group_id, user=None, user_id=user_id)

    def delete_membership(self, user_id: str, group_id: str) -> dict:
        """Idempotent: a membership that does not exist (any more) answers with an id made from the pair, the same each
        time, so a typed client always gets a string."""
        links = self.user_memberships.writable(user_id)
        membership_id = links.pop(group_id, None) if links else None
        if membership_id is None:
            return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"group_membership/{user_id}/{group_id}")),
                    "object": "group_membership", "deleted": True}
        self.group_memberships.writable(group_id).pop(user_id, None)
        self.memberships.pop(membership_id)
        return {"id": membership_id, "object": "group_membership", "deleted": True}

    # -- events --------------------------------------------------------------------------------
    def track_event(self, body: dict) -> dict:
        """Store an event; a user or group it names that does not exist yet is created empty."""
        update = Update({}, body.get("attributes", {}), "event", self.definitions)
        user_id, group_id = body.get("user_id"), body.get("group_id")
        event = self._new("event", str(self.next_event_id), group=None, group_id=group_id, name=body["name"],
                          time=format_datetime(parse_datetime(body["time"])) if "time" in body else None,
                          user=None, user_id=user_id)
        event["time"] = event["time"] or event["created_at"]
        self.next_event_id += 1
        if user_id and user_id not in self.users:
            self.upsert_user({"id": user_id})
        if group_id and group_id not in self.groups:
            self.upsert_group({"id": group_id})
        event = self._write(event, update)
        self.definitions.ensure_event(event["name"], event["attributes"])
        return event

    def _drop_event(self, event_id: str) -> None:
        event = self.events.pop(event_id, None)
        if event is None:
            return
        for owner, index in ((event["user_id"], self.events_by_user), (event["group_id"], self.events_by_group)):
            if event_id in index.get(owner, ()):
                index.writable(owner).remove(event_id)

    # -- definitions ---------------------------------------------------------------------------
    def list_attribute_definitions(self, page: Page, scope=None, event_names=()):
        candidates = None
        if event_names:
            wanted = set(event_names)
            candidates = [d for d, names in self.definitions.attribute_events.items() if names & wanted]
        match = (lambda d: d["scope"] == scope) if scope else None
        return self.definitions.attributes.page(page, candidates, match)

    def list_event_definitions(self, page: Page):
        return self.definitions.events.page(page)

    # -- content, versions, sessions -----------------------------------------------------------
    def get_content(self, content_id: str) -> dict:
        return self._get(self.content, "content object", content_id)

    def list_content(self, page: Page, content_type=None):
        if content_type is not None and content_type not in CONTENT_TYPES:
            raise InvalidRequest(f"type: must be one of {', '.join(CONTENT_TYPES)}, got {content_type!r}")
        return self.content.page(page, None, (lambda c: c["type"] == content_type) if content_type else None)

    def get_content_version(self, version_id: str) -> dict:
        return self._get(self.versions, "content version", version_id)

    def list_content_versions(self, page: Page, content_id: str, number=None):
        if number is not None:
            if not re.fullmatch(r"-?[0-9]{1,18}", number):
                raise InvalidRequest(f"number: must be a whole number, got {number!r}")
            number = int(number)
        return self.versions.page(page, self.versions_of.get(content_id, []),
                                  (lambda v: v["number"] == number) if number is not None else None)

    def get_content_session(self, session_id: str) -> dict:
        return self._get(self.sessions, "content session", session_id)

    def list_content_sessions(self, page: Page, content_id=None, user_id=None):
        candidates = None if user_id is None else self.sessions_by_user.get(user_id, [])
        return self.sessions.page(page, candidates, (lambda s: s["content_id"] == content_id) if content_id else None)

    def add_content(self, content: dict, versions: list[dict], parts: list[list[dict]]) -> None:
        """Seed a content object with its versions (oldest first) and each version's questions or tasks."""
        self.content.put(content)
        self.versions_of[content["id"]] = [v["id"] for v in versions]
        for version, version_parts in zip(versions, parts):
            self.versions.put(version)
            self.version_parts[version["id"]] = version_parts

    def add_session(self, session: dict, answers: list[dict]) -> None:
        self.sessions.put(session)
        self.sessions_by_user.mutable(session["user_id"], list).append(session["id"])
        self.session_answers[session["id"]] = answers

    # -- webhook subscriptions -----------------------------------------------------------------
    def create_subscription(self, body: dict) -> dict:
        subscription = {"id": self.new_id(), "object": "webhook_subscription", "api_version": body.get("api_version", "2020-01-03"),
                        "created_at": self.now(), "disabled": body.get("disabled", False), "topics": list(body["topics"]),
                        "url": body["url"]}
        secret = "whsec_" + self.source.ids.token(string.ascii_lowercase + "234567", 26)
        self.secrets[subscription["id"]] = secret
        self.subscriptions.put(subscription)
        return {**subscription, "secret": secret}

    def get_subscription(self, subscription_id: str) -> dict:
        return self._get(self.subscriptions, "webhook subscription", subscription_id)

    def update_subscription(self, subscription_id: str, body: dict) -> dict:
        self.get_subscription(subscription_id)  # or 404
        subscription = self.subscriptions.writable(subscription_id)
        subscription.update({k: body[k] for k in ("api_version", "topics", "url", "disabled") if k in body})
        self.subscriptions.put(subscription)
        return subscription

    def delete_subscription(self, subscription_id: str) -> dict:
        self.secrets.pop(subscription_id, None)
        self.subscriptions.remove(subscription_id)
        return {"id": subscription_id, "object": "webhook_subscription", "deleted": True}

    def list_subscriptions(self, page: Page):
        return self.subscriptions.page(page)

    def emit(self, topic: str, obj: dict, previous: dict | None = None, updated: dict | None = None) -> None:
        """Queue a webhook_notification for every enabled subscription whose topics match."""
        data = None  # copied once, and only when some subscription wants it
        for sub in self.subscriptions.values():
            if sub["disabled"] or not any(matches_topic(t, topic) for t in sub["topics"]):
                continue
            if data is None:
                data = {"object": copy.deepcopy(obj)}
                if previous is not None or updated is not None:
                    data["previous_attributes"], data["updated_attributes"] = previous or {}, updated or {}
            notification = {"id": self.new_id(), "object": "webhook_notification", "api_version": sub["api_version"],
                            "created_at": self.now(), "data": data, "topic": topic}
            self.outbox.append({"id": notification["id"], "subscription_id": sub["id"], "url": sub["url"],
                                "secret": self.secrets[sub["id"]], "topic": topic, "notification": notification})

    def find(self, ref: str) -> dict:
        """The object at an API path such as /users/<id> (a scenario's webhook `ref`)."""
        _, collection, object_id = ref.split("/", 2)
        getter = {"users": self.get_user, "groups": self.get_group, "content": self.get_content,
                  "content_versions": self.get_content_version, "content_sessions": self.get_content_session}[collection]
        return getter(object_id)

    def take_outbox(self) -> list[dict]:
        out, self.outbox = self.outbox, []
        return out

    # -- shared --------------------------------------------------------------------------------
    @staticmethod
    def _get(collection: Collection, kind: str, object_id: str) -> dict:
        obj = collection.get(object_id)
        if obj is None:
            raise NotFound(f"No {kind} with id {object_id!r}")
        return obj

    def _delete(self, collection: Collection, kind: str, object_id: str, links: dict, events: dict) -> dict:
        links.pop(object_id, None)
        for event_id in events.pop(object_id, []):
            self._drop_event(event_id)
        collection.remove(object_id)
        return {"id": object_id, "object": kind, "deleted": True}

    def _new(self, kind: str, object_id: str, **relations) -> dict:
        return {"id": object_id, "object": kind, "attributes": {}, "created_at": self.now(), **relations}

    def _write(self, obj: dict, update: Update) -> dict:
        """Commit an attribute update to the environment's own copy of the object, store it, and notify:
        <kind>.created, .updated or event.tracked.<name>. Returns the object as stored."""
        kind = obj["object"]
        stored = self.users if kind == "user" else self.groups if kind == "group" else self.memberships if kind == "group_membership" else None
        created = stored is None or obj["id"] not in stored
        if not created:
            obj = stored.writable(obj["id"])
        changed = update.commit(obj["attributes"], self.definitions)
        self._save(obj)
        if kind == "event":
            self.emit(f"event.tracked.{obj['name']}", obj)
        elif kind in ("user", "group") and created:
            self.emit(f"{kind}.created", obj)
        elif kind in ("user", "group") and changed:
            self.emit(f"{kind}.updated", obj, {k: None if before is MISSING else before for k, (before, _) in changed.items()},
                      {k: None if after is MISSING else after for k, (_, after) in changed.items()})
        return obj

    def _save(self, obj: dict) -> None:
        """Store a new or changed object and keep every index in step."""
        kind, oid = obj["object"], obj["id"]
        if kind == "user":
            self.users.put(obj)
        elif kind == "group":
            self.groups.put(obj)
        elif kind == "group_membership":
            self.memberships[oid] = obj
            self.user_memberships.mutable(obj["user_id"], dict)[obj["group_id"]] = oid
            self.group_memberships.mutable(obj["group_id"], dict)[obj["user_id"]] = oid
        elif kind == "event":
            self.events[oid] = obj
            for owner, index in ((obj["user_id"], self.events_by_user), (obj["group_id"], self.events_by_group)):
                if owner:
                    index.mutable(owner, list).append(oid)

    def related(self, kind: str, field: str):
        """How `expand` finds the related object(s) of `field` on an object of `kind`: a function of the object."""
        if field in TO_ONE:
            get, key = getattr(self, TO_ONE[field]).lookup(), f"{field}_id"
            return lambda obj: get(target) if (target := obj[key]) else None
        if kind in ("user", "group"):
            links = (self.user_memberships if kind == "user" else self.group_memberships).get
            if field == "memberships":
                membership = self.memberships.get
                return lambda obj: list(map(membership, links(obj["id"], {}).values()))
            get = (self.groups if field == "groups" else self.users).lookup()
            return lambda obj: list(map(get, links(obj["id"], {})))
        if kind == "content_version":
            part = "question" if field == "questions" else "checklist_task"
            return lambda obj: [p for p in self.version_parts.get(obj["id"], []) if p["object"] == part]
        return lambda obj: self.session_answers.get(obj["id"], [])  # content_session.answers

    def render(self, kind: str, obj: dict, tree: dict) -> dict:
        return expand.render(obj, kind, tree, RELATIONS, self.related) if tree else obj

    def renderer(self, kind: str, tree: dict):
        """render() of many objects of one kind and tree (a list's page)."""
        return expand.renderer(kind, tree, RELATIONS, self.related)


def _each(related, key: str) -> list:
    """The attribute `key` of each related object, for a condition to match any of (MISSING when there is none)."""
    return [obj["attributes"].get(key, MISSING) for obj in related] or [MISSING]
