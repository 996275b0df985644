"""Fencing outside text for a model: user input and documents in delimiters it can tell from
instructions, with anything that could end the fence early defused.

A model reads a look-alike as the thing it looks like, so the fence's tag is found the way a
reader would find it: through case (`</UNTRUSTED>`), compatibility forms (fullwidth
`＜/ｕｎｔｒｕｓｔｅｄ＞`, mathematical or circled letters, ligatures), accents, letters of
other scripts that look the same (Cyrillic `е`, Greek `τ`), other angle brackets (`‹`, `〈`,
`❮`), escapes (`&lt;`, `\\u003c`, `%3C`), and anything invisible or spacing in between
(zero-width and format characters, soft hyphens, combining marks, spaces, line breaks,
dashes). Every such tag has its opening bracket replaced by `[`, which nothing reads as an
angle bracket, so the only tags left are the fence's own.
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Any

import regex

_WORD = "untrusted"

# Brackets and slashes that are not one by compatibility (NFKD handles ＜ ﹤ ≮ ／ ＼).
_LESS = "<‹〈〈⟨❮❬❰«《≺⋖⦉⧼˂ᐸᑉᚲ⟪⊰❨⟮"
_SLASH = "/\\⁄∕⧸⧹╱╲᜵〳ノ丿⼃⟋⟍"
# Letters of other scripts (and Latin extensions) that read as those of the tag's word.
_LOOKALIKES = {
    "u": "սυʋᴜꞟ∪⋃ᑌꭎꭒՍꓴ𐓶ʊμ",
    "n": "ոռпηɴᥒꓠΝⲚ",
    "t": "тτᴛŧƭʈꓔТΤᎢⲧ",
    "r": "гᴦⲅꭇꭈꮁɼɽɾʀᚱꓣᏒⲄ",
    "s": "ѕꜱƽꮪʂȿꞩꓢᏚЅ",
    "e": "еҽ℮ꬲεєɘəꓰᎬЕΕᴇ",
    "d": "ԁɗđɖᑯꓒꓓᎠᴅ",
}
_SKELETON = {**{c: "<" for c in _LESS}, **{c: "/" for c in _SLASH},
             **{c: letter for letter, chars in _LOOKALIKES.items() for c in chars}}
_TABLE = str.maketrans({**_SKELETON, **{c: c.lower() for c in string.ascii_uppercase}})
# What shows nothing or only space: format characters (zero-width, soft hyphen, tags),
# controls, marks, spaces and line breaks, dashes, fillers; unassigned and private ones too.
_BLANKS = r"\p{Cf}\p{Cc}\p{Cs}\p{Co}\p{Cn}\p{Z}\s\u115f\u1160\u3164\uffa0\u2800\u180e"
_SKIP = regex.compile(rf"[{_BLANKS}\p{{M}}\p{{Pd}}]")
_COMPAT = regex.compile(r"\p{NFKD_QC=N}")   # what compatibility decomposition changes
# In the reader's view below each character of the text stands for one character: "<", "/",
# a letter, " " (shows nothing or only space), "\x01" (the ligature st), or itself.
_TAG = re.compile(r"<[ /]*u *n *t *r *u *(?:s *t|\x01) *e *d")
# Escaped brackets and slashes, read as what they stand for.
_ESCAPE = re.compile(r"&(?:lt|#0*60|#x0*3c);?|\\(?:u003c|x3c)|%3c|(?P<slash>&(?:sol|#0*47|"
                     r"#x0*2f);?|\\(?:u002f|x2f)|%2f)", re.IGNORECASE)
# What could end an attribute of the fence's header line, or open a tag in it.
_BREAKERS = str.maketrans(dict.fromkeys('"<>[]“”„‟″〃«»›〉〉⟩❯❭❱》' + _LESS, " "))
_BLANK = regex.compile(rf"[{_BLANKS}]+")


def _reads_as(char: str) -> str:
    """How a reader takes a character that compatibility decomposition changes (＜ ｕ 𝐮 ü ﬆ)."""
    parts = [p for p in unicodedata.normalize("NFKD", char)
             if unicodedata.category(p) not in ("Mn", "Me", "Mc")]   # accents: ú reads as u
    seen = "".join(_SKELETON.get(p, p).casefold() for p in parts).strip()
    if seen == "st":
        return "\x01"
    return seen if len(seen) == 1 and seen in "</" + _WORD else "\x02" if seen else " "


def _view(text: str) -> str:
    """The text as a reader takes it, one character for one (so positions carry over): each
    distinct character is classed once, the text itself is only walked in C."""
    distinct = "".join(set(text))
    seen = text.translate({**_TABLE, **{ord(c): _reads_as(c) for c in _COMPAT.findall(distinct)},
                           **{ord(c): " " for c in _SKIP.findall(distinct)}})
    if any(c in text for c in "&\\%"):
        pieces, last = [], 0
        for m in _ESCAPE.finditer(text):
            pieces += [seen[last:m.start()], "/" if m.group("slash") else "<",
                       " " * (m.end() - m.start() - 1)]
            last = m.end()
        seen = "".join(pieces) + seen[last:]
    return seen


def defuse(text: str) -> str:
    """The text with the opening bracket of every tag a reader could take for the fence's
    own replaced by `[`; everything else kept as it was. Linear in the text."""
    out, last = [], 0
    for m in _TAG.finditer(_view(text)):
        out += [text[last:m.start()], "["]
        escape = _ESCAPE.match(text, m.start())
        last = escape.end() if escape and not escape.group("slash") else m.start() + 1
    return "".join(out) + text[last:] if out else text


def untrusted(text: Any, label: str = "input") -> str:
    """Wrap text from a user or a document in delimiters a model can tell from instructions.

    Anything in the text that reads as the fence's tag is defused, so the text cannot end
    the block early or open a new one.
    """
    tag = re.sub(r"[^a-z0-9_-]", "", str(label).lower()) or "input"
    return f'<untrusted source="{tag}">\n{defuse(str(text))}\n</untrusted>'


def documents(chunks: Any) -> str:
    """Number retrieved chunks [1], [2], ... each wrapped as untrusted text."""
    def attr(value: Any) -> str:
        # File names and headings come from uploads: no quotes, brackets or line breaks (nor
        # their look-alikes, nor invisible characters), so they cannot end the attribute and
        # speak outside the fence.
        shown = unicodedata.normalize("NFKC", str(value)).translate(_BREAKERS)
        return _BLANK.sub(" ", shown).strip()[:120]

    out = []
    for i, chunk in enumerate(chunks or [], 1):
        if isinstance(chunk, dict):
            where = " ".join(f'{k}="{attr(chunk[k])}"' for k in ("source", "page", "heading")
                             if chunk.get(k) not in (None, ""))
            text = chunk.get("text", "")
        else:
            where, text = "", chunk
        out.append(f"[{i}] {where}".rstrip() + "\n" + untrusted(text, "document"))
    return "\n\n".join(out)
