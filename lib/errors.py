"""The one error tree. Pages catch `PromptLabError` and show `str(error)` with `st.error`.

PromptLabError            anything a user should read in plain words
├── ConfigError           a setting or data file is wrong or missing
├── StorageError          the ledger / conversation database failed
├── ContextOverflowError  the input cannot fit the model's context window
├── ProviderError         a model call failed (kind, HTTP status, retry-after, retryable)
├── TemplateError         a prompt template is broken or a variable is invalid
├── DocumentError         an uploaded document cannot be parsed or stored
└── BudgetExceededError   a call would pass a spending budget
"""

from __future__ import annotations


class PromptLabError(Exception):
    """Base of every error a page shows; the message is meant for the user."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class ConfigError(PromptLabError):
    pass


class StorageError(PromptLabError):
    pass


class ContextOverflowError(PromptLabError):
    pass


class TemplateError(PromptLabError):
    pass


class DocumentError(PromptLabError):
    pass


class BudgetExceededError(PromptLabError):
    pass


# Kinds a ProviderError can have. Retry policy and user hints key off these.
RETRYABLE_KINDS = frozenset({"rate_limit", "overloaded", "server", "timeout", "connection",
                             "conflict", "incomplete"})

_HINTS = {
    "auth": "Check the API key (environment variable or .streamlit/secrets.toml).",
    "permission": "This key is not allowed to use that model.",
    "not_found": "The model id may be wrong: check the model catalog.",
    "bad_request": "The request was refused; shorten the input or lower max tokens.",
    "rate_limit": "The provider is rate limiting; wait a little and send again.",
    "overloaded": "The provider is overloaded; try again in a minute or pick another model.",
    "server": "The provider had a server error; try again shortly.",
    "timeout": "The provider did not answer in time; try again or raise the timeout setting.",
    "connection": "Could not reach the provider; check the network or the server URL.",
    "deadline": "The reply took longer than the overall deadline setting allows.",
    "invalid_response": "The provider sent a reply that could not be read.",
    "unavailable": "",
}


class ProviderError(PromptLabError):
    """A failed model call. `retry_after` is seconds the provider asked us to wait, if any."""

    def __init__(self, kind: str, message: str, *, status: int | None = None,
                 retry_after: float | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=_HINTS.get(kind, "") if hint is None else hint)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS
