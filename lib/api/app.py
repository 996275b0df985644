"""The HTTP API: OpenAI-compatible chat completions and models, stored prompt and workflow
runs.

Anything that touches the database or a model runs in a worker thread, so the event loop
only moves bytes; the model routes are in lib.api.routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# Loaded with this module only (the package's face does not load it): the app's pages never
# import FastAPI. At module level, because FastAPI reads the handlers' annotations by name.
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from lib import telemetry
from lib.api import calls
from lib.api.chat_request import ChatParams, chat_params
from lib.api.failures import answer
from lib.api.keys import ApiKey, verify_key
from lib.api.openai_format import error_body
from lib.api.replies import Answer
from lib.api.routes import ModelRoute, Receive, Send
from lib.api.workflows import WorkflowRoute, listing
from lib.core import ApiError, Settings
from lib.llm import CacheMode, CallContext, cache_mode

# Threads for calls in flight: a streaming call holds one until its last token, so this is
# how many calls may stream at once before the next ones queue.
WORKERS = 128
PAGE = "api"   # the ledger's page for every call made here

log = logging.getLogger(__name__)

def create_app(settings: Settings, *, workers: int = WORKERS) -> Callable[..., Any]:
    """The ASGI application over `settings` (data dir, prompts, providers)."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="api-call")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        # Traces, when an OTLP endpoint is set: once in each process that serves (each worker).
        telemetry.setup(settings)
        pool.submit(_warm, settings)
        yield
        pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="Prompt Lab API", version="1", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    async def in_worker(request: Request, work: Callable[[], dict[str, Any]]) -> Response:
        """A short answer computed in a worker, after the key is checked."""
        def checked() -> Answer:
            try:
                verify_key(settings.db, request.headers.get("authorization"))
                return Answer(200, work())
            except Exception as exc:
                return Answer(*answer(exc))
        a = await asyncio.get_running_loop().run_in_executor(pool, checked)
        return JSONResponse(a.body, status_code=a.status, headers=a.headers)

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        return await in_worker(request, lambda: {"object": "list", "data": [
            _model_body(m) for m in calls.available_models(settings)]})

    @app.get("/v1/models/{model:path}")
    async def model(model: str, request: Request) -> Response:
        def one() -> dict[str, Any]:
            found = calls.find_model(settings, model)
            if found not in calls.available_models(settings):
                raise ApiError(f"The model '{found.key}' is not available here.", status=404,
                               code="model_not_available", param="model")
            return _model_body(found)
        return await in_worker(request, one)

    def chat(body: Any, key: ApiKey, cancel: threading.Event, _path: dict[str, str],
             asked: dict[str, str]) -> calls.Started:
        params = chat_params(body)
        return calls.start(settings, params,
                           CallContext(PAGE, api_key_id=key.id, user=key.owner), cancel,
                           fallbacks=_fallbacks(params, key),
                           cache=_cache(settings, key, asked["cache-control"]))

    def prompt_run(body: Any, key: ApiKey, cancel: threading.Event, path: dict[str, str],
                   asked: dict[str, str]) -> calls.Started:
        name = path["name"]
        params, version = calls.prompt_params(settings, name, body)
        return calls.start(settings, params, CallContext(PAGE, name, version,
                                                         api_key_id=key.id, user=key.owner),
                           cancel, prompt={"name": name, "version": version},
                           fallbacks=_fallbacks(params, key),
                           cache=_cache(settings, key, asked["cache-control"]))

    # Starlette serves an endpoint that is not a function as a plain ASGI app; add_route's
    # type names only request handlers.
    chat_route = ModelRoute(settings, pool, chat)
    app.add_route("/v1/chat/completions", chat_route,  # type: ignore[arg-type]
                  methods=["POST"])
    app.add_route("/v1/prompts/{name}/run",
                  ModelRoute(settings, pool, prompt_run),  # type: ignore[arg-type]
                  methods=["POST"])
    app.add_route("/v1/workflows/{name}/run",
                  WorkflowRoute(settings, pool),  # type: ignore[arg-type]
                  methods=["POST"])

    @app.get("/v1/workflows")
    async def workflow_list(request: Request) -> Response:
        return await in_worker(request, lambda: listing(settings))

    if settings.metrics:  # off: /metrics is a 404 as any unknown path (and no
        # prometheus_client is loaded)
        from lib.api.metrics import metrics_route

        app.add_api_route("/metrics", metrics_route(settings, pool), methods=["GET"])

    @app.exception_handler(404)
    async def not_found(_request: Request, _exc: Exception) -> Response:
        return JSONResponse(error_body("No such endpoint.", "invalid_request_error",
                                       "unknown_url"), status_code=404)

    async def served(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        # The chat route straight from the server, past FastAPI (see lib.api.routes);
        # other methods on it still get FastAPI's 405.
        if scope["type"] == "http" and scope["method"] == "POST" and \
                scope["path"] == "/v1/chat/completions":
            await chat_route(scope, receive, send)
        else:
            await app(scope, receive, send)
    return served


def _fallbacks(params: ChatParams, key: ApiKey) -> bool:
    """The request's own `fallbacks`, else its key's."""
    return key.fallbacks if params.fallbacks is None else params.fallbacks


def _cache(settings: Settings, key: ApiKey, cache_control: str) -> CacheMode:
    """On for a key made to use the cache or where PROMPTLAB_CACHE lists the API; the
    request's Cache-Control can then only narrow it (no-cache: no read, no-store: no
    write)."""
    on = cache_mode(settings, PAGE, CacheMode.ON if key.cache else None)
    return on.restricted(cache_control)


def _warm(settings: Settings) -> None:
    """The bundled model's one-off CPU check, before the first request needs it."""
    try:
        calls.available_models(settings)
    except Exception:  # the first request will say what is wrong
        log.exception("api: checking the models at start failed")


def _model_body(model: Any) -> dict[str, Any]:
    return {"id": model.key, "object": "model", "created": 0, "owned_by": model.provider,
            "label": model.label, "context_window": model.context_window,
            "max_output": model.max_output}
