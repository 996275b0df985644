"""The HTTP API: OpenAI-compatible chat completions and models, and stored prompt runs.

Every request runs in a worker thread (a model call blocks: its retry loop, the local model's
lock, the ledger's write), so the event loop only moves bytes. A stream's chunks cross to
the loop in batches (one wake-up and one write for whatever arrived meanwhile); when the
client goes away the call is cancelled at its next event and its ledger row says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# Loaded with this module only (the package's face does not load it): the app's pages never
# import FastAPI. At module level, because FastAPI reads the handlers' annotations by name.
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from lib.api import calls
from lib.api.failures import answer
from lib.api.keys import ApiKey, verify_key
from lib.api.openai_format import chat_params, error_body
from lib.api.replies import Answer, chunks, whole
from lib.core import ApiError, Settings
from lib.llm import CallContext

# Threads for calls in flight: a streaming call holds one until its last token, so this is
# how many calls may stream at once before the next ones queue.
WORKERS = 128
PAGE = "api"   # the ledger's page for every call made here
MAX_BODY = 16 * 2**20   # a request body past this is refused before it is all read

_END = object()
log = logging.getLogger(__name__)


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Pipe:
    """Items from a worker thread to the event loop. The loop is woken once per batch, not
    per item: under load a waiting stream takes every chunk that arrived in one send."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.items: list[Any] = []
        self.lock = threading.Lock()
        self.waiter: asyncio.Future[None] | None = None

    def put(self, item: Any) -> None:  # in the worker
        with self.lock:
            self.items.append(item)
            waiter, self.waiter = self.waiter, None
        if waiter is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the server is stopping
                self.loop.call_soon_threadsafe(_wake, waiter)

    async def take(self) -> list[Any]:  # on the loop
        while True:
            with self.lock:
                if self.items:
                    batch, self.items = self.items, []
                    return batch
                self.waiter = waiter = self.loop.create_future()
            await waiter


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _relay(items: Iterator[Any], cancel: threading.Event,
           pool: ThreadPoolExecutor) -> AsyncGenerator[list[Any], None]:
    """Iterate `items` in a worker thread; the loop gets them in order, in batches."""
    pipe = _Pipe(asyncio.get_running_loop())

    def pump() -> None:
        try:
            for item in items:
                pipe.put(item)
        except BaseException as exc:  # handed to the loop, which re-raises it there
            pipe.put(_Raised(exc))
        finally:
            pipe.put(_END)

    pool.submit(pump)

    async def relayed() -> AsyncGenerator[list[Any], None]:
        try:
            while True:
                batch = await pipe.take()
                for i, item in enumerate(batch):
                    if isinstance(item, _Raised):
                        raise item.exc
                    if item is _END:
                        if i:
                            yield batch[:i]
                        return
                yield batch
        finally:
            cancel.set()  # a client gone mid-stream: the call ends at its next event
    return relayed()


def create_app(settings: Settings, *, workers: int = WORKERS) -> FastAPI:
    """The FastAPI application over `settings` (data dir, prompts, providers)."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="api-call")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        pool.submit(_warm, settings)
        yield
        pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="Prompt Lab API", version="1", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)

    def json_answer(a: Answer) -> Response:
        return JSONResponse(a.body, status_code=a.status, headers=a.headers)

    async def respond(request: Request,
                      build: Callable[[Any, ApiKey, threading.Event], calls.Started]
                      ) -> Response:
        """In a worker: check the key, read the body, build and reserve the call; then
        stream it or answer whole. Anything refused before output is a JSON error."""
        authorization = request.headers.get("authorization")
        raw = await _body(request)
        if raw is None:
            return json_answer(Answer(*answer(ApiError(
                f"The body is larger than {MAX_BODY // 2**20} MiB.", status=413,
                code="body_too_large"))))
        cancel = threading.Event()

        def work() -> Iterator[bytes | Answer]:
            try:
                key = verify_key(settings.db_path, authorization)
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    raise ApiError("The body is not valid JSON.") from None
                started = build(body, key, cancel)
            except Exception as exc:
                yield Answer(*answer(exc))
                return
            if started.params.stream:
                yield from chunks(started, started.params.include_usage)
            else:
                yield whole(started)

        relayed = _relay(work(), cancel, pool)
        first = await anext(relayed, None)
        if first is None or isinstance(first[0], Answer):
            await relayed.aclose()
            return json_answer(first[0] if first else Answer(*answer(ApiError(
                "No reply.", status=500))))
        return StreamingResponse(_joined(first, relayed), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    async def in_worker(request: Request, work: Callable[[], dict[str, Any]]) -> Response:
        """A short answer computed in a worker, after the key is checked."""
        def checked() -> Answer:
            try:
                verify_key(settings.db_path, request.headers.get("authorization"))
                return Answer(200, work())
            except Exception as exc:
                return Answer(*answer(exc))
        return json_answer(await asyncio.get_running_loop().run_in_executor(pool, checked))

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

    async def chat_completions(request: Request) -> Response:
        return await respond(request, lambda body, key, cancel: calls.start(
            settings, chat_params(body), CallContext(PAGE, api_key_id=key.id), cancel))

    async def prompt_run(request: Request) -> Response:
        name = request.path_params["name"]

        def build(body: Any, key: ApiKey, cancel: threading.Event) -> calls.Started:
            params, version = calls.prompt_params(settings, name, body)
            return calls.start(settings, params,
                               CallContext(PAGE, name, version, api_key_id=key.id), cancel,
                               prompt={"name": name, "version": version})
        return await respond(request, build)

    # Plain Starlette routes: FastAPI's parameter machinery has nothing to do for a body we
    # read ourselves, and costs a tenth of a millisecond before the first token.
    app.add_route("/v1/chat/completions", chat_completions, methods=["POST"])
    app.add_route("/v1/prompts/{name}/run", prompt_run, methods=["POST"])

    @app.exception_handler(404)
    async def not_found(_request: Request, _exc: Exception) -> Response:
        return JSONResponse(error_body("No such endpoint.", "invalid_request_error",
                                       "unknown_url"), status_code=404)

    return app


async def _body(request: Request) -> bytes | None:
    """The request body, or None past MAX_BODY (read no further than that)."""
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > MAX_BODY:
            return None
        parts.append(part)
    return b"".join(parts)


async def _joined(first: list[bytes], rest: AsyncGenerator[list[bytes], None]
                  ) -> AsyncIterator[bytes]:
    """Each batch as one write; the call is cancelled at once if the client goes away."""
    try:
        yield b"".join(first)
        async for batch in rest:
            yield b"".join(batch)
    finally:
        await rest.aclose()


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
