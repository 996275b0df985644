"""The <think>…</think> splitter: the same split whatever the chunks, cut at every position
(once and twice); only a block opening the reply counts; a partial tag at the end is kept."""

from __future__ import annotations

import itertools

import pytest

from lib.llm.providers.thinktags import ThinkTags


def split(*chunks: str) -> tuple[str, str]:
    """(thinking, text) of a stream in these chunks; checks no piece is empty."""
    tags = ThinkTags()
    pieces = [p for c in chunks for p in tags.feed(c)] + list(tags.end())
    assert all(text for _, text in pieces)
    return ("".join(t for thinking, t in pieces if thinking),
            "".join(t for thinking, t in pieces if not thinking))


CASES = {
    "a block then the answer": ("<think>\nSix sevens.\n</think>\n\nIt is 42.",
                                "\nSix sevens.\n", "It is 42."),
    "blank lines before the block": ("\n <think>a < b</think>b", "a < b", "b"),
    "no block": ("It is 42 < 43.", "", "It is 42 < 43."),
    "a tag later in the answer is text": ("See <think>x</think>.", "", "See <think>x</think>."),
    "a block never closed": ("<think>still going </thi", "still going </thi", ""),
    "like a tag, but not one": ("<thing>", "", "<thing>"),
    "an empty block": ("<think></think>Hi", "", "Hi"),
    "only blank": ("\n\n", "", "\n\n"),
}


@pytest.mark.parametrize(("stream", "thinking", "text"), CASES.values(), ids=CASES.keys())
def test_every_cut_gives_the_same_split(stream, thinking, text):
    assert split(stream) == (thinking, text)
    for cut in range(1, len(stream)):
        assert split(stream[:cut], stream[cut:]) == (thinking, text), cut
    for a, b in itertools.combinations(range(1, len(stream)), 2):
        assert split(stream[:a], stream[a:b], stream[b:]) == (thinking, text), (a, b)


def test_one_character_at_a_time_streams_the_thinking_as_it_comes():
    tags = ThinkTags()
    out = [list(tags.feed(c)) for c in "<think>ab</think>c"]
    assert out[7] == [(True, "a")] and out[8] == [(True, "b")]  # not held to the end
    assert out[-1] == [(False, "c")]
