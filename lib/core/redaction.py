"""Secrets out of text that came from elsewhere: an upstream's error message (some echo the
Authorization header they were sent), a third-party exception, a log line.

Two nets: every key this process was configured with (`remember_secrets`, called by
`load_settings` and by each provider adapter for the key it sends) is replaced wherever it
appears; and anything shaped like a credential is replaced too: provider keys (`sk-...`,
`sk-ant-...`), this app's API keys (`pl-...`), well-known token formats, `Bearer ...`,
`Authorization: ...` / `x-api-key: ...` headers, `"api_key": ...` fields and `?key=...` in
URLs. What is left says where a secret was, never what it was.
"""

from __future__ import annotations

import re
import threading

MASK = "[redacted]"
MIN_SECRET = 6     # shorter configured values ("x", "none") would blank ordinary words

_known: set[str] = set()
_lock = threading.Lock()
_known_re: re.Pattern[str] | None = None

# A credential's characters: URL-safe base64 and the punctuation tokens use.
_TOKEN = r"[A-Za-z0-9._~+/=\-]"
_SHAPES = re.compile("|".join(f"(?:{p})" for p in (
    r"\bsk-" + _TOKEN + "{4,}",                                     # Anthropic, OpenAI
    r"\bpl-[A-Za-z0-9_\-]{16,}",                                   # this app's API keys
    r"\bAIza[0-9A-Za-z_\-]{20,}",                                  # Google
    r"\bgh[pousr]_[A-Za-z0-9]{20,}",                               # GitHub
    r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",                            # Slack
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",                              # AWS access key ids
    r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*",  # a JWT
)))
# `Bearer <token>` wherever it stands (after a header name, `Basic` and the rest too: below).
_SCHEME = re.compile(r"(?i)\b(bearer)(\s+|%20|\+)(" + _TOKEN + "{4,})")
# A credential-named field and its value: headers (`x-api-key: v`), JSON (`"api_key": "v"`),
# forms (`password=v`); and in a URL's query, the short names services use (`?key=v&`).
_VALUE = r"""(?P<value>(?:(?:bearer|basic|digest|token)\s+)?(?!\[redacted\])[^\s"'&,;<>)}\]]+)"""
_FIELD = re.compile(
    r"""(?ix)
    (?P<name>\b(?:x-api-key|x-goog-api-key|api[-_ ]?key|apikey|api[-_]?token|
        access[-_]?token|refresh[-_]?token|id[-_]?token|auth[-_]?token|client[-_]?secret|
        secret[-_]?key|secret|password|passwd|authorization|proxy-authorization|
        x-auth-token|session[-_]?token)
    ["']?\s*(?:[:=]|%3A|%3D)\s*["']?)""" + _VALUE)
_QUERY = re.compile(r"(?i)(?P<name>[?&;](?:key|token|code|sig|signature|auth|access_key)=)"
                    + _VALUE)


def remember_secrets(*secrets: str | None) -> None:
    """Add configured secrets (keys) to those replaced wherever they appear."""
    global _known_re
    fresh = {s for s in secrets if s and len(s) >= MIN_SECRET} - _known
    if not fresh:
        return
    with _lock:
        _known.update(fresh)
        # Longest first, so a key that contains another is replaced whole.
        _known_re = re.compile("|".join(re.escape(s) for s in sorted(_known, key=len,
                                                                     reverse=True)))


def redact(text: str) -> str:
    """`text` with every known secret and anything shaped like a credential replaced."""
    if not text:
        return text
    known = _known_re
    if known is not None:
        text = known.sub(MASK, text)
    text = _SHAPES.sub(MASK, text)
    text = _SCHEME.sub(lambda m: f"{m[1]}{m[2]}{MASK}", text)
    text = _FIELD.sub(lambda m: m["name"] + MASK, text)
    return _QUERY.sub(lambda m: m["name"] + MASK, text)
