"""What each call sent and got back, for its detail page (lib/spend/ledger.py): the exact
request (system, messages, tools, tool choice, output schema, parameters) and the raw reply
(text, tool calls, stop reason) as JSON, written in the ledger row's own transaction. Bounded in
size: `truncated` says long texts or lists were cut to fit."""

NAME = "0020_call_payloads"
STEP = """
        CREATE TABLE call_payloads (
            call_id    INTEGER PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
            request    TEXT NOT NULL,
            reply      TEXT NOT NULL,
            truncated  INTEGER NOT NULL DEFAULT 0
        );
    """
