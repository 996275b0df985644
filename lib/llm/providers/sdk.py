"""What the Anthropic and OpenAI adapters share: client options and error translation.

An upstream's error text is ours to show, return, store, export and log only once it is
redacted (lib.core.redaction): some servers echo the Authorization header or key they were sent
in a 401's message, and that text would reach the reply's note, the ledger, exports and the
API's error body. So `translate` redacts every message it makes, here at the adapter.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from types import ModuleType
from typing import Any

from lib.core import ProviderError, redact

log = logging.getLogger(__name__)

_BY_STATUS = {400: "bad_request", 401: "auth", 403: "permission", 404: "not_found",
              408: "timeout", 409: "conflict", 413: "bad_request", 422: "bad_request",
              429: "rate_limit", 529: "overloaded"}
# Error types that arrive in a response body or an in-stream `error` event.
_BY_TYPE = {"overloaded_error": "overloaded", "rate_limit_error": "rate_limit",
            "api_error": "server", "server_error": "server", "timeout_error": "timeout",
            "invalid_request_error": "bad_request", "request_too_large": "bad_request",
            "authentication_error": "auth", "permission_error": "permission",
            "not_found_error": "not_found", "insufficient_quota": "rate_limit"}


def client_options(read_timeout: float, http_client: Any | None) -> dict[str, Any]:
    """SDK retries off (ours is the one retry loop) and a read timeout between chunks."""
    import httpx2

    options: dict[str, Any] = {
        "max_retries": 0,
        "timeout": httpx2.Timeout(read_timeout, connect=10.0, pool=10.0),
    }
    if http_client is not None:
        options["http_client"] = http_client
    return options


def retry_after(headers: Any) -> float | None:
    """Seconds from retry-after-ms or retry-after (delta-seconds or an HTTP date)."""
    if headers is None:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def _body_type(body: Any) -> str | None:
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(err.get("type"), str):
            return err["type"]
    return None


def _body_message(body: Any, fallback: str) -> str:
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
    return fallback


def translate(exc: BaseException, sdk: ModuleType, provider: str) -> ProviderError:
    """Map an SDK or transport exception to our ProviderError, its message redacted."""
    if isinstance(exc, ProviderError):
        return exc
    error = _translate(exc, sdk, provider)
    return ProviderError(error.kind, redact(error.message), status=error.status,
                         retry_after=error.retry_after)


def _translate(exc: BaseException, sdk: ModuleType, provider: str) -> ProviderError:
    import httpx2

    if isinstance(exc, sdk.APITimeoutError | httpx2.TimeoutException):
        return ProviderError("timeout", f"{provider} did not answer in time.")
    if isinstance(exc, sdk.APIConnectionError | httpx2.TransportError):
        return ProviderError("connection", f"The connection to {provider} failed "
                             f"({type(exc.__cause__ or exc).__name__}).")
    if isinstance(exc, sdk.APIStatusError | sdk.APIError):
        status = getattr(exc, "status_code", None)
        body = getattr(exc, "body", None)
        kind = _BY_TYPE.get(_body_type(body) or "")
        if kind is None and status is not None and status != 200:
            kind = _BY_STATUS.get(status, "server" if status >= 500 else "bad_request")
        kind = kind or "server"
        message = _body_message(body, str(exc))
        response = getattr(exc, "response", None)
        headers = response.headers if response is not None and status != 200 else None
        where = f"HTTP {status}" if status and status != 200 else "in the stream"
        return ProviderError(kind, f"{provider} returned an error ({where}): {message}",
                             status=status if status != 200 else None,
                             retry_after=retry_after(headers))
    import pydantic

    if isinstance(exc, json.JSONDecodeError | pydantic.ValidationError):
        return ProviderError("invalid_response",
                             f"{provider} sent a stream that could not be parsed ({exc}).")
    # Anything else came out of the SDK on a reply it did not expect: say so, not a traceback.
    log.warning("%s: unexpected %s from the SDK", provider, type(exc).__name__, exc_info=exc)
    return ProviderError("invalid_response", f"{provider} sent a reply this app could not read "
                         f"({type(exc).__name__}: {exc}).")
