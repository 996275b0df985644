"""A conversation exported as Markdown or JSON: its messages, the model's thinking and tool
calls in the order it wrote them, and the summary that later calls sent in place of its
oldest turns."""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict

from lib.chat.conversations import get_conversation, list_messages
from lib.chat.summaries import active_summary
from lib.chat.thoughts import group_label, reply_label, step_parts
from lib.storage import Database


def export_json(db: Database, conversation_id: int) -> str:
    conv = get_conversation(db, conversation_id)
    summary = active_summary(db, conversation_id)
    data = {**asdict(conv), "messages": [asdict(m) for m in list_messages(db, conversation_id)],
            "summary": asdict(summary) if summary else None}
    return json.dumps(data, indent=2, ensure_ascii=False)


def export_markdown(db: Database, conversation_id: int) -> str:
    conv = get_conversation(db, conversation_id)
    summary = active_summary(db, conversation_id)
    out = [f"# {conv.title}", "", f"*Model:* `{conv.model}`  ", f"*Started:* {conv.created_at}",
           ""]
    if conv.system:
        out += ["## System", "", closed_fences(conv.system), ""]
    for m in list_messages(db, conversation_id):
        note = "" if m.status == "ok" else f" ({m.status})"
        out += [f"## {m.role.capitalize()}{note}", ""]
        if m.meta.get("thinking"):
            out += thinking_markdown(m.meta["thinking"], reply_label(m.meta))
        for step in m.meta.get("steps", ()):  # an agent run: in the order the model wrote it
            for kind, part in step_parts(step):
                if kind == "thinking":
                    out += thinking_markdown(part, group_label(step, part))
                elif kind == "text":
                    out += [closed_fences(part), ""]
                else:
                    state = "error" if part.get("is_error") else "result"
                    out += [f"**Tool call** `{part['name']}` ({part.get('ms', 0):.0f} ms)", "",
                            "````json", part.get("raw") or json.dumps(part.get("arguments", {})),
                            "````", "", f"*{state}:*", "", "````text", part.get("result", ""),
                            "````", ""]
        out += [closed_fences(m.content), ""]
        if summary is not None and m.id == summary.through_id:
            out += [f"## Summary of the {summary.covered} messages above"
                    f"{' (edited)' if summary.edited else ''}", "",
                    "*Later calls sent this in their place.*", "",
                    closed_fences(summary.text), ""]
    return "\n".join(out)


def thinking_markdown(blocks: list[dict], label: str) -> list[str]:
    """Thinking as a collapsed block (an HTML <details>, which Markdown viewers fold)."""
    out = ["<details>", f"<summary>{html.escape(label)}</summary>", ""]
    for b in blocks:
        out += ["*Redacted by the provider.*" if b.get("data") else
                closed_fences(b.get("text", "")), ""]
    return [*out, "</details>", ""]


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def closed_fences(text: str) -> str:
    """The text with a code fence it left open closed (a reply cut off mid-block would
    otherwise swallow the rest of an exported file)."""
    opened: str | None = None
    for line in text.splitlines():
        m = _FENCE.match(line)
        if not m:
            continue
        fence, rest = m.groups()
        if opened is None:
            opened = fence
        elif fence[0] == opened[0] and len(fence) >= len(opened) and not rest.strip():
            opened = None
    return text if opened is None else f"{text.rstrip()}\n{opened}"
