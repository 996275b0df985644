"""Sign-in identities (lib.users): a person is an issuer and the `sub` it gives them, mapped
once to the user id that owns their rows: their email if the issuer verified it and no other
identity holds it (rows owned by that email before are theirs), otherwise an id of its own.
Owners stored before stay as they are."""

NAME = "0021_identities"
STEP = """
        CREATE TABLE identities (
            issuer      TEXT NOT NULL,
            subject     TEXT NOT NULL,
            user_id     TEXT NOT NULL UNIQUE,   -- what owns the person's rows
            email       TEXT,                   -- the verified email last seen (display)
            created_at  TEXT NOT NULL,
            seen_at     TEXT NOT NULL,
            PRIMARY KEY (issuer, subject)
        );
    """
