"""The API's guard at the door (issue 13): every request under ``/api/`` is checked once, here, before
any view, idempotency record or parser sees it, and every failure under ``/api/`` answers with the
one JSON error body — never Django's HTML page (the admin keeps its HTML).

- A NUL character in the path or the query string (``/api/v1/accounts/%00/``): 400
  ``malformed_request`` (databases refuse NUL in text; it is never a valid id).
- A JSON body nested deeper than ``API_MAX_JSON_DEPTH`` (default 32) or holding a NUL character in
  any key or string (``"\\u0000"``, or a raw NUL byte): 400 ``malformed_request``. The depth is
  measured without parsing (no recursion), so a body of a million ``[`` is refused cheaply.
- A body above ``DATA_UPLOAD_MAX_MEMORY_SIZE``: 413 ``request_too_large``.
- An exception no view handled: 500 ``server_error`` (logged as Django logs it), and a path no view
  serves: 404 ``not_found`` (see also :func:`api_error_handler`, the URLconf's handlers)."""
from __future__ import annotations

import json
import logging
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

from core.api import error_body

logger = logging.getLogger("django.request")

API_PREFIX = "/api/"
DEFAULT_MAX_JSON_DEPTH = 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def is_api(request) -> bool:
    return request.path_info.startswith(API_PREFIX) or request.path.startswith(API_PREFIX)


def api_error(status: int, code: str, message: str, details: dict | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status, json_dumps_params={"ensure_ascii": False})


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in ``body`` (strings skipped), without parsing it."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def holds_nul(value) -> bool:
    """A NUL character in any key or string of a parsed JSON value (walked without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def body_problem(body: bytes) -> str | None:
    """Why a JSON body is refused before it is parsed, or ``None``."""
    if b"\x00" in body:
        return "The body contains a NUL character."
    limit = int(getattr(settings, "API_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH))
    if json_depth(body) > limit:
        return f"The JSON body is nested more than {limit} levels deep."
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None  # not JSON: the parser answers 400 malformed_request with its own message
    if holds_nul(parsed):
        return "The JSON body contains a NUL character (\\u0000)."
    return None


class ApiGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_api(request):
            return self.get_response(request)
        if "\x00" in request.path or "\x00" in request.META.get("QUERY_STRING", "") or "%00" in request.META.get(
            "QUERY_STRING", ""
        ):
            return api_error(400, "malformed_request", "NUL characters are not allowed in the path or the query.")
        if request.method in _BODY_METHODS:
            try:
                body = request.body
            except RequestDataTooBig:
                return self._too_large()
            problem = body_problem(body) if body else None
            if problem:
                return api_error(400, "malformed_request", problem)
        return self.get_response(request)

    @staticmethod
    def _too_large() -> JsonResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return api_error(413, "request_too_large", f"The request body is larger than {limit} bytes.",
                         {"max_bytes": limit})

    def process_exception(self, request, exception):
        """An exception a view under ``/api/`` did not handle: the JSON body instead of the HTML page."""
        if not is_api(request):
            return None
        if isinstance(exception, RequestDataTooBig):
            return self._too_large()
        logger.error("Internal Server Error: %s", request.path, exc_info=exception, extra={"status_code": 500,
                                                                                          "request": request})
        return api_error(500, "server_error", "Something went wrong on our side; the request was not completed.")


def api_error_handler(status: int, code: str, message: str, html_handler):
    """A URLconf handler (``handler404`` …) answering the JSON body under ``/api/`` and Django's own page
    elsewhere (the admin)."""

    def handler(request, exception=None, **kwargs):
        if is_api(request):
            if isinstance(exception, RequestDataTooBig):
                return ApiGuardMiddleware._too_large()
            return api_error(status, code, message)
        if status == 500:
            return html_handler(request, **kwargs)
        return html_handler(request, exception, **kwargs)

    return handler
