"""Parsers for each document type, run inside a bounded worker process (lib.knowledge.parsing).

Each returns text sections; caps on pages and characters stop early, and any failure is a
ParseError with a plain message.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib.core import ParseError
from lib.knowledge.filetype import detect

MAX_PAGES = 2000
MAX_CHARS = 5_000_000
TITLE_CHARS = 120                        # a plain-text first line longer than this is prose
MAX_UNZIPPED_BYTES = 200 << 20           # a DOCX that inflates past this is refused
MAX_ZIP_RATIO = 200                      # ... and so is one that inflates 200x or more


@dataclass(frozen=True)
class Section:
    text: str
    page: int | None = None
    heading: str | None = None


def _pdf(data: bytes) -> list[Section]:
    import pypdf
    from pypdf.errors import PdfReadError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError("The PDF is password-protected.",
                                hint="Remove the password and upload it again.")
        pages = reader.pages
        if len(pages) > MAX_PAGES:
            raise ParseError(f"The PDF has {len(pages):,} pages; the limit is {MAX_PAGES:,}.")
        out, total = [], 0
        for number, page in enumerate(pages, 1):
            text = page.extract_text() or ""
            total += len(text)
            if total > MAX_CHARS:
                raise ParseError(f"The PDF has more than {MAX_CHARS:,} characters of text.")
            if text.strip():
                out.append(Section(text, page=number))
        return out
    except ParseError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            OSError) as exc:
        raise ParseError(f"The PDF is damaged or unreadable ({type(exc).__name__}: "
                            f"{str(exc)[:120]}).") from None


def _docx(data: bytes) -> list[Section]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    packed = sum(i.compress_size for i in archive.infolist()) or 1
    unpacked = sum(i.file_size for i in archive.infolist())
    if unpacked > MAX_UNZIPPED_BYTES or unpacked / packed > MAX_ZIP_RATIO:
        raise ParseError(f"The Word file would inflate to {unpacked / 1e6:,.0f} MB "
                            f"({unpacked / packed:,.0f}x): refused as a possible zip bomb.")
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise ParseError(f"The Word file is damaged ({type(exc).__name__}).") from None
    except Exception as exc:  # lxml's XMLSyntaxError and friends
        raise ParseError(f"The Word file's XML is invalid ({type(exc).__name__}).") from None
    out: list[Section] = []
    heading: str | None = None
    buffer: list[str] = []
    total = 0

    def flush() -> None:
        if any(b.strip() for b in buffer):
            out.append(Section("\n\n".join(buffer), heading=heading))
        buffer.clear()

    for para in document.paragraphs:
        text = para.text
        total += len(text)
        if total > MAX_CHARS:
            raise ParseError(f"The Word file has more than {MAX_CHARS:,} characters.")
        style = (para.style.name if para.style is not None else "") or ""
        if style.lower().startswith(("heading", "title")) and text.strip():
            flush()
            heading = text.strip()
        elif text.strip():
            buffer.append(text)
    flush()
    for table in document.tables:
        rows = [" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows]
        if any(r.strip(" |") for r in rows):
            out.append(Section("\n".join(rows), heading=heading))
    return out


_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_BLOCKS = _HEADINGS | {
    "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "div",
    "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "html", "li",
    "main", "nav", "ol", "p", "pre", "section", "summary", "table", "td", "th", "tr", "ul"}
_DROPPED = ["script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "nav",
            "canvas", "head"]


def _html(text: str) -> list[Section]:
    """Each piece of text once, in order: text nodes grouped by their nearest block element
    (so a <p> inside a <div> inside an <li> is not read three times, and loose text in a
    <div> is not lost); a heading starts a new section."""
    from bs4 import BeautifulSoup, NavigableString
    from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(_DROPPED):
        tag.decompose()
    out: list[Section] = []
    heading: str | None = None
    paragraphs: list[str] = []
    block, parts = None, []

    def end_block() -> None:
        nonlocal heading
        if block is None:
            return
        joined = "".join(parts)
        content = joined.strip() if block.name == "pre" else " ".join(joined.split())
        parts.clear()
        if not content:
            return
        if block.name in _HEADINGS:
            if paragraphs:
                out.append(Section("\n\n".join(paragraphs), heading=heading))
                paragraphs.clear()
            heading = content
        else:
            paragraphs.append(content)

    skip = (Comment, Declaration, Doctype, ProcessingInstruction)
    for node in (soup.body or soup).descendants:
        if not isinstance(node, NavigableString) or isinstance(node, skip):
            continue
        owner = next((p for p in node.parents if p.name in _BLOCKS), None)
        if owner is not block:
            end_block()
            block = owner
        parts.append(str(node))
    end_block()
    if paragraphs:
        out.append(Section("\n\n".join(paragraphs), heading=heading))
    return out


def _markdown(text: str) -> list[Section]:
    out: list[Section] = []
    heading: str | None = None
    buffer: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        match = None if fenced else re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if match:
            if "".join(buffer).strip():
                out.append(Section("\n".join(buffer).strip(), heading=heading))
            heading, buffer = match.group(2), []
        else:
            buffer.append(line)
    if "".join(buffer).strip():
        out.append(Section("\n".join(buffer).strip(), heading=heading))
    return out


def _plain(text: str) -> list[Section]:
    """Plain text; a short first line standing alone (no sentence punctuation at its end)
    is taken as the document's title, the heading of what follows."""
    first, sep, rest = text.strip().partition("\n\n")
    line = first.strip()
    if (sep and rest.strip() and "\n" not in line and len(line) <= TITLE_CHARS
            and not line.endswith((".", ",", ";", ":"))):
        return [Section(rest.strip(), heading=line)]
    return [Section(text)]


