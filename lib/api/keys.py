"""The HTTP API's own keys: made and revoked in the app, each with an optional budget in USD.

A secret is `pl-` and 43 random URL-safe characters (256 bits). Only its sha256 is stored,
with its first characters to tell keys apart; the secret itself is shown once, when made.
A plain hash suffices: the secret is random, not a password a person chose.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field

from lib.core import ApiKeyError, now_iso, to_micro
from lib.storage import Database

log = logging.getLogger(__name__)

PREFIX = "pl-"
SHOWN = 10          # characters of a secret kept in clear: "pl-" and seven more
MAX_NAME = 64


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    budget_micro: int | None
    spent_micro: int
    calls: int
    created_at: str
    last_used_at: str | None
    revoked_at: str | None
    owner: str | None = None          # who made it (signed in): its calls are theirs
    fallbacks: bool = False           # its requests may fall back to other models unasked
    cache: bool = False               # its requests use the response cache (lib.llm.cache)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str = field(repr=False)   # shown once; never stored, never logged


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


_COLUMNS = ("id, name, prefix, budget_micro, spent_micro, calls, created_at, last_used_at, "
            "revoked_at, owner, fallbacks, cache")


def _key(row) -> ApiKey:
    return ApiKey(**{**dict(row), "fallbacks": bool(row["fallbacks"]),
                     "cache": bool(row["cache"])})


def _budget(budget_usd: float | None) -> int | None:
    if budget_usd is None:
        return None
    if budget_usd < 0:
        raise ApiKeyError("A key's budget cannot be negative.", status=400, code="invalid_budget")
    return to_micro(budget_usd)


def create_key(db: Database, name: str, budget_usd: float | None = None,
               owner: str | None = None, *, fallbacks: bool = False,
               cache: bool = False) -> NewKey:
    """A new key, made by `owner` (None without sign-in); its secret is in the result and
    nowhere else. With `cache`, its requests use the response cache (a request's
    Cache-Control can still say no-cache or no-store). With `fallbacks`, a request that does
    not say otherwise may be answered by the next model of its model's fallback chain."""
    name = " ".join(str(name).split())
    if not name or len(name) > MAX_NAME:
        raise ApiKeyError(f"A key needs a name of 1 to {MAX_NAME} characters.", status=400,
                          code="invalid_name")
    budget = _budget(budget_usd)
    secret = PREFIX + secrets.token_urlsafe(32)
    with db.connect(write=True) as conn:
        cur = conn.execute("INSERT INTO api_keys (name, prefix, secret_hash, budget_micro, "
                           "created_at, owner, fallbacks, cache) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (name, secret[:SHOWN], digest(secret), budget, now_iso(), owner,
                            int(fallbacks), int(cache)))
        key_id = int(cur.lastrowid)
    log.info("api key %d created", key_id)
    return NewKey(get_key(db, key_id), secret)


def get_key(db: Database, key_id: int) -> ApiKey:
    with db.connect() as conn:
        row = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?",
                           (key_id,)).fetchone()
    if row is None:
        raise ApiKeyError(f"There is no API key {key_id}.", status=404, code="key_not_found")
    return _key(row)


def list_keys(db: Database) -> list[ApiKey]:
    """Every key, newest first, revoked ones included (their spend still counts)."""
    with db.connect() as conn:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY id DESC").fetchall()
    return [_key(r) for r in rows]


def revoke_key(db: Database, key_id: int) -> None:
    """From now on the key gets 401; its ledger rows stay. Revoking twice changes nothing."""
    with db.connect(write=True) as conn:
        conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                     (now_iso(), key_id))
    log.info("api key %d revoked", key_id)


def set_key_budget(db: Database, key_id: int, budget_usd: float | None) -> None:
    """A new lifetime budget (None: no budget); what the key spent so far still counts."""
    budget = _budget(budget_usd)
    with db.connect(write=True) as conn:
        conn.execute("UPDATE api_keys SET budget_micro = ? WHERE id = ?", (budget, key_id))


def set_key_cache(db: Database, key_id: int, cache: bool) -> None:
    """Whether the key's requests use the response cache from now on."""
    with db.connect(write=True) as conn:
        conn.execute("UPDATE api_keys SET cache = ? WHERE id = ?", (int(cache), key_id))


def verify_key(db: Database, authorization: str | None) -> ApiKey:
    """The key an `Authorization: Bearer <secret>` header names; ApiKeyError (401) when it is
    missing, unknown or revoked. A read by hash: no secret is compared character by
    character, so timing tells nothing about it."""
    scheme, _, secret = (authorization or "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise ApiKeyError("No API key was sent.",
                          hint="Send `Authorization: Bearer pl-...` with a key made on the "
                               "app's API page.")
    with db.connect() as conn:
        row = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE secret_hash = ?",
                           (digest(secret),)).fetchone()
    if row is None:
        raise ApiKeyError("Incorrect API key provided.",
                          hint="Make a key on the app's API page.")
    key = _key(row)
    if key.revoked:
        raise ApiKeyError(f"The API key '{key.name}' ({key.prefix}…) was revoked.",
                          hint="Make a new key on the app's API page.")
    return key
