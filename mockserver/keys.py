"""Typed application keys: all state hangs on the aiohttp Application, no singletons."""
from aiohttp import web

from mockserver.cors import Cors
from mockserver.environments import Environment, Environments
from mockserver.journal import Journal
from mockserver.limits import Limits
from mockserver.scenarios import Scenarios
from mockserver.schemas import Schemas
from mockserver.settings import Settings
from mockserver.webhooks import Deliverer

SETTINGS = web.AppKey("settings", Settings)
SCHEMAS = web.AppKey("schemas", Schemas)
ENVIRONMENTS = web.AppKey("environments", Environments)
JOURNAL = web.AppKey("journal", Journal)
DELIVERER = web.AppKey("deliverer", Deliverer)
SCENARIOS = web.AppKey("scenarios", Scenarios)
LIMITS = web.AppKey("limits", Limits)
CORS = web.AppKey("cors", Cors)
STATE = web.AppKey("state", object)  # the --state file (mockserver.state.StateFile), when there is one
ENV = web.RequestKey("env", Environment)  # the environment of the request's API key
API = web.RequestKey("api", str)  # "userflow", "frigade" or "control"
FRIGADE_PRIVATE = web.RequestKey("frigade_private", bool)
REQUEST_ID = web.RequestKey("request_id", str)
BODY = web.RequestKey("body", bytes)  # the request's body as read at the start (absent when it never came in whole)
DUE_WEBHOOKS = web.RequestKey("due_webhooks", list)  # scenario webhook steps a request made due
