"""Typed API errors. Handlers and stores raise them; one middleware renders them per API."""


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


class RequestTooLarge(ApiError):
    status, code = 413, "request_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class InternalError(ApiError):
    status, code = 500, "internal_error"
