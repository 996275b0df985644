"""Serving the API: uvicorn on the settings' host and port (127.0.0.1:8400 by default), and
whether a server answers there now."""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Callable
from typing import Any

from lib.core import Settings, get_settings, setup_logging

log = logging.getLogger(__name__)

KEEP_ALIVE_S = 30


def base_url(settings: Settings) -> str:
    """What a client sets as its OpenAI base URL."""
    host = settings.api_host
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{settings.api_port}/v1"


def answering(settings: Settings, timeout: float = 0.5) -> bool:
    """Whether the API answers its /health at the configured address now (straight to it:
    no proxy from the environment stands between the app and its own server)."""
    url = base_url(settings).removesuffix("/v1") + "/health"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as reply:
            body = json.loads(reply.read(1000))
    except (OSError, ValueError):  # refused, timed out, an error status, or not JSON
        return False
    return isinstance(body, dict) and body.get("status") == "ok"


def api_workers(settings: Settings) -> int:
    """How many API processes serve the port (PROMPTLAB_API_WORKERS; 0: one per CPU)."""
    return settings.api_workers or len(os.sched_getaffinity(0))


def app_from_environment() -> Callable[..., Any]:
    """The app over the settings of the environment: what each worker process builds."""
    from lib.api.app import create_app

    settings = get_settings()
    setup_logging(settings)
    return create_app(settings)


def serve(settings: Settings | None = None) -> None:
    """Run the API until interrupted (`make serve`, `python -m lib.api`). With more than one
    worker each is a process loading the settings from the environment, as this one did."""
    import uvicorn

    from lib.api.app import create_app

    settings = settings or get_settings()
    setup_logging(settings)
    if settings.api_host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the API listens on %s: anyone who can reach it needs only a key",
                    settings.api_host)
    n = api_workers(settings)
    if n > 1 and not settings.redis_url:
        log.warning("%d API workers without PROMPTLAB_REDIS_URL: each keeps its own rate "
                    "limits and circuit breakers (budgets are exact either way)", n)
    log.info("API on %s, %d worker%s (data in %s)", base_url(settings), n, "s"[:n > 1],
             settings.data_dir)
    # No access log: a line per request would cost more than the API adds to a first token.
    # Idle connections are kept longer than clients keep theirs (httpx, under the openai
    # SDK: 5 s, uvicorn's default too), so a client never sends a request on a connection
    # the server is closing that instant: the request would be lost in the race. Proxy
    # headers are not read: nothing here uses the client's address.
    # Workers need the app as an import string: uvicorn starts each in a fresh process.
    app: Any = create_app(settings) if n == 1 else f"{__name__}:app_from_environment"
    uvicorn.run(app, factory=n > 1, workers=n if n > 1 else None, host=settings.api_host,
                port=settings.api_port, log_level="warning", access_log=False,
                timeout_keep_alive=KEEP_ALIVE_S, proxy_headers=False)
