"""The response cache: a complete reply kept under an exact key of its request and replayed,
as the same events, when the identical request comes again. Exact match only, never a
similarity match: another question must never get this one's answer.

The key is the sha256 of a canonical JSON of the request as the model gets it (every field
of ChatRequest: model, system, messages with their tool calls, results and thinking, tools,
tool choice, schema, every sampling parameter), the provider and the catalog key, and the
repeat index (an eval's repeats are distinct calls). Nothing of the request is stored or
logged in clear: the store holds the key and the reply.

Off unless asked for: per page (PROMPTLAB_CACHE), per Compare run, per API key or request
(CallSpec.cache). The store is the database, or Redis when PROMPTLAB_REDIS_URL is set; a
store that fails (Redis down) is a miss and a logged warning, never a failed call. Only a
whole reply is written (lib.llm.call decides): a cut stream, an error or a cancelled call
never is.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from lib.core import Settings
from lib.llm.protocol import (
    ChatRequest,
    Event,
    Stop,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolCall,
    Usage,
)
from lib.storage import Database

log = logging.getLogger(__name__)

VERSION = 1  # in every key: a change to what is keyed or stored starts a fresh cache
# What a reply is made of, as stored: every event a live reply yields, and its usage.
_KINDS: dict[str, type] = {t.__name__: t for t in (TextDelta, ThinkingDelta, Thinking,
                                                    ToolCall, Usage, Stop)}


class CacheMode(enum.Enum):
    """How a call uses the cache. NO_CACHE: never read, but write (a fresh answer, kept);
    NO_STORE: read, but never write (as HTTP's Cache-Control directives)."""

    OFF = "off"
    ON = "on"
    NO_CACHE = "no-cache"
    NO_STORE = "no-store"

    @property
    def reads(self) -> bool:
        return self in (CacheMode.ON, CacheMode.NO_STORE)

    @property
    def writes(self) -> bool:
        return self in (CacheMode.ON, CacheMode.NO_CACHE)

    def restricted(self, cache_control: str | None) -> CacheMode:
        """This mode under a request's `Cache-Control` header: `no-cache` stops the read,
        `no-store` the write (both: off). A header never turns the cache on."""
        directives = {d.strip().split("=")[0].lower() for d in (cache_control or "").split(",")}
        reads = self.reads and "no-cache" not in directives
        writes = self.writes and "no-store" not in directives
        return {(True, True): CacheMode.ON, (True, False): CacheMode.NO_STORE,
                (False, True): CacheMode.NO_CACHE}.get((reads, writes), CacheMode.OFF)


def mode_for(settings: Settings, page: str, asked: CacheMode | None) -> CacheMode:
    """What a call uses: what its caller asked for, else on where its page is listed in
    PROMPTLAB_CACHE."""
    if asked is not None:
        return asked
    return CacheMode.ON if page in settings.cache_pages else CacheMode.OFF


# -- the key -------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """`value` as JSON values; a dataclass keeps its type's name (a tool result and a tool
    call with the same fields are different requests)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"~": type(value).__name__, **{f.name: _plain(getattr(value, f.name))
                                              for f in dataclasses.fields(value)}}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def request_key(provider: str, model_key: str, request: ChatRequest, repeat: int = 0) -> str:
    """The sha256 (hex) of the normalised request: what a reply is kept under."""
    doc = {"v": VERSION, "provider": provider, "model": model_key, "repeat": repeat,
           "request": _plain(request)}
    canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                           allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


# -- the reply -----------------------------------------------------------------------------
def dump_reply(events: Iterable[Event]) -> str:
    """A reply's events as JSON (the kinds a live reply yields, its usage and stop)."""
    return json.dumps([{"~": type(e).__name__, **dataclasses.asdict(e)} for e in events
                       if type(e).__name__ in _KINDS], ensure_ascii=False)


def load_reply(text: str) -> list[Event]:
    events: list[Event] = []
    for item in json.loads(text):
        kind = _KINDS[item.pop("~")]
        events.append(kind(**item))
    return events


# -- the stores ----------------------------------------------------------------------------
class CacheStore(Protocol):
    def get(self, key: str) -> str | None:
        """The reply kept under `key`, unless none is or it is older than the TTL."""

    def put(self, key: str, reply: str) -> None:
        """Keep `reply` under `key` (the oldest go past the size limit)."""

    def clear(self) -> int:
        """Forget every reply; returns how many went."""


