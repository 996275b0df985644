"""A signed-in person is their OpenID Connect identity: the issuer and the `sub` it gives
them, the only pair a provider guarantees to be theirs alone. Each identity is mapped, the
first time it signs in, to the user id that owns their rows (conversations, traces, ledger
rows, keys, budgets) and stays mapped to it.

That user id is the person's email only when the issuer verified it (`email_verified`) and
no other identity holds that id yet: so what a legacy email id owned (before sign-in was
keyed this way, owners were emails, or `sub` when a provider sent none) goes to the first
verified owner of that email. Any other identity gets an id of its own, `user-` and a hash of
issuer and subject, which has no `@` and so can never be anyone's email. An unverified email
equal to Alice's, or a `sub` spelled like her email, therefore opens nothing of hers.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from lib.core import ConflictError, now_iso
from lib.storage import Database

log = logging.getLogger(__name__)

OWN_PREFIX = "user-"


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str
    user_id: str          # what owns this person's rows
    email: str | None     # the verified email last seen, for display


def email_if_verified(claims: dict) -> str | None:
    """The claims' email if the issuer says it verified it (true, or "true" as some send)."""
    email, verified = claims.get("email"), claims.get("email_verified")
    if verified is not True and not (isinstance(verified, str) and verified.lower() == "true"):
        return None
    if not isinstance(email, str) or "@" not in email or any(c.isspace() for c in email):
        return None
    return email


def own_id(issuer: str, subject: str) -> str:
    """An id for an identity that cannot take an email's: no `@`, one per issuer and sub."""
    digest = hashlib.sha256(f"{issuer}\x00{subject}".encode("utf-8", "surrogatepass"))
    return OWN_PREFIX + digest.hexdigest()[:20]


def _get(conn, issuer: str, subject: str) -> Identity | None:
    row = conn.execute("SELECT user_id, email FROM identities WHERE issuer = ? AND subject = ?",
                       (issuer, subject)).fetchone()
    return None if row is None else Identity(issuer, subject, row["user_id"], row["email"])


def identity_of(db: Database, issuer: str, subject: str) -> Identity | None:
    """The identity mapped so far, if this person signed in before."""
    with db.connect() as conn:
        return _get(conn, issuer, subject)


def identify(db: Database, issuer: str, subject: str, verified_email: str | None) -> Identity:
    """The identity of (issuer, subject), mapped to a user id on first sign-in (see the
    module's docstring); a verified email seen later updates what is displayed only."""
    with db.connect() as conn:
        known = _get(conn, issuer, subject)
    if known is not None and known.email == verified_email:
        return known
    now = now_iso()
    with db.connect(write=True) as conn:
        known = _get(conn, issuer, subject)  # again, under the write lock
        if known is not None:
            conn.execute("UPDATE identities SET email = ?, seen_at = ? WHERE issuer = ? AND "
                         "subject = ?", (verified_email, now, issuer, subject))
            return Identity(issuer, subject, known.user_id, verified_email)
        user_id = own_id(issuer, subject)
        if verified_email is not None and conn.execute(
                "SELECT 1 FROM identities WHERE user_id = ?", (verified_email,)).fetchone() is None:
            user_id = verified_email
        if conn.execute("SELECT 1 FROM identities WHERE user_id = ?",
                        (user_id,)).fetchone() is not None:
            raise ConflictError("This sign-in cannot be told apart from another account's.",
                                hint="Ask an administrator to look at the identities table.")
        conn.execute("INSERT INTO identities (issuer, subject, user_id, email, created_at, "
                     "seen_at) VALUES (?, ?, ?, ?, ?, ?)",
                     (issuer, subject, user_id, verified_email, now, now))
    log.info("identity: a new sign-in, %s", "by a verified email" if user_id == verified_email
             else "with an id of its own")
    return Identity(issuer, subject, user_id, verified_email)
