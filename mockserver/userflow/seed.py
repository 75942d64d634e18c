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
        store.source.fixed_now = _when(created)
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
        store.source.fixed_now = _when(created)
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
        joined = rng.sample(group_ids, min(picks, len(group_ids)))
        memberships = [{"group": {"id": g}, "attributes": {"role": rng.choice(ROLES)}} for g in joined]
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
        store.source.fixed_now = _when(moment)
        groups = list(store.user_memberships.get(user["id"], {}))
        body = {"name": name, "user_id": user["id"], "attributes": EVENTS[name](rng), "time": _when(moment)}
        if groups and rng.random() < 0.7:
            body["group_id"] = rng.choice(groups)
        store.track_event(body)


CONTENT = (("flow", "Welcome tour"), ("flow", "Onboarding survey"), ("checklist", "Getting started"), ("launcher", "Help beacon"),
           ("flow", "NPS survey"), ("checklist", "Admin setup"), ("flow", "Feature announcement: Automations"),
           ("launcher", "Export tooltip"), ("checklist", "Connect your integrations"), ("flow", "Invite your team"),
           ("launcher", "Billing hint"), ("flow", "Cancellation feedback"), ("checklist", "Reporting basics"))
QUESTIONS = (("How did you hear about us?", "multiple_choice"), ("What is your role?", "text"),
             ("How likely are you to recommend us?", "nps"),
             ("Rate this feature", "stars"), ("Anything we could do better?", "multiline_text"))
TASKS = ("Create your first project", "Invite a teammate", "Connect an integration", "Set up notifications", "Build a report",
         "Upload a file", "Customize your dashboard")
CHOICES = ("Search", "Friend", "Podcast", "Conference", "Blog")


def _answer(store: UserflowStore, rng: random.Random, question: dict, created: str) -> dict:
    kind = question["type"]
    if kind == "multiple_choice":
        answer_type, value = "list", rng.sample(CHOICES, rng.randint(1, 2))
    elif kind in ("nps", "stars"):
        answer_type, value = "number", str(rng.randint(0, 10) if kind == "nps" else rng.randint(1, 5))
    else:
        answer_type, value = "text", rng.choice(("Love it", "Product manager", "More templates please", "Faster exports", "Engineer"))
    return {"id": store.new_id(), "object": "content_session_answer", "answer_type": answer_type, "answer_value": value,
            "created_at": created, "question_cvid": question["cvid"], "question_name": question["name"]}


def _generate_content(store: UserflowStore, counts: dict, seed: int, users: list[dict]) -> None:
    """Content with 1-5 versions each (questions on flows, tasks on checklists), then sessions of seeded users."""
    rng = random.Random(seed + 1)
    published = []
    for i in range(counts.get("content", 0)):
        kind, name = CONTENT[i % len(CONTENT)]
        created = EPOCH - timedelta(days=300) + timedelta(days=i * 7)
        parts = []
        if kind == "flow":
            chosen = [QUESTIONS[(i + j) % len(QUESTIONS)] for j in range(rng.randint(1, 3))]
            parts = [{"object": "question", "cvid": store.new_id(), "name": q, "type": t} for q, t in chosen]
        elif kind == "checklist":
            parts = [{"object": "checklist_task", "cvid": store.new_id(), "name": t} for t in rng.sample(TASKS, rng.randint(3, 5))]
        versions, version_parts = [], []
        count = rng.randint(1, 5)
        for number in range(1, count + 1):
            made = created + timedelta(days=number * 3)
            versions.append({"id": store.new_id(), "object": "content_version", "created_at": _when(made),
                             "description": rng.choice((None, f"Version {number}: copy edits", f"Version {number}: new step")),
                             "edited_at": _when(made + timedelta(hours=rng.randint(1, 48))), "number": number,
                             "questions": None, "tasks": None})
            # every version copies the parts with new ids; cvid stays
            version_parts.append([{"id": store.new_id(), **{k: v for k, v in p.items() if k != "object"}, "object": p["object"]}
                                  for p in parts])
        # one launcher is a draft that was never published
        live = None if i % len(CONTENT) == 10 else versions[-1] if count == 1 or rng.random() < 0.5 else versions[-2]
        content = {"id": store.new_id(), "object": "content", "created_at": _when(created), "draft_version_id": versions[-1]["id"],
                   "draft_version": None, "name": name if i < len(CONTENT) else f"{name} {i // len(CONTENT) + 1}",
                   "published_version_id": live["id"] if live else None, "published_version": None, "type": kind}
        store.add_content(content, versions, version_parts)
        if live:
            published.append((content, live))
    for _ in range(counts.get("content_sessions", 0) if published and users else 0):
        content, version = rng.choice(published)
        user = rng.choice(users)
        start = max(parse_datetime(user["created_at"]), parse_datetime(version["created_at"]))
        began = start + (EPOCH - start) * rng.random() * 0.9
        last = began + timedelta(minutes=rng.randint(1, 600))
        parts = store.version_parts[version["id"]]
        if content["type"] == "checklist":
            done = rng.randint(0, len(parts))
            completed, progress = done == len(parts), f"{done / len(parts):.4f}".rstrip("0").rstrip(".")
        else:
            completed = rng.random() < 0.45
            progress = "1" if completed else f"{rng.randint(0, 9) / 10:.1f}".rstrip("0").rstrip(".")
        progress = "1" if completed else progress
        groups = list(store.user_memberships.get(user["id"], {}))
        session = {"id": store.new_id(), "object": "content_session", "answers": None,
                   "completed_at": _when(last) if completed else None, "completed": completed, "content_id": content["id"],
                   "content": None, "created_at": _when(began), "group_id": rng.choice(groups) if groups and rng.random() < 0.5 else None,
                   "group": None, "is_preview": rng.random() < 0.05, "last_activity_at": _when(last),
                   "launcher_activated": content["type"] == "launcher" and rng.random() < 0.6, "progress": progress,
                   "user_id": user["id"], "user": None, "version_id": version["id"], "version": None}
        answered = [q for q in parts if q["object"] == "question" and (completed or rng.random() < 0.5)]
        store.add_session(session, [_answer(store, rng, q, _when(began + (last - began) / 2)) for q in answered])


def build(seed: int, fixtures: dict) -> UserflowStore:
    store = UserflowStore(seed)
    _generate(store, fixtures["generate"], seed)
    _generate_content(store, fixtures["generate"], seed, list(store.users.values()))
    for group in fixtures["groups"]:
        store.source.fixed_now = _when(parse_datetime(group["created_at"]) if "created_at" in group else EPOCH)
        store.upsert_group({k: v for k, v in group.items() if k != "created_at"})
    for user in fixtures["users"]:
        store.source.fixed_now = _when(parse_datetime(user["created_at"]) if "created_at" in user else EPOCH)
        store.upsert_user({k: v for k, v in user.items() if k != "created_at"})
    for event in fixtures["events"]:
        store.source.fixed_now = _when(parse_datetime(event["time"]) if "time" in event else EPOCH)
        store.track_event(event)
    for segment in fixtures["segments"]:
        store.segments[segment["id"]] = segment
    store.source.fixed_now = None
    return store
