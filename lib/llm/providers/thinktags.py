"""Reasoning written into the answer's text: Qwen3, DeepSeek-R1 and others served by Ollama or
llama.cpp open their reply with `<think>…</think>`. Split out as it streams, the tags cut
across chunks anywhere; only a block that opens the reply counts (an answer may mention the
tag), and the blank lines between it and the answer go."""

from __future__ import annotations

from collections.abc import Iterator

OPEN, CLOSE = "<think>", "</think>"


def _partial(text: str, tag: str) -> int:
    """How many characters at the end of `text` could begin `tag` (held for the next chunk)."""
    for n in range(min(len(text), len(tag) - 1), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0


class ThinkTags:
    """`feed` each content chunk, then `end`; both yield (is_thinking, text) pieces in order."""

    def __init__(self) -> None:
        self._state = "start"  # start -> (thinking -> after ->) answer
        self._held = ""

    def feed(self, chunk: str) -> Iterator[tuple[bool, str]]:
        text, self._held = self._held + chunk, ""
        while text:
            if self._state == "answer":
                yield False, text
                return
            if self._state == "start":
                body = text.lstrip()
                if body.startswith(OPEN):
                    self._state, text = "thinking", body[len(OPEN):]
                elif OPEN.startswith(body):  # blank so far, or a tag begun: wait for more
                    self._held = text
                    return
                else:
                    self._state = "answer"
            elif self._state == "thinking":
                end = text.find(CLOSE)
                if end < 0:
                    keep = _partial(text, CLOSE)
                    self._held = text[len(text) - keep:]
                    if text[:len(text) - keep]:
                        yield True, text[:len(text) - keep]
                    return
                if end:
                    yield True, text[:end]
                self._state, text = "after", text[end + len(CLOSE):]
            else:  # after the block: its trailing blank lines are not the answer's
                text = text.lstrip()
                if text:
                    self._state = "answer"

    def end(self) -> Iterator[tuple[bool, str]]:
        """What a partial tag held back at the end of the stream was: the text it is in."""
        held, self._held = self._held, ""
        if held and self._state != "after":
            yield self._state == "thinking", held
