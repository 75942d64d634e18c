"""Typed API errors. Handlers and stores raise them; one middleware renders them per API."""
import json
from http import HTTPStatus


def show(value, limit: int = 80) -> str:
    """A client's value as a message quotes it: strings in quotes, everything else as JSON (null, true, [1, 2]), never
    a Python repr such as None; long values cut short."""
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class ApiError(Exception):
    status = 400
    code = "invalid_request"

    def __init__(self, message: str, headers: dict[str, str] | None = None, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        self.details = details  # one line per field problem, for APIs that list them (Frigade)


class InvalidRequest(ApiError):
    status, code = 400, "invalid_request"


class InvalidApiVersion(ApiError):
    status, code = 400, "invalid_api_version"


class InvalidApiKey(ApiError):
    status, code = 401, "invalid_api_key"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class MethodNotAllowed(ApiError):
    status, code = 405, "method_not_allowed"


class NotAcceptable(ApiError):
    status, code = 406, "not_acceptable"


class RequestTimeout(ApiError):
    status, code = 408, "request_timeout"


class RequestTooLarge(ApiError):
    status, code = 413, "request_too_large"


class UriTooLong(ApiError):
    status, code = 414, "uri_too_long"


class HeadersTooLarge(ApiError):
    status, code = 431, "request_header_fields_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class RateLimited(ApiError):
    status, code = 429, "rate_limited"


class InternalError(ApiError):
    status, code = 500, "internal_error"


class ServiceUnavailable(ApiError):
    status, code = 503, "service_unavailable"


CODES = {cls.status: cls.code for cls in (InvalidRequest, InvalidApiKey, Forbidden, NotFound, MethodNotAllowed, NotAcceptable,
                                          RequestTimeout, RequestTooLarge, UriTooLong, UnsupportedMediaType, HeadersTooLarge,
                                          RateLimited, InternalError, ServiceUnavailable)}


def error_for_status(status: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
    """An error of any status, with the code the API uses for it (e.g. a scripted 503)."""
    error = ApiError(message, headers)
    error.status = status
    error.code = CODES.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    return error
