"""A document's type comes from its structure: a page that mentions %PDF- is not a PDF."""

from __future__ import annotations

import pytest
from corpus import pdf_with_text

from lib import knowledge

HTML = (b"<!doctype html><html><head><title>File signatures</title></head><body>"
        b"<h1>Magic numbers</h1><p>A PDF starts with the bytes %PDF- and a version.</p>"
        b"<p>A ZIP starts with PK.</p></body></html>")


@pytest.mark.parametrize(("data", "kind"), [
    (HTML, "html"),
    (b"Notes on formats.\n\nPDF files begin with %PDF-1.7 and end with %%EOF.\n", "text"),
    (pdf_with_text(["A real PDF"]), "pdf"),
    (b"\xef\xbb\xbf" + pdf_with_text(["After a byte-order mark"]), "pdf"),
    (b"\n\n  " + pdf_with_text(["After blank lines"]), "pdf"),
    (b"\x89\x02\x9c\xfe" * 8 + pdf_with_text(["After binary junk"]), "pdf"),
])
def test_the_type_is_read_from_the_structure(data, kind):
    assert knowledge.detect(data) == kind


def test_an_html_page_about_pdfs_is_ingested_as_html(settings):
    kb = knowledge.create_kb(settings, "signatures")
    [result] = knowledge.ingest(settings, kb, [("signatures.html", HTML)])
    assert result.status == "stored", result.message
    [doc] = knowledge.documents(settings.db, kb)
    assert doc.kind == "html"
    assert "starts with the bytes %PDF-" in knowledge.chunks_of(settings.db, doc.id)[0]["text"]
