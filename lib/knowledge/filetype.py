"""Which kind of document an upload is, read from its bytes (never from its name)."""

from __future__ import annotations

import csv
import io
import re
import zipfile

from lib.core import ParseError

_HTML = re.compile(rb"<!doctype html|<html[\s>]|<(head|body|div|p|script|style|h[1-6]|table)"
                   rb"[\s>]", re.IGNORECASE)
_MD = re.compile(r"^(#{1,6} \S|```|\s*[-*+] \S|\s*\d+\. \S|>\s)|\[[^\]]+\]\([^)]+\)",
                 re.MULTILINE)


# Among texts, a name's extension says what its author meant: a .txt with a few "- " lines is
# a text, not Markdown. Binary formats are always read from the bytes.
_TEXT_KINDS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
               ".html": "html", ".htm": "html"}


def detect(data: bytes, name: str = "") -> str:
    """The document type, from content (and, among text kinds, the name's extension); raises
    ParseError for what we cannot read."""
    if not data.strip():
        raise ParseError("The file is empty.")
    head = data[:1024]
    if _is_pdf(data):
        return "pdf"
    if data[:4] == b"PK\x03\x04":
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            raise ParseError("The file is a damaged ZIP archive.") from None
        if "word/document.xml" in names:
            return "docx"
        raise ParseError("The file is a ZIP archive, not a Word document.")
    if b"\x00" in data[:65536]:
        raise ParseError("The file is binary, not text (it contains NUL bytes).",
                            hint="Upload PDF, DOCX, HTML, CSV, Markdown or plain text.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"The file is not valid UTF-8 text (bad byte at {exc.start}).",
                            hint="Save it as UTF-8 and upload it again.") from None
    declared = _TEXT_KINDS.get(name[name.rfind("."):].lower()) if "." in name else None
    if declared:
        return declared
    if len(_HTML.findall(data[:65536])) >= 2 or re.match(rb"\s*<(!doctype|html)", head,
                                                          re.IGNORECASE):
        return "html"
    if _looks_like_csv(text):
        return "csv"
    if len(_MD.findall(text[:65536])) >= 2:
        return "markdown"
    return "text"


def _is_pdf(data: bytes) -> bool:
    """A PDF by its structure: the header at the start (after a BOM or whitespace at most),
    or within the first kilobyte after binary junk, as some generators write it, when the
    file also ends the way a PDF does. Text that merely mentions %PDF- is not one."""
    start = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"%PDF-"):
        return True
    at = data.find(b"%PDF-", 0, 1024)
    if at <= 0 or _HTML.search(data[:at]) or _printable(data[:at]):
        return False
    tail = data[-2048:]
    return b"%%EOF" in tail or b"startxref" in tail


def _printable(prefix: bytes) -> bool:
    """Whether the bytes before a header read as text (then the header is just quoted)."""
    try:
        text = prefix.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch.isspace() for ch in text)


def _looks_like_csv(text: str) -> bool:
    lines = [line for line in text[:8192].splitlines() if line.strip()][:20]
    if len(lines) < 2:
        return False
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t")
    except csv.Error:
        return False
    widths = {len(row) for row in csv.reader(lines, dialect)}
    return len(widths) == 1 and widths.pop() >= 2
