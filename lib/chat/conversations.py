"""Conversations and their messages, stored beside the ledger.

With sign-in on, a conversation is private to its owner: the functions that find
conversations take `owner` and see only theirs (None: one user, no sign-in, sees all).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lib.core import NotFoundError, now_iso
from lib.storage import connect

NEW_TITLE = "New chat"


@dataclass
class Conversation:
    id: int
    title: str
    model: str
    system: str
    created_at: str
    updated_at: str
    history_strategy: str = "window"   # or "summarise" (lib.chat.summaries)
    owner: str | None = None           # the signed-in user who started it


@dataclass
class StoredMessage:
    id: int
    role: str
    content: str
    created_at: str
    status: str = "ok"                 # ok | incomplete | cancelled
    call_id: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def create_conversation(path: Path, *, model: str = "", system: str = "",
                        title: str = NEW_TITLE, history: str = "window",
                        owner: str | None = None) -> int:
    """A new conversation; `history` is its strategy when it outgrows the window."""
    now = now_iso()
    with connect(path, write=True) as conn:
        cur = conn.execute("INSERT INTO conversations (title, model, system, created_at, "
                           "updated_at, history_strategy, owner) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (title, model, system, now, now, history, owner))
    return int(cur.lastrowid)


def _mine(owner: str | None, alias: str = "") -> tuple[str, list[str]]:
    """A WHERE clause keeping `owner`'s conversations (all of them for None)."""
    return ("1 = 1", []) if owner is None else (f"{alias}owner = ?", [owner])


def get_conversation(path: Path, conversation_id: int, *,
                     owner: str | None = None) -> Conversation:
    """A conversation; someone else's reads as missing (NotFoundError)."""
    where, args = _mine(owner)
    with connect(path) as conn:
        row = conn.execute(f"SELECT * FROM conversations WHERE id = ? AND {where}",
                           (conversation_id, *args)).fetchone()
    if row is None:
        raise NotFoundError(f"Conversation {conversation_id} no longer exists.")
    return Conversation(**dict(row))


def list_conversations(path: Path, *, owner: str | None = None) -> list[Conversation]:
    where, args = _mine(owner)
    with connect(path) as conn:
        rows = conn.execute(f"SELECT * FROM conversations WHERE {where} "
                            "ORDER BY updated_at DESC, id DESC", args)
        return [Conversation(**dict(r)) for r in rows]


def count_conversations(path: Path, *, owner: str | None = None) -> int:
    where, args = _mine(owner)
    with connect(path) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM conversations WHERE {where}",
                            args).fetchone()[0]


def update_conversation(path: Path, conversation_id: int, *, title: str | None = None,
                        model: str | None = None, system: str | None = None) -> None:
    """Change the title, model or system prompt; None leaves a field as it is."""
    with connect(path, write=True) as conn:
        conn.execute("UPDATE conversations SET title = COALESCE(?, title), model = "
                     "COALESCE(?, model), system = COALESCE(?, system), updated_at = ? "
                     "WHERE id = ?", (title, model, system, now_iso(), conversation_id))


def delete_conversation(path: Path, conversation_id: int) -> None:
    with connect(path, write=True) as conn:
        conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))


def add_message(path: Path, conversation_id: int, role: str, content: str, *,
                status: str = "ok", call_id: int | None = None,
                meta: dict[str, Any] | None = None, model: str | None = None,
                system: str | None = None) -> int:
    """Append a message; `model` / `system` also record the settings it was sent with."""
    now = now_iso()
    with connect(path, write=True) as conn:
        cur = conn.execute(
            "INSERT INTO messages (conversation_id, role, content, created_at, call_id, status, "
            "meta) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (conversation_id, role, content, now, call_id, status, json.dumps(meta or {})))
        conn.execute("UPDATE conversations SET updated_at = ?, model = COALESCE(?, model), "
                      "system = COALESCE(?, system) WHERE id = ?",
                      (now, model, system, conversation_id))
        # Name a new chat after its first message.
        if role == "user":
            conn.execute("UPDATE conversations SET title = ? WHERE id = ? AND title = ?",
                         (_title_from(content), conversation_id, NEW_TITLE))
    return int(cur.lastrowid)


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:57].rstrip() + "…"


def update_message(path: Path, message_id: int, content: str, *, status: str,
                   meta: dict[str, Any]) -> None:
    """Rewrite a reply in place (a paused agent run that went on)."""
    with connect(path, write=True) as conn:
        conn.execute("UPDATE messages SET content = ?, status = ?, meta = ? WHERE id = ?",
                     (content, status, json.dumps(meta), message_id))


def list_messages(path: Path, conversation_id: int) -> list[StoredMessage]:
    with connect(path) as conn:
        rows = conn.execute("SELECT id, role, content, created_at, status, call_id, meta "
                            "FROM messages WHERE conversation_id = ? ORDER BY id",
                            (conversation_id,)).fetchall()
    return [StoredMessage(**{**dict(r), "meta": json.loads(r["meta"])}) for r in rows]


def rewind(path: Path, conversation_id: int, message_id: int) -> int:
    """Remove a message and every later one (an edit or a regenerate replaces them). The
    ledger keeps every call they came from. Returns how many were removed."""
    with connect(path, write=True) as conn:
        return conn.execute("DELETE FROM messages WHERE conversation_id = ? AND id >= ?",
                            (conversation_id, message_id)).rowcount


def search_conversations(path: Path, query: str, *,
                         owner: str | None = None) -> list[Conversation]:
    """Conversations whose title or any message contains `query` (any case), newest first.
    Both sides are lowered: LIKE ignores case on SQLite, not on PostgreSQL."""
    like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    where, args = _mine(owner, "c.")
    with connect(path) as conn:
        rows = conn.execute(
            f"SELECT * FROM conversations c WHERE {where} AND (lower(c.title) LIKE lower(?) "
            "ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id "
            "AND lower(m.content) LIKE lower(?) ESCAPE '\\')) ORDER BY updated_at DESC, id DESC",
            (*args, like, like)).fetchall()
    return [Conversation(**dict(r)) for r in rows]
