"""Reading request bodies and writing JSON responses: the same for every handler."""
from __future__ import annotations

from aiohttp import web

from mockserver.errors import InvalidRequest, UnsupportedMediaType
from mockserver.jsontext import Unusable, dumps, loads, without_nulls
from mockserver.keys import SCHEMAS



def is_json(media_type: str) -> bool:
    """application/json, or a structured type on JSON such as application/merge-patch+json."""
    media_type = media_type.lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


async def read_json(request: web.Request, schema: str | None = None, nulls_absent: bool = False, other_media_as_empty: bool = False):
    """The JSON body, checked against `schema` (a path below schemas/) when given. With `nulls_absent`, an optional
    field given as null counts as not given; with `other_media_as_empty`, a body that is not JSON counts as {} (then
    fails validation) instead of a 415."""
    if not is_json(request.content_type):
        if not other_media_as_empty:
            raise UnsupportedMediaType(
                f"Content-Type must be application/json, got {request.headers.get('Content-Type') or 'none'!r}")
        await request.read()
        body = {}
        if schema:
            request.app[SCHEMAS].validate(schema, body)
        return body
    raw = await request.read()
    try:
        body = loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"Request body is not valid UTF-8 (byte {exc.start})") from None
    except Unusable as exc:
        raise InvalidRequest(f"Request body cannot be kept: {exc}", details=[str(exc)]) from None
    except ValueError as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}") from None
    if nulls_absent:
        body = without_nulls(body)
    if schema:
        request.app[SCHEMAS].validate(schema, body)
    return body


def own_address(request: web.Request) -> tuple | None:
    """The (host, port) this request came in on: the server's own address, as a client reached it."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return tuple(sockname[:2]) if sockname else None


def respond(payload, status: int = 200, headers=None) -> web.Response:
    return web.Response(body=dumps(payload), status=status, headers=headers, content_type="application/json")



