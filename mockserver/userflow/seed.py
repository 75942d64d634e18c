"""Deterministic seeded data: the same seed and fixtures give byte-identical state on every machine.

Every timestamp counts back from a fixed epoch; every id and value comes from generators seeded with
the seed. Objects are created through the store's own rules, so definitions appear as they would.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from faker import Faker

from mockserver.attributes import format_datetime, parse_datetime
from mockserver.userflow.store import UserflowStore

EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
PLANS = ("free", "starter", "pro", "enterprise")
ROLES = ("admin", "member", "member", "member", "viewer")
TAGS = ("beta", "mobile", "api", "sso", "early_adopter")
INDUSTRIES = ("software", "finance", "healthcare", "retail", "education", "media", "logistics")
EVENTS = {
    "signed_up": lambda r: {"source": r.choice(("google", "direct", "referral", "ads"))},
    "logged_in": lambda r: {"method": r.choice(("password", "sso", "magic_link"))},
    "project_created": lambda r: {"template": r.choice(("blank", "kanban", "roadmap"))},
    "project_deleted": lambda r: {},
    "project_shared": lambda r: {"channel": r.choice(("email", "link"))},
    "invite_sent": lambda r: {"invitee_count": r.randint(1, 5)},
    "invite_accepted": lambda r: {},
    "subscription_activated": lambda r: {"plan_name": r.choice(PLANS[1:]), "plan_price": r.choice((19, 49, 199))},
    "subscription_cancelled": lambda r: {"reason": r.choice(("price", "missing_feature", "other"))},
    "payment_failed": lambda r: {"amount": r.choice((19, 49, 199))},
    "report_exported": lambda r: {"format": r.choice(("csv", "pdf", "xlsx"))},
    "integration_connected": lambda r: {"integration": r.choice(("slack", "github", "jira", "salesforce"))},
    "file_uploaded": lambda r: {"size_kb": r.randint(1, 20_000)},
    "comment_added": lambda r: {"length": r.randint(1, 500)},
    "dashboard_viewed": lambda r: {},
    "settings_updated": lambda r: {"section": r.choice(("profile", "billing", "notifications"))},
    "feature_used": lambda r: {"feature": r.choice(("search", "export", "automation", "templates"))},
}


def _when(moment: datetime) -> str:
    return format_datetime(moment)


def _generate(store: UserflowStore, counts: dict, seed: int) -> None:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    span = timedelta(days=365)
    n_groups, n_users, n_events = counts.get("groups", 0), counts.get("users", 0), counts.get("events", 0)
    group_ids = []
    for i in range(n_groups):
        created = EPOCH - span - timedelta(days=30) + timedelta(seconds=i * 86_400 * 30 // max(n_groups, 1))
        store.fixed_now = _when(created)
        company = fake.company()
        group = store.upsert_group({"id": store.new_id(), "attributes": {
            "name": company,
            "plan": rng.choice(PLANS),
            "industry": rng.choice(INDUSTRIES),
            "employee_count": rng.choice((5, 12, 40, 150, 800, 2500)),
            "signed_up_at": _when(created - timedelta(days=rng.randint(0, 30))),
        }})
        group_ids.append(group["id"])
    users = []
    for i in range(n_users):
        created = EPOCH - span + timedelta(seconds=i * 86_400 * 365 // max(n_users, 1) + rng.randint(0, 3600))
        store.fixed_now = _when(created)
        first, last = fake.first_name(), fake.last_name()
        attributes = {
            "name": f"{first} {last}",
            "email": f"{first}.{last}.{i}@example.com".lower(),
            "email_verified": rng.random() < 0.8,
            "signed_up_at": _when(created - timedelta(minutes=rng.randint(0, 600))),
            "last_seen_at": _when(created + (EPOCH - created) * rng.random()),
            "plan": rng.choice(PLANS),
            "project_count": rng.randint(0, 40),
            "country": fake.country_code(),
        }
        tags = rng.sample(TAGS, rng.choice((0, 0, 1, 2)))
        if tags:
            attributes["tags"] = tags
        picks = rng.choices((0, 1, 2), weights=(5, 80, 15))[0] if group_ids else 0
        memberships = [{"group": {"id": g}, "attributes": {"role": rng.choice(ROLES)}} for g in rng.sample(group_ids, min(picks, len(group_ids)))]
        for membership in memberships:
            if not store.group_memberships.get(membership["group"]["id"]):
                membership["attributes"]["role"] = "owner"
        users.append(store.upsert_user({"id": store.new_id(), "attributes": attributes, "memberships": memberships}))
    names = sorted(EVENTS)
    for _ in range(n_events if users else 0):
        user = rng.choice(users)
        name = rng.choice(names)
        created = parse_datetime(user["created_at"])
        moment = created + (EPOCH - created) * rng.random()
        store.fixed_now = _when(moment)
        groups = list(store.user_memberships.get(user["id"], {}))
        body = {"name": name, "user_id": user["id"], "attributes": EVENTS[name](rng), "time": _when(moment)}
        if groups and rng.random() < 0.7:
            body["group_id"] = rng.choice(groups)
        store.track_event(body)


def build(seed: int, fixtures: dict) -> UserflowStore:
    store = UserflowStore(seed)
    _generate(store, fixtures["generate"], seed)
    for group in fixtures["groups"]:
        store.fixed_now = _when(parse_datetime(group["created_at"]) if "created_at" in group else EPOCH)
        store.upsert_group({k: v for k, v in group.items() if k != "created_at"})
    for user in fixtures["users"]:
        store.fixed_now = _when(parse_datetime(user["created_at"]) if "created_at" in user else EPOCH)
        store.upsert_user({k: v for k, v in user.items() if k != "created_at"})
    for event in fixtures["events"]:
        store.fixed_now = _when(parse_datetime(event["time"]) if "time" in event else EPOCH)
        store.track_event(event)
    for segment in fixtures["segments"]:
        store.segments[segment["id"]] = segment
    store.fixed_now = None
    return store
