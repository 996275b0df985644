"""HTML: every sentence once, none lost, headings kept as section headings."""

from __future__ import annotations

import re

from lib import knowledge

PAGE = b"""<!doctype html><html><head><title>T</title><style>p{color:red}</style></head>
<body>
<nav><ul><li><a href="/">Home</a></li></ul></nav>
<main>
  <h1>Returns policy</h1>
  <div><p>Sentence one is in a paragraph inside a div.</p></div>
  <section><div><div><p>Sentence two is nested three levels deep.</p></div></div></section>
  <ul><li><p>Sentence three is a paragraph in a list item.</p>
      <ul><li>Sentence four is a nested list item.</li></ul></li></ul>
  <dl><dt>Term</dt><dd><p>Sentence five is a paragraph in a definition.</p></dd></dl>
  <blockquote><p>Sentence six is quoted.</p></blockquote>
  <table><tr><td><p>Sentence seven sits in a table cell.</p></td></tr></table>
  <div>Sentence eight is loose text in a div, <a href="#">with a link</a> inside it.</div>
  <h2>Shipping</h2>
  <p>Sentence nine follows the second heading.</p>
  <pre>line one
  line two</pre>
  <script>var hidden = "Sentence never";</script>
</main></body></html>"""


def test_every_sentence_once_and_none_lost():
    parsed = knowledge.parse(PAGE, "policy.html")
    assert parsed.kind == "html"
    text = "\n".join(s.text for s in parsed.sections)
    sentences = re.findall(r"Sentence \w+", text)
    assert sentences == [f"Sentence {n}" for n in (
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")]
    assert "with a link inside it" in text and "Sentence never" not in text
    assert "line one\n  line two" in text  # <pre> keeps its lines
    assert [s.heading for s in parsed.sections] == ["Returns policy", "Shipping"]


def test_an_html_file_gives_chunks_without_repeats(settings):
    kb = knowledge.create_kb(settings, "html")
    [result] = knowledge.ingest(settings, kb, [("policy.html", PAGE)])
    assert result.status == "stored"
    [doc] = knowledge.documents(settings.db, kb)
    chunks = knowledge.chunks_of(settings.db, doc.id)
    for chunk in chunks:
        found = re.findall(r"Sentence \w+", chunk["text"])
        assert len(found) == len(set(found)), chunk["text"]
