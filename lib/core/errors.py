"""The one error tree. Pages catch `PromptLabError` and show `str(error)` with `st.error`.

Every raise in lib uses the most specific class below; exceptions from third-party libraries
(SDKs, sqlite3, Chroma, llama.cpp, tiktoken, jinja2) are translated where we call them.

PromptLabError               anything a user should read in plain words
├── ConfigError              a setting or data file is wrong or missing
│   └── CatalogError         the model catalog is invalid, or a model is not in it
├── StorageError             the database failed
│   ├── NotFoundError        a stored thing (conversation, run, dataset) no longer exists
│   └── ConflictError        a write broke a uniqueness rule (a name already taken)
├── WorkerError              a bounded child process did not finish a job (time, memory, crash)
├── TokenizerError           a tokenizer could not be loaded or run
├── ContextOverflowError     the input cannot fit the model's context window
├── SummaryError             earlier turns cannot be summarised, or a summary edit is invalid
├── ProviderError            a model call failed (kind, HTTP status, retry-after, retryable)
├── BudgetError              a budget setting is invalid
│   └── BudgetExceededError  a call would pass a spending budget
├── TemplateError            a prompt template is broken
│   ├── RenderError          rendering was refused, failed, or ran out of time or memory
│   ├── VariableError        a declared variable or a value for it is invalid
│   └── PromptStoreError     a prompt, version or label is missing or cannot be saved
├── ToolError                a tool is defined wrongly, or a tool call could not run
├── SchemaError              a JSON Schema (output, tool parameters) is invalid, unsafe, or
│                            cannot be enforced by a provider
├── JudgeError               a judge is set up wrongly or its verdict cannot be read
├── EvalError                an eval file is invalid (its line and key named) or cannot run
├── WorkflowError            a workflow file is invalid (its line named: unknown step or kind,
│                            cycle, missing input, type mismatch) or a run cannot start
├── BatchError               a batch run cannot be submitted, read or cancelled
├── CompareError             a comparison is set up wrongly (variants, votes, runs)
│   ├── CheckError           an automated check cannot run (bad regex, schema, number)
│   └── DatasetError         an uploaded dataset cannot be read
├── PromotionError           a label move was refused: a required eval result is missing
│                            or failing for that version
├── ApiError                 an HTTP API request is invalid (its body, an unknown model)
│   └── ApiKeyError          an API key is missing, unknown or revoked, or cannot be made
└── DocumentError            a document or knowledge base operation failed
    ├── ParseError           an upload cannot be read (type, damage, limits)
    ├── ChunkingError        chunking settings are invalid or a text cannot be chunked
    ├── EmbeddingError       the embedding model cannot be loaded or used
    ├── VectorIndexError     the Chroma index cannot be opened, read or written
    ├── KnowledgeBaseError   a knowledge base name is invalid, taken, or unknown
    └── SearchError          a search mode or a base's search settings are invalid
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


class CatalogError(ConfigError):
    pass


class StorageError(PromptLabError):
    pass


class NotFoundError(StorageError):
    pass


class ConflictError(StorageError):
    pass


class WorkerError(PromptLabError):
    """The job did not finish: `timed_out` says whether its time limit stopped it."""

    def __init__(self, message: str, *, timed_out: bool = False, busy: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out
        self.busy = busy


class TokenizerError(PromptLabError):
    pass


class ContextOverflowError(PromptLabError):
    pass


class SummaryError(PromptLabError):
    pass


class BudgetError(PromptLabError):
    pass


class BudgetExceededError(BudgetError):
    pass


class TemplateError(PromptLabError):
    pass


class RenderError(TemplateError):
    """`reason` says which rule stopped the render: syntax, undefined, unsafe, loader,
    too_large, recursion, memory, timeout, crashed, busy or failed."""

    def __init__(self, message: str, *, reason: str = "failed", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class VariableError(TemplateError):
    pass


class PromptStoreError(TemplateError):
    pass


class ToolError(PromptLabError):
    pass


class SchemaError(PromptLabError):
    pass


class JudgeError(PromptLabError):
    pass


class EvalError(PromptLabError):
    pass


class WorkflowError(PromptLabError):
    """`line`: the line of the workflow file at fault, when there is one."""

    def __init__(self, message: str, *, line: int | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.line = line


class BatchError(PromptLabError):
    pass


class CompareError(PromptLabError):
    pass


class CheckError(CompareError):
    pass


class DatasetError(CompareError):
    pass


class PromotionError(PromptLabError):
    """`missing` and `failing` name the required evals at fault for the version."""

    def __init__(self, message: str, *, missing: tuple[str, ...] = (),
                 failing: tuple[str, ...] = (), hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.missing, self.failing = missing, failing


class ApiError(PromptLabError):
    """`status` is the HTTP status the API answers with; `param` the field at fault."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid_request",
                 param: str | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.status, self.code, self.param = status, code, param


class ApiKeyError(ApiError):
    def __init__(self, message: str, *, status: int = 401, code: str = "invalid_api_key",
                 hint: str = "") -> None:
        super().__init__(message, status=status, code=code, hint=hint)


class DocumentError(PromptLabError):
    pass


class ParseError(DocumentError):
    pass


class ChunkingError(DocumentError):
    pass


class EmbeddingError(DocumentError):
    pass


class VectorIndexError(DocumentError):
    pass


class KnowledgeBaseError(DocumentError):
    pass


class SearchError(DocumentError):
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
