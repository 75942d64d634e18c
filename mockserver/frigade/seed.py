"""Deterministic Frigade data: flows of every type, users and groups with progress made through the state machine."""
from __future__ import annotations

import random
import string
from datetime import timedelta

from faker import Faker

from mockserver.frigade.store import FrigadeStore, frigade_time
from mockserver.userflow.seed import EPOCH


def _steps(prefix: str, titles: list[str], **extra) -> list[dict]:
    return [{"id": f"{prefix}-{i + 1}", "title": title, "subtitle": f"Step {i + 1} of {len(titles)}",
             "primaryButton": {"title": "Continue" if i < len(titles) - 1 else "Done"}, **extra} for i, title in enumerate(titles)]


FIELDS = {"fields": [{"id": "role", "type": "select", "label": "Your role", "options": [{"id": "dev", "label": "Developer"},
                                                                                      {"id": "pm", "label": "Product manager"}]},
                     {"id": "company", "type": "text", "label": "Company", "required": True}]}
# (type, name, steps, active, status)
CATALOGUE = (
    ("ANNOUNCEMENT", "Welcome announcement", _steps("welcome", ["Welcome aboard", "What's new"]), True, "ACTIVE"),
    ("BANNER", "Upgrade banner", _steps("upgrade", ["Try Pro free", "Compare plans"]), True, "ACTIVE"),
    ("CARD", "Tip of the day", _steps("tip", ["Keyboard shortcuts", "Saved views", "Sharing"]), True, "ACTIVE"),
    ("CHECKLIST", "Onboarding checklist", _steps("setup", ["Create a project", "Invite your team", "Connect Slack",
                                                           "Build a dashboard", "Set up alerts"]), True, "ACTIVE"),
    ("CUSTOM", "Custom onboarding", _steps("custom", ["Pick a template", "Import data", "Go live"]), True, "ACTIVE"),
    ("FORM", "Profile form", _steps("profile", ["About you", "Your company"], **FIELDS), True, "ACTIVE"),
    ("SURVEY", "NPS survey", [{"id": "nps-score", "title": "How likely are you to recommend us?",
                               "fields": [{"id": "score", "type": "nps", "label": "Score"}]},
                              {"id": "nps-reason", "title": "Why?", "fields": [{"id": "reason", "type": "textarea", "label": "Reason"}]}],
     True, "ACTIVE"),
    ("TOUR", "Product tour", _steps("tour", ["Sidebar", "Search", "Projects", "Reports", "Settings", "Help"]), True, "ACTIVE"),
    ("TOUR", "Dashboard tour (old)", _steps("old-tour", ["Widgets", "Filters", "Export"]), False, "ARCHIVED"),
    ("CARD", "Holiday promo", _steps("promo", ["Holiday sale", "Claim offer"]), False, "DRAFT"),
)


def generate(store: FrigadeStore, counts: dict, seed: int, schemas) -> None:
    rng = random.Random(seed + 2)
    fake = Faker("en_US")
    fake.seed_instance(seed + 2)
    for i, (kind, name, steps, active, status) in enumerate(CATALOGUE[:counts.get("flows", 0)]):
        created = EPOCH - timedelta(days=200 - i * 10)
        store.fixed_now = frigade_time(created)
        slug = "flow_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(8))
        store.add_flow({"id": 10_000 + i * 7, "slug": slug, "name": name, "type": kind, "active": active, "status": status,
                        "version": rng.randint(1, 3), "description": f"{name} ({kind.lower()})",
                        "targetingLogic": "user.property('plan') == 'pro'" if kind == "BANNER" else "",
                        "codeSnippet": f"<Frigade.{kind.capitalize()} flowId=\"{slug}\" />",
                        "data": {"title": name, "steps": steps}}, schemas)
    users = []
    for i in range(counts.get("users", 0)):
        joined = EPOCH - timedelta(days=120) + timedelta(hours=i * 48)
        store.fixed_now = frigade_time(joined)
        first, last = fake.first_name(), fake.last_name()
        users.append(store.upsert_user(f"user_{i + 1:03d}", {"name": f"{first} {last}", "email": f"{first}.{last}@example.com".lower(),
                                                             "plan": rng.choice(("free", "pro", "enterprise"))},
                                       [{"event": "signed_up"}])["userId"])
    for i in range(counts.get("groups", 0) if users else 0):
        store.fixed_now = frigade_time(EPOCH - timedelta(days=100 - i))
        for member in rng.sample(users, min(len(users), rng.randint(2, 6))):
            store.upsert_group(f"group_{i + 1:02d}", member, {"name": fake.company(), "seats": rng.choice((5, 20, 100))})
    active = [f for f in store.flows.values() if f["active"]]
    for n, user_id in enumerate(users):
        for flow in rng.sample(active, min(len(active), rng.randint(0, 3))):
            moment = EPOCH - timedelta(days=60) + timedelta(hours=n * 5 + rng.randint(0, 4))
            steps = [s["id"] for s in store.flow_data[flow["id"]]["steps"]]
            actions = [("STARTED_FLOW", None)] + [("COMPLETED_STEP", s) for s in steps[:rng.randint(0, len(steps))]]
            if len(actions) == len(steps) + 1:
                actions.append(("COMPLETED_FLOW", None))
            for step, (action, step_id) in enumerate(actions):
                at = frigade_time(moment + timedelta(minutes=step))
                store.fixed_now = at
                store.act({"userId": user_id, "flowSlug": flow["slug"], "actionType": action, "stepId": step_id, "createdAt": at})
    store.fixed_now = None


def build(seed: int, fixtures: dict, schemas) -> FrigadeStore:
    store = FrigadeStore(seed)
    generate(store, fixtures.get("generate", {}), seed, schemas)
    for flow in fixtures.get("flows", []):
        store.fixed_now = frigade_time(EPOCH)
        store.add_flow(flow, schemas)
    for hook in fixtures.get("webhooks", []):
        store.add_webhook(hook["url"], hook.get("secret"), hook.get("events"))
    store.fixed_now = None
    return store
