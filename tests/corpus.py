"""Test documents, built in code: valid ones of each type, and a hostile corpus."""

from __future__ import annotations

import gzip
import io
import os
import zipfile


def pdf_with_text(pages: list[str]) -> bytes:
    """A small, valid PDF whose pages hold the given text (Helvetica, one line each)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in pages:
        content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        page_no = len(objects) + 1
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       f"/Contents {page_no + 1} 0 R /Resources << /Font << /F1 "
                       f"{3 + 2 * len(pages)} 0 R >> >> >>")
        objects.append(f"<< /Length {len(content)} >>\nstream\n{content.decode()}\nendstream")
        kids.append(f"{page_no} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>"
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
              .encode())
    return out.getvalue()


def docx_with(paragraphs: list[tuple[str, str]]) -> bytes:
    """A Word file of (style, text) paragraphs; style "h" makes a heading."""
    import docx

    document = docx.Document()
    for style, text in paragraphs:
        if style == "h":
            document.add_heading(text, level=1)
        else:
            document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue()


def _docx_replacing(document_xml: bytes) -> bytes:
    """A real .docx whose word/document.xml is replaced."""
    base = zipfile.ZipFile(io.BytesIO(docx_with([("p", "x")])))
    files = {n: base.read(n) for n in base.namelist()}
    files["word/document.xml"] = document_xml
    return _zip(files)


def _encrypted_pdf() -> bytes:
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(pdf_with_text(["Top secret plans"])))
    writer = pypdf.PdfWriter()
    for page in reader.pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _blank_pdf(pages: int) -> bytes:
    import pypdf

    writer = pypdf.PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(612, 792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


W = b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'


def hostile() -> dict[str, bytes]:
    """At least 30 malformed or hostile files across the six types; none may be stored."""
    good_pdf = pdf_with_text(["Some text on a page"])
    huge_line = b"x" * 6_000_000
    # Each entity is ten of the one before: &lol9; would expand to a billion "lol"s.
    entities = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    laughs = (f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{entities}]>'.encode()
              + W + b"<w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body>"
              b"</w:document>")
    xxe = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + W
           + b"<w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p></w:body></w:document>")
    return {
        # PDF
        "encrypted.pdf": _encrypted_pdf(),
        "truncated.pdf": good_pdf[:120],
        "header-only.pdf": b"%PDF-1.7\n" + os.urandom(2000).replace(b"\x00", b"\x01"),
        "no-text.pdf": _blank_pdf(2),
        "too-many-pages.pdf": _blank_pdf(2100),
        "garbage-objects.pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\n"
                               b"trailer << /Root 1 0 R >>\n%%EOF",
        # DOCX
        "zip-bomb.docx": _docx_replacing(W + b" " * 60_000_000 + b"</w:document>"),
        "not-word.docx": _zip({"hello.txt": b"just a zip"}),
        "broken-xml.docx": _docx_replacing(W + b"<w:body><w:p><unclosed></w:body>"),
        "billion-laughs.docx": _docx_replacing(laughs),
        "xxe.docx": _docx_replacing(xxe),
        "damaged-zip.docx": b"PK\x03\x04" + os.urandom(500),
        "empty.docx": b"",
        # TXT
        "binary.txt": os.urandom(4096) + b"\x00",
        "latin1.txt": "café crème brûlée".encode("latin-1"),
        "empty.txt": b"",
        "whitespace.txt": b" \n\t\n   \n",
        "nul-bytes.txt": b"hello\x00world\x00" * 10,
        "one-huge-line.txt": huge_line,
        "utf16.txt": "hello world".encode("utf-16"),
        "elf.txt": b"\x7fELF\x02\x01\x01" + b"\x00" * 100,
        # HTML
        "scripts-only.html": b"<html><head><script>alert(1)</script></head><body>"
                             + b"<script>document.write('x')</script>" * 200 + b"</body></html>",
        "styles-and-frames.html": b"<html><body><style>p{}</style><iframe src='x'></iframe>"
                                  b"<noscript></noscript><svg><text>x</text></svg></body></html>",
        "huge.html": b"<html><body><p>" + b"word " * 1_300_000 + b"</p></body></html>",
        "invalid-utf8.html": b"<html><body><p>caf\xe9</p></body></html>",
        # CSV
        "nul.csv": b"a,b\n1,\x002\n",
        "invalid-utf8.csv": b"name,city\nJos\xe9,M\xe1laga\n",
        "huge.csv": b"a,b\n" + b"xxxxxxxxxx,yyyyyyyyyy\n" * 300_000,
        "gzip.csv": gzip.compress(b"a,b\n1,2\n" * 100),
        # Markdown
        "headings-only.md": b"# Title\n\n## Section\n\n### Sub\n",
        "huge-line.md": b"# Big\n\n" + huge_line,
        "nul.md": b"# Title\n\nText\x00more",
        "image.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(64),
    }


VALID_MARKDOWN = b"""# Deployment guide

## Rollbacks

To roll back a release, point the production label at the previous version and redeploy.
Rollbacks take about four minutes.

## Monitoring

The on-call engineer watches the error rate dashboard after every deploy.
"""


def valid() -> dict[str, bytes]:
    """One valid file per type."""
    return {
        "guide.pdf": pdf_with_text(["The warranty lasts twenty four months.",
                                    "Returns are accepted within thirty days."]),
        "handbook.docx": docx_with([("h", "Holidays"),
                                    ("p", "Every employee gets twenty-eight days of leave."),
                                    ("h", "Equipment"),
                                    ("p", "Laptops are replaced every three years.")]),
        "faq.html": b"<html><head><style>body{}</style><script>evil()</script></head><body>"
                    b"<h1>FAQ</h1><p>The office opens at eight.</p><h2>Parking</h2>"
                    b"<p>Parking is free for visitors.</p></body></html>",
        "prices.csv": b"product,price\nbasic plan,10 dollars\npro plan,25 dollars\n",
        "deploy.md": VALID_MARKDOWN,
        "notes.txt": b"The staging server restarts every night at two.\n\nBackups are kept for "
                     b"ninety days.\n",
    }
