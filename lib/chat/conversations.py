"""Conversations and their messages, stored beside the ledger.

Messages form a tree: each follows its parent, and an edit or a regenerate adds a sibling of
the message it replaces instead of deleting it. The branch shown and sent is the path from
the first message to the conversation's leaf; `choose_branch` moves the leaf to a sibling's
newest descendant, so later turns follow the branch chosen.

With sign-in on, a conversation is private to its owner: the functions that find
conversations take `owner` and see only theirs (None: one user, no sign-in, sees all).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lib.core import NotFoundError, now_iso
from lib.storage import Database

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
    settings: dict[str, Any] = field(default_factory=dict)  # the Chat page's, restored
    leaf_id: int | None = None         # the newest message of the branch shown (None: newest)

    @classmethod
    def from_row(cls, row: Any) -> Conversation:
        data = dict(row)
        return cls(**{**data, "settings": _settings(data.get("settings"))})


@dataclass
class StoredMessage:
    id: int
    role: str
    content: str
    created_at: str
    status: str = "ok"                 # ok | incomplete | cancelled
    call_id: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    parent_id: int | None = None       # the message it follows (None: it opens the chat)
    branches: tuple[int, ...] = ()     # it and its siblings, oldest first (one: no branch)


def _settings(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def create_conversation(db: Database, *, model: str = "", system: str = "",
                        title: str = NEW_TITLE, history: str = "window",
                        owner: str | None = None) -> int:
    """A new conversation; `history` is its strategy when it outgrows the window."""
    now = now_iso()
    with db.connect(write=True) as conn:
        cur = conn.execute("INSERT INTO conversations (title, model, system, created_at, "
                           "updated_at, history_strategy, owner) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (title, model, system, now, now, history, owner))
    return int(cur.lastrowid)


def _mine(owner: str | None, alias: str = "") -> tuple[str, list[str]]:
    """A WHERE clause keeping `owner`'s conversations (all of them for None)."""
    return ("1 = 1", []) if owner is None else (f"{alias}owner = ?", [owner])


def get_conversation(db: Database, conversation_id: int, *,
                     owner: str | None = None) -> Conversation:
    """A conversation; someone else's reads as missing (NotFoundError)."""
    where, args = _mine(owner)
    with db.connect() as conn:
        row = conn.execute(f"SELECT * FROM conversations WHERE id = ? AND {where}",
                           (conversation_id, *args)).fetchone()
    if row is None:
        raise NotFoundError(f"Conversation {conversation_id} no longer exists.")
    return Conversation.from_row(row)


def list_conversations(db: Database, *, owner: str | None = None) -> list[Conversation]:
    where, args = _mine(owner)
    with db.connect() as conn:
        rows = conn.execute(f"SELECT * FROM conversations WHERE {where} "
                            "ORDER BY updated_at DESC, id DESC", args)
        return [Conversation.from_row(r) for r in rows]


def count_conversations(db: Database, *, owner: str | None = None) -> int:
    where, args = _mine(owner)
    with db.connect() as conn:
        return conn.execute(f"SELECT COUNT(*) FROM conversations WHERE {where}",
                            args).fetchone()[0]


def update_conversation(db: Database, conversation_id: int, *, title: str | None = None,
                        model: str | None = None, system: str | None = None) -> None:
    """Change the title, model or system prompt; None leaves a field as it is."""
    with db.connect(write=True) as conn:
        conn.execute("UPDATE conversations SET title = COALESCE(?, title), model = "
                     "COALESCE(?, model), system = COALESCE(?, system), updated_at = ? "
                     "WHERE id = ?", (title, model, system, now_iso(), conversation_id))


def set_history_strategy(db: Database, conversation_id: int, strategy: str) -> None:
    """How the history meets the window (lib.chat.summaries checks the name)."""
    with db.connect(write=True) as conn:
        conn.execute("UPDATE conversations SET history_strategy = ? WHERE id = ?",
                     (strategy, conversation_id))


def delete_conversation(db: Database, conversation_id: int) -> None:
    with db.connect(write=True) as conn:
        conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))


def save_settings(db: Database, conversation_id: int, settings: dict[str, Any]) -> None:
    """Keep the Chat page's settings with the conversation (restored when it is reopened)."""
    with db.connect(write=True) as conn:
        conn.execute("UPDATE conversations SET settings = ? WHERE id = ?",
                     (json.dumps(settings, ensure_ascii=False, sort_keys=True),
                      conversation_id))


_NO_PARENT = object()


def add_message(db: Database, conversation_id: int, role: str, content: str, *,
                status: str = "ok", call_id: int | None = None,
                meta: dict[str, Any] | None = None, model: str | None = None,
                system: str | None = None, parent: int | object | None = _NO_PARENT) -> int:
    """Append a message to the branch shown (or after `parent`: None opens a new first
    message) and show the branch it ends; `model` / `system` also record the settings it was
    sent with."""
    now = now_iso()
    with db.connect(write=True) as conn:
        if parent is _NO_PARENT:
            parent = _leaf(conn, conversation_id)
        cur = conn.execute(
            "INSERT INTO messages (conversation_id, role, content, created_at, call_id, status, "
            "meta, parent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (conversation_id, role, content, now, call_id, status, json.dumps(meta or {}),
             parent))
        new = int(cur.lastrowid)
        conn.execute("UPDATE conversations SET updated_at = ?, model = COALESCE(?, model), "
                     "system = COALESCE(?, system), leaf_id = ? WHERE id = ?",
                     (now, model, system, new, conversation_id))
        # Name a new chat after its first message.
        if role == "user":
            conn.execute("UPDATE conversations SET title = ? WHERE id = ? AND title = ?",
                         (_title_from(content), conversation_id, NEW_TITLE))
    return new


def _leaf(conn: Any, conversation_id: int) -> int | None:
    """The newest message of the branch shown."""
    row = conn.execute("SELECT leaf_id, (SELECT MAX(id) FROM messages WHERE conversation_id "
                       "= ?) AS newest FROM conversations WHERE id = ?",
                       (conversation_id, conversation_id)).fetchone()
    if row is None:
        return None
    return row["leaf_id"] if row["leaf_id"] is not None else row["newest"]


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:57].rstrip() + "…"


def update_message(db: Database, message_id: int, content: str, *, status: str,
                   meta: dict[str, Any]) -> None:
    """Rewrite a reply in place (a paused agent run that went on)."""
    with db.connect(write=True) as conn:
        conn.execute("UPDATE messages SET content = ?, status = ?, meta = ? WHERE id = ?",
                     (content, status, json.dumps(meta), message_id))


def list_messages(db: Database, conversation_id: int) -> list[StoredMessage]:
    """The branch shown, oldest first: from the first message to the conversation's leaf,
    each message with its siblings (the other branches at that point)."""
    with db.connect() as conn:
        leaf = _leaf(conn, conversation_id)
        rows = conn.execute("SELECT id, role, content, created_at, status, call_id, meta, "
                            "parent_id FROM messages WHERE conversation_id = ? ORDER BY id",
                            (conversation_id,)).fetchall()
    by_id = {r["id"]: r for r in rows}
    children: dict[int | None, list[int]] = {}
    for r in rows:
        children.setdefault(r["parent_id"], []).append(r["id"])
    path_ids: list[int] = []
    at = leaf if leaf in by_id else (rows[-1]["id"] if rows else None)
    while at is not None and at in by_id and len(path_ids) <= len(rows):
        path_ids.append(at)
        at = by_id[at]["parent_id"]
    out = []
    for i in reversed(path_ids):
        r = by_id[i]
        siblings = tuple(c for c in children[r["parent_id"]] if by_id[c]["role"] == r["role"])
        out.append(StoredMessage(**{**dict(r), "meta": json.loads(r["meta"]),
                                    "branches": siblings}))
    return out


def choose_branch(db: Database, conversation_id: int, message_id: int) -> None:
    """Show the branch through `message_id`: its newest descendant becomes the leaf, so the
    page draws, and the next turn follows and sends, that branch."""
    with db.connect(write=True) as conn:
        rows = conn.execute("SELECT id, parent_id FROM messages WHERE conversation_id = ?",
                            (conversation_id,)).fetchall()
        children: dict[int | None, list[int]] = {}
        for r in rows:
            children.setdefault(r["parent_id"], []).append(r["id"])
        if message_id not in {r["id"] for r in rows}:
            raise NotFoundError("That reply is no longer in this conversation.")
        newest, todo = message_id, [message_id]
        while todo:  # ids grow: the subtree's largest id is its newest leaf
            at = todo.pop()
            newest = max(newest, at)
            todo.extend(children.get(at, ()))
        conn.execute("UPDATE conversations SET leaf_id = ? WHERE id = ?",
                     (newest, conversation_id))


def search_conversations(db: Database, query: str, *,
                         owner: str | None = None) -> list[Conversation]:
    """Conversations whose title or any message contains `query` (any case), newest first.
    Both sides are lowered: LIKE ignores case on SQLite, not on PostgreSQL."""
    like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    where, args = _mine(owner, "c.")
    with db.connect() as conn:
        rows = conn.execute(
            f"SELECT * FROM conversations c WHERE {where} AND (lower(c.title) LIKE lower(?) "
            "ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id "
            "AND lower(m.content) LIKE lower(?) ESCAPE '\\')) ORDER BY updated_at DESC, id DESC",
            (*args, like, like)).fetchall()
    return [Conversation.from_row(r) for r in rows]
