"""What a model chose (a tool's name, its arguments, a run's text) drawn in a code span or a
label never leaves it: rendered as CommonMark, no payload of the class makes an image."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from lib.ui.chat.tools import block_label
from lib.ui.kit.text import code, md

URL = "http://127.0.0.1:9/leak"
IMAGE = f"![x]({URL})"
BREAKOUTS = [
    f"a`{IMAGE}`", f"a``{IMAGE}``", f"```` {IMAGE} ````", f"`\n\n{IMAGE}",
    f"a\n\n{IMAGE}", f"a\r\n\r\n{IMAGE}", f"a\r\r{IMAGE}", f"a\n> {IMAGE}", f"a\n# {IMAGE}",
    f"a\n- {IMAGE}", f"a\n1. {IMAGE}", f"a\n```\n{IMAGE}\n```", f"a\n    {IMAGE}",
    f"x\n\n![b][r]\n\n[r]: {URL}", f"x`\n[r]: {URL}\n\n![b][r]", f"a\n<img src={URL}>",
    f"a\n\n<{URL}>", f"get_weather`){IMAGE}(`", f"\n\n{IMAGE}\n\n",
]

render = MarkdownIt("commonmark").enable("table").render


@pytest.mark.parametrize("payload", BREAKOUTS)
def test_a_value_in_a_code_span_stays_in_it(payload):
    for shown in (code(payload), md("Result of `{}` for the model", payload),
                  block_label(payload, None, False), block_label(payload, 12.0, True),
                  block_label(payload, None, False, pending=True),
                  md("└ :material/build: `{}` {} in {:,.0f} ms", payload, "answered", 3.0)):
        html = render(shown)
        assert "<img" not in html and "<a " not in html, (payload, shown, html)
        assert html.count("<p>") <= 1 and "<code>" in html, (payload, shown, html)
