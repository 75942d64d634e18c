"""Frigade state and rules: flows, users, groups and the per-user flow-state machine. No HTTP here."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone

import yaml

from mockserver import yamltext
from mockserver.attributes import utc_now
from mockserver.errors import InvalidRequest, NotFound
from mockserver.ids import Ids
from mockserver.layers import Changes, Layer, Seeded

FLOW_TYPES = ("ANNOUNCEMENT", "BANNER", "CARD", "CHECKLIST", "CUSTOM", "FORM", "SURVEY", "TOUR")
STEP_ACTIONS = ("STARTED_STEP", "COMPLETED_STEP", "SKIPPED_STEP", "NOT_STARTED_STEP")
FLOW_ACTIONS = ("STARTED_FLOW", "COMPLETED_FLOW", "SKIPPED_FLOW", "NOT_STARTED_FLOW")
WEBHOOK_EVENTS = {"STARTED_FLOW": "flowResponse.startedFlow", "COMPLETED_FLOW": "flowResponse.completedFlow",
                  "SKIPPED_FLOW": "flowResponse.skippedFlow", "STARTED_STEP": "flowResponse.startedStep",
                  "COMPLETED_STEP": "flowResponse.completedStep"}
PRIVATE_FLOW_FIELDS = ("codeSnippet",)


def frigade_time(moment: datetime) -> str:
    """Frigade's timestamp form: 2024-09-01T00:00:00.000Z."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_flow_data(text: str, schemas) -> dict:
    """A flow's `data` (YAML or JSON) as an object with `steps`, or a 400 listing what is wrong."""
    try:
        data = yamltext.load(text)
    except yaml.YAMLError as exc:
        raise InvalidRequest("data: not valid JSON or YAML", details=[f"data must be valid JSON or YAML ({exc})"]) from None
    schemas.validate("frigade/flow_data.json", data, root="data")
    return data