def _csv(text: str) -> list[Section]:
    lines = text.splitlines()
    dialect = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",;\t")
    reader = csv.reader(io.StringIO(text), dialect)
    header = next(reader)
    rows = []
    for number, row in enumerate(reader, 2):
        if any(cell.strip() for cell in row):
            rows.append(f"Row {number}: " + "; ".join(
                f"{h}: {v}" for h, v in zip(header, row, strict=False) if v.strip()))
    # Rows are grouped into sections of ~50 so a chunk holds whole rows.
    return [Section("\n".join(rows[i:i + 50])) for i in range(0, len(rows), 50)]


def parse_job(payload: dict[str, Any]) -> list[dict[str, Any]]:  # pragma: no cover - worker
    """The worker's entry point: parse each {"path", "name"} of payload["files"] in turn (small
    files travel together: one round trip for many)."""
    return [_parse_one(Path(f["path"]), f.get("name", "")) for f in payload["files"]]


def _parse_one(path: Path, name: str) -> dict[str, Any]:
    try:
        data = path.read_bytes()
        kind = detect(data, name)
        if kind in ("pdf", "docx"):
            sections = _pdf(data) if kind == "pdf" else _docx(data)
        else:
            text = data.decode("utf-8-sig")
            if len(text) > MAX_CHARS:
                raise ParseError(f"The file has {len(text):,} characters; the limit is "
                                    f"{MAX_CHARS:,}.")
            sections = {"html": _html, "csv": _csv, "markdown": _markdown}.get(
                kind, _plain)(text)
        sections = [s for s in sections if s.text.strip()]
        if not sections:
            raise ParseError(f"No text could be extracted from this {kind.upper()} file.",
                                hint=_NO_TEXT_HINTS.get(kind, ""))
        if sum(len(s.text) for s in sections) > MAX_CHARS:
            raise ParseError(f"The file has more than {MAX_CHARS:,} characters of text.")
        return {"kind": kind, "sections": [s.__dict__ for s in sections]}
    except ParseError as exc:
        return {"error": str(exc)}


_NO_TEXT_HINTS = {"pdf": "A scanned PDF needs OCR first.",
                  "html": "Scripts, styles and frames are dropped; nothing else was left.",
                  "markdown": "It has headings but no text under them."}
