"""Reading request bodies and writing JSON responses: the same for every handler."""
from __future__ import annotations

from aiohttp import web

from mockserver.errors import InvalidRequest, UnsupportedMediaType
from mockserver.jsontext import dumps, loads
from mockserver.keys import SCHEMAS

JSON_TYPES = ("application/json",)


async def read_json(request: web.Request, schema: str | None = None):
    """The JSON body, checked against `schema` (a path below schemas/) when given."""
    if request.content_type not in JSON_TYPES and not request.content_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got {request.headers.get('Content-Type') or 'none'!r}")
    raw = await request.read()
    try:
        body = loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"Request body is not valid UTF-8 (byte {exc.start})") from None
    except ValueError as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}") from None
    if schema:
        request.app[SCHEMAS].validate(schema, body)
    return body


def respond(payload, status: int = 200, headers=None) -> web.Response:
    return web.Response(body=dumps(payload), status=status, headers=headers, content_type="application/json")