def as_yaml(text: str) -> str:
    """JSON flow data is stored as YAML; YAML is stored as given."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return yamltext.dump(parsed)


def _fresh_state() -> dict:
    """A flow the user has not started: "currentStepIndex ... Will be -1 if the user has not started the Flow"; no
    lastActionAt until there is an action."""
    return {"started": False, "completed": False, "skipped": False, "visible": True, "currentStepIndex": -1, "steps": {},
            "flowResponses": []}


def _fresh_step() -> dict:
    return {"completed": False, "skipped": False, "started": False}


class FrigadeStore(Seeded):
    def __init__(self, seed: int = 0):
        self.ids = Ids(seed)
        self.fixed_now: str | None = None  # set while seeding
        self.flows = Layer()  # numeric id -> ExternalizedFlow
        self.flow_data = Layer()  # numeric id -> parsed data
        self.slugs = Layer()  # slug -> numeric id
        self.next_flow_id = 1
        self.users = Layer()
        self.groups = Layer()
        self.states = Layer()  # (userId, flowSlug) -> state: a user's progress, whatever group
        self.webhooks = Layer()  # id -> {id, url, secret, events}
        self.outbox: list[dict] = []

    def fork(self, changes: Changes) -> FrigadeStore:
        """An environment: this sealed seed read through layers of its own."""
        return super().fork(changes, ids=Ids(0), outbox=[])

    def now(self) -> str:
        return self.fixed_now or utc_now()[:23] + "Z"  # frigade_time() of the current time

    def begin_run(self, material: int) -> None:
        """Webhook ids, secrets and event ids made from here on come from `material` (see UserflowStore.begin_run)."""
        self.ids = Ids(material)

    # -- flows ---------------------------------------------------------------------------------
    def add_flow(self, flow: dict, schemas) -> dict:
        """Seed a flow (ExternalizedFlow fields; `data` YAML or JSON)."""
        flow = {"codeSnippet": "", "description": "", "targetingLogic": "", "status": "ACTIVE", "active": True, "version": 1, **flow}
        flow["data"] = as_yaml(flow["data"]) if isinstance(flow["data"], str) else yamltext.dump(flow["data"])
        flow.setdefault("id", self.next_flow_id)
        flow.setdefault("createdAt", self.now())
        flow.setdefault("modifiedAt", flow["createdAt"])
        if flow["slug"] in self.slugs or flow["id"] in self.flows:
            taken = f"slug {flow['slug']!r}" if flow["slug"] in self.slugs else f"id {flow['id']}"
            raise InvalidRequest(f"{taken} is already used by another flow", details=[f"{taken} already exists"])
        self.next_flow_id = max(self.next_flow_id, flow["id"] + 1)
        self.flow_data[flow["id"]] = parse_flow_data(flow["data"], schemas)
        order = ("id", "name", "description", "data", "targetingLogic", "type", "slug", "createdAt", "modifiedAt", "version",
                 "status", "active", "codeSnippet")
        self.flows[flow["id"]] = {k: flow[k] for k in order}
        self.slugs[flow["slug"]] = flow["id"]
        return self.flows[flow["id"]]

    def find_flow(self, key: str, numeric_only: bool = False) -> dict:
        """A flow by numeric id or (unless numeric_only) by slug."""
        flow_id = int(key) if key.isascii() and key.isdigit() else None if numeric_only else self.slugs.get(key)
        if flow_id is None or flow_id not in self.flows:
            raise NotFound(f"Flow {key!r} not found")
        return self.flows[flow_id]

    def list_flows(self) -> list[dict]:
        return list(self.flows.values())

    def update_flow(self, key: str, body: dict, schemas) -> dict:
        flow = self.flows.writable(self.find_flow(key, numeric_only=True)["id"])
        if "data" in body:
            data = parse_flow_data(body["data"], schemas)
            self.flow_data[flow["id"]] = data
            flow["data"] = as_yaml(body["data"])
        for field in ("active", "description", "name", "targetingLogic", "type"):
            if field in body:
                flow[field] = body[field]
        flow["modifiedAt"] = self.now()
        return flow

    def delete_flow(self, key: str) -> None:
        flow = self.find_flow(key, numeric_only=True)
        del self.flows[flow["id"]], self.flow_data[flow["id"]], self.slugs[flow["slug"]]
        for state_key in [k for k in self.states if k[1] == flow["slug"]]:
            del self.states[state_key]

    def render_flow(self, flow: dict, private: bool) -> dict:
        """ExternalizedFlow: `data` as "JSON encoded raw data of the Flow" (kept as YAML, as Frigade stores it), and
        private fields for private keys only."""
        data = json.dumps(self.flow_data[flow["id"]], separators=(",", ":"), ensure_ascii=False)
        return {k: data if k == "data" else v for k, v in flow.items() if private or k not in PRIVATE_FLOW_FIELDS}

    # -- users and groups ----------------------------------------------------------------------
    def upsert_user(self, user_id: str, properties: dict | None = None, events: list | None = None) -> dict:
        now = self.now()
        user = self.users.mutable(user_id, lambda: {"userId": user_id, "createdAt": now, "modifiedAt": now, "properties": {},
                                                    "trackingEvents": []})
        self._merge(user, properties, events, now)
        return user

    def upsert_group(self, group_id: str, user_id: str | None = None, properties=None, events=None) -> dict:
        now = self.now()
        group = self.groups.mutable(group_id, lambda: {"groupId": group_id, "createdAt": now, "modifiedAt": now, "properties": {},
                                                       "userIds": [], "trackingEvents": []})
        if user_id:
            self.upsert_user(user_id)
            if user_id not in group["userIds"]:
                group["userIds"].append(user_id)
        self._merge(group, properties, events, now)
        return group

    @staticmethod
    def _merge(obj: dict, properties, events, now: str) -> None:
        obj["properties"].update(properties or {})
        obj["trackingEvents"] += [{"event": e["event"], "properties": e.get("properties", {}), "createdAt": now} for e in events or []]
        obj["modifiedAt"] = now

    def get_user(self, user_id: str) -> dict:
        user = self.users.get(user_id)
        if user is None:
            raise NotFound(f"User {user_id!r} not found")
        states = [self._user_state(slug, state) for (uid, slug), state in self.states.items() if uid == user_id]
        return {**{k: user[k] for k in ("userId", "createdAt", "modifiedAt", "properties")},
                "userFlowStates": states, "trackingEvents": user["trackingEvents"]}

    def delete_user(self, user_id: str) -> None:
        if self.users.pop(user_id, None) is None:
            raise NotFound(f"User {user_id!r} not found")
        for key in [k for k in self.states if k[0] == user_id]:
            del self.states[key]
        for group_id in [g for g, group in self.groups.items() if user_id in group["userIds"]]:
            self.groups.writable(group_id)["userIds"].remove(user_id)

    def get_group(self, group_id: str) -> dict:
        group = self.groups.get(group_id)
        if group is None:
            raise NotFound(f"Group {group_id!r} not found")
        return group

    def delete_group(self, group_id: str) -> None:
        """The group goes; its members and their progress stay (progress is the user's)."""
        if self.groups.pop(group_id, None) is None:
            raise NotFound(f"Group {group_id!r} not found")

    # -- the flow-state machine ----------------------------------------------------------------
    def act(self, body: dict) -> None:
        """Apply one action of POST /v1/public/flowStates (the caller renders the resulting state)."""
        action, slug, step_id = body["actionType"], body["flowSlug"], body.get("stepId")
        flow = self.find_flow(slug)
        if flow["slug"] != slug:
            raise NotFound(f"Flow {slug!r} not found")
        steps = [s["id"] for s in self.flow_data[flow["id"]]["steps"]]
        if action in STEP_ACTIONS and step_id not in steps:
            problem = f"stepId must be one of the steps of {slug}: {', '.join(steps)}" if step_id else f"stepId is required for {action}"
            raise InvalidRequest(problem, details=[problem])
        user_id, group_id = body["userId"], body.get("groupId") or ""
        self.upsert_user(user_id)
        if group_id:  # the group is for targeting and group properties: the user joins it, the progress stays the user's
            self.upsert_group(group_id, user_id)
        at = body.get("createdAt") or self.now()
        state = self.states.mutable((user_id, slug), _fresh_state)
        data = body.get("data")
        if not isinstance(data, str):  # the SDK sends an object although the docs say string: keep it as compact JSON
            data = json.dumps(data or {}, separators=(",", ":"))
        response = {"flowSlug": slug, "stepId": step_id or "", "data": data, "actionType": action, "createdAt": at}
        state["flowResponses"].append(response)
        state["lastActionAt"] = at
        if action in STEP_ACTIONS:
            self._act_on_step(state, steps, step_id, action, at)
        elif action == "STARTED_FLOW":
            state["started"] = True
            state["currentStepIndex"] = max(state["currentStepIndex"], 0)
        elif action == "COMPLETED_FLOW":
            state.update(completed=True, started=True, visible=False)
        elif action == "SKIPPED_FLOW":
            state.update(skipped=True, visible=False)
        else:  # NOT_STARTED_FLOW: restart; not started again, so the cursor is -1 again
            state.update(started=False, completed=False, skipped=False, visible=True, currentStepIndex=-1, steps={})
        if action in WEBHOOK_EVENTS:
            self.emit(WEBHOOK_EVENTS[action], flow, user_id, {**response, "groupId": group_id or None})

    @staticmethod
    def _act_on_step(state: dict, steps: list[str], step_id: str, action: str, at: str) -> None:
        step = state["steps"].setdefault(step_id, _fresh_step())
        step["lastActionAt"] = at
        index = steps.index(step_id)
        if action == "NOT_STARTED_STEP":
            step.update(started=False, completed=False, skipped=False)
            return
        step["started"] = True
        state["started"] = True
        if action == "STARTED_STEP":
            state["currentStepIndex"] = index
            return
        step["completed" if action == "COMPLETED_STEP" else "skipped"] = True
        # the cursor moves on to the next step; after the last step it stays there (the flow is completed by COMPLETED_FLOW)
        state["currentStepIndex"] = min(index + 1, len(steps) - 1)

    def flow_states(self, user_id: str, private: bool) -> dict:
        """PublicUserFlowStateV2: every active flow with this user's state, and the slugs of inactive ones."""
        eligible, ineligible = [], []
        for flow in self.flows.values():
            if not flow["active"]:
                ineligible.append(flow["slug"])
                continue
            state = self.states.get((user_id, flow["slug"])) or _fresh_state()
            eligible.append(self._stateful_flow(flow, state, private))
        return {"eligibleFlows": eligible, "ineligibleFlows": ineligible}

    def _stateful_flow(self, flow: dict, state: dict, private: bool) -> dict:
        data = copy.deepcopy(self.flow_data[flow["id"]])
        for step in data["steps"]:
            step_state = {**_fresh_step(), **state["steps"].get(step["id"], {}), "visible": True, "blocked": False}
            if private:
                step_state["flowResponses"] = [r for r in state["flowResponses"] if r["stepId"] == step["id"]]
            step["$state"] = step_state
        return {"flowSlug": flow["slug"], "flowName": flow["name"], "flowType": flow["type"], "data": data,
                "$state": self._flow_state(data["steps"], state, private), "version": flow["version"]}

    @staticmethod
    def _flow_state(steps: list[dict], state: dict, private: bool) -> dict:
        index = min(state["currentStepIndex"], len(steps) - 1)
        out = {"currentStepId": steps[max(index, 0)]["id"] if steps else None, "currentStepIndex": index,
               **{k: state[k] for k in ("completed", "started", "skipped", "visible", "lastActionAt") if k in state}}
        if private:
            out["flowResponses"] = list(state["flowResponses"])
        return out

    def _user_state(self, slug: str, state: dict) -> dict:
        steps = self.flow_data[self.slugs[slug]]["steps"]
        return {"flowSlug": slug, **self._flow_state(steps, state, private=True)}

    # -- webhooks ------------------------------------------------------------------------------
    def add_webhook(self, url: str, secret: str | None = None, events: list[str] | None = None) -> dict:
        webhook_id = f"whk_{len(self.webhooks) + 1}_{self.ids.hex(8)}"
        secret = secret or self.ids.token("abcdefghijklmnopqrstuvwxyz0123456789", 32)
        self.webhooks[webhook_id] = {"id": webhook_id, "url": url, "secret": secret, "events": list(events or WEBHOOK_EVENTS.values())}
        return self.webhooks[webhook_id]

    def delete_webhook(self, webhook_id: str) -> bool:
        return self.webhooks.pop(webhook_id, None) is not None

    def emit(self, event_type: str, flow: dict, user_id: str, data: dict) -> None:
        """Queue a webhook payload for every subscription to `event_type`."""
        self.upsert_user(user_id)
        payload = {"type": event_type, "time": self.now(), "user": {"id": user_id, **self.users[user_id]["properties"]},
                   "flow": {"id": flow["id"], "name": flow["name"]}, "data": data}
        for hook in self.webhooks.values():
            if event_type in hook["events"]:
                self.outbox.append({"id": f"evt_{self.ids.hex(16)}", "subscription_id": hook["id"], "url": hook["url"],
                                    "secret": hook["secret"], "topic": event_type, "notification": payload})

    def take_outbox(self) -> list[dict]:
        out, self.outbox = self.outbox, []
        return out
