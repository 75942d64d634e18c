"""Reading request bodies and writing JSON responses: the same for every handler."""
from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.helpers import must_be_empty_body, rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11
from aiohttp.http_writer import _serialize_headers
from aiohttp.web_response import MAX_SYNC_CHUNK_SIZE, REASON_PHRASES
from multidict import CIMultiDict

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
    # the header as nearly every client sends it is taken without parsing it
    if request.headers.get(hdrs.CONTENT_TYPE) != "application/json" and not is_json(request.content_type):
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


class JsonResponse(web.Response):
    """A JSON answer, written as aiohttp writes a Response (the same status line, headers and body, the same checks on
    header values) but in one step: aiohttp's general path (compression, chunking, cookies, signals, a writer in
    stages) costs more than everything else an HTTP/1.1 answer with a body needs. Anything else -- HEAD, a status
    without a body, HTTP/1.0 -- takes aiohttp's own path. No on_response_prepare signal is used by this app. It is made as
    web.Response(body=dumps(payload), status=status, headers=headers, content_type="application/json") makes one, in
    one step (a Content-Type among `headers` wins). respond() is this class."""
    _compressed_body = None
    _zlib_executor_size = MAX_SYNC_CHUNK_SIZE
    _zlib_executor = None
    _head = None  # the status line and headers, once sealed

    def __init__(self, payload, status: int = 200, headers=None):
        self._body = dumps(payload)
        self._state = {}
        self._headers = real = CIMultiDict(headers) if headers else CIMultiDict()
        real.setdefault(hdrs.CONTENT_TYPE, "application/json")
        self._status = status = int(status)
        self._reason = REASON_PHRASES.get(status, "")

    def seal(self, request: web.BaseRequest) -> bytes | None:
        """The status line and headers exactly as prepare() will write them, made now (after this, nothing changes
        them): what the journal keeps of the answer's headers, as one bytes object. None when the answer takes aiohttp's
        own path (see the class)."""
        status = self._status
        if (self._payload_writer is not None or self._eof_sent or request.version != HttpVersion11 or self._compression
                or self._cookies or must_be_empty_body(request.method, status)):
            return None
        keep_alive = self._keep_alive
        if keep_alive is None:
            keep_alive = self._keep_alive = request.keep_alive
        headers = self._headers
        headers[hdrs.CONTENT_LENGTH] = str(len(self._body))
        if hdrs.DATE not in headers:
            headers[hdrs.DATE] = rfc822_formatted_time()
        headers.setdefault(hdrs.SERVER, SERVER_SOFTWARE)
        if not keep_alive and hdrs.CONNECTION not in headers:
            headers[hdrs.CONNECTION] = "close"
        try:
            self._head = head = _serialize_headers(f"HTTP/1.1 {status} {self._reason}", headers)
        except ValueError:  # a CR or LF in a header value: aiohttp's own path refuses it as it always has
            return None
        return head

    async def prepare(self, request: web.BaseRequest):
        if self._payload_writer is not None or self._eof_sent:
            return await super().prepare(request)
        head = self._head or self.seal(request)
        if head is None:
            return await super().prepare(request)
        body, writer = self._body, request._payload_writer
        writer._write(head + body)
        self._eof_sent = True  # write_eof() has nothing left to do
        self._body_length = len(body)
        await writer.drain()
        return None


respond = JsonResponse  # respond(payload, status=200, headers=None): the JSON answer every handler gives