class DatabaseStore:
    """Replies in the app's database (table response_cache, migration 0026)."""

    def __init__(self, db: Database, ttl_s: float, max_entries: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.db, self.ttl_s, self.max_entries, self.clock = db, ttl_s, max_entries, clock

    def get(self, key: str) -> str | None:
        with self.db.connect() as conn:
            row = conn.execute("SELECT reply, created FROM response_cache WHERE key = ?",
                               (key,)).fetchone()
        if row is None or self.clock() - row[1] > self.ttl_s:
            return None
        return str(row[0])

    def put(self, key: str, reply: str) -> None:
        now = self.clock()
        with self.db.connect(write=True) as conn:
            conn.execute("DELETE FROM response_cache WHERE created < ?", (now - self.ttl_s,))
            conn.execute("INSERT INTO response_cache (key, reply, created) VALUES (?, ?, ?) "
                         "ON CONFLICT (key) DO UPDATE SET reply = excluded.reply, "
                         "created = excluded.created", (key, reply, now))
            # Past the limit, the first written go (walked back along the primary key).
            conn.execute("DELETE FROM response_cache WHERE id <= (SELECT id FROM "
                         "response_cache ORDER BY id DESC LIMIT 1 OFFSET ?)",
                         (self.max_entries,))

    def clear(self) -> int:
        with self.db.connect(write=True) as conn:
            return int(conn.execute("DELETE FROM response_cache").rowcount)


class RedisStore:
    """Replies in Redis, shared by every process: each under its key with the TTL as its
    expiry, and a sorted set of keys by age that bounds how many are kept. Any Redis error
    is raised: `Lookup` turns it into a miss and a warning."""

    PREFIX = "promptlab:cache:"
    INDEX = "promptlab:cache-index"

    def __init__(self, client: Any, ttl_s: float, max_entries: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.client, self.ttl_s, self.max_entries, self.clock = client, ttl_s, max_entries, clock

    def get(self, key: str) -> str | None:
        raw = self.client.get(self.PREFIX + key)
        if raw is None:
            return None
        created, _, reply = raw.decode("utf-8").partition("\n")
        # The expiry is Redis's clock; the age check is ours (a test's clock is injected).
        return None if self.clock() - float(created) > self.ttl_s else reply

    def put(self, key: str, reply: str) -> None:
        now = self.clock()
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self.PREFIX + key, f"{now!r}\n{reply}".encode(),
                 ex=max(1, math.ceil(self.ttl_s)))
        pipe.zadd(self.INDEX, {key: now})
        pipe.zremrangebyscore(self.INDEX, "-inf", now - self.ttl_s)  # expired already
        pipe.zcard(self.INDEX)
        extra = pipe.execute()[-1] - self.max_entries
        if extra > 0:
            oldest = self.client.zpopmin(self.INDEX, extra)
            self.client.delete(*(self.PREFIX + k.decode() for k, _ in oldest))

    def clear(self) -> int:
        keys = list(self.client.scan_iter(match=self.PREFIX + "*", count=1000))
        if keys:
            self.client.delete(*keys)
        self.client.delete(self.INDEX)
        return len(keys)


_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def redis_client(url: str) -> Any:
    """One client (a connection pool) per Redis URL in this process; short timeouts, so an
    outage is a quick miss rather than a call held up."""
    with _clients_lock:
        if url not in _clients:
            import redis  # only where Redis is configured

            _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=0.5,
                                                 socket_timeout=1.0)
        return _clients[url]


def store_for(settings: Settings, clock: Callable[[], float] = time.time) -> CacheStore:
    """Redis when PROMPTLAB_REDIS_URL is set, else the database."""
    if settings.redis_url:
        return RedisStore(redis_client(settings.redis_url), settings.cache_ttl_s,
                          settings.cache_max_entries, clock)
    return DatabaseStore(settings.db, settings.cache_ttl_s, settings.cache_max_entries, clock)


def clear(settings: Settings) -> int:
    """Forget every cached reply (the Costs page's button); returns how many went."""
    return store_for(settings).clear()


@dataclass(frozen=True)
class Lookup:
    """One call's use of the cache: its key, what it may do, and where. A store that fails
    is a miss (or a reply not kept) and a warning: the call goes on."""

    store: CacheStore
    key: str
    mode: CacheMode

    def read(self) -> list[Event] | None:
        if not self.mode.reads:
            return None
        try:
            stored = self.store.get(self.key)
            return None if stored is None else load_reply(stored)
        except Exception as exc:
            log.warning("response cache: the read failed (%s: %s); the call goes to the model",
                        type(exc).__name__, exc)
            return None

    def write(self, events: Iterable[Event]) -> None:
        if not self.mode.writes:
            return
        try:
            self.store.put(self.key, dump_reply(events))
        except Exception as exc:
            log.warning("response cache: the reply was not kept (%s: %s)",
                        type(exc).__name__, exc)
