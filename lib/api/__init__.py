"""API: the app's models and stored prompts over HTTP — OpenAI-compatible chat completions
and model list, prompt runs — behind the app's own keys, through the same calls, budgets
and ledger as the app. FastAPI and uvicorn load only when the API is served."""

from lib.core import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, {
    "lib.api.app": ("PAGE", "create_app"),
    "lib.api.keys": (
        "PREFIX", "ApiKey", "NewKey", "create_key", "get_key", "list_keys", "revoke_key",
        "set_key_budget", "verify_key"
    ),
    "lib.api.chat_request": ("ChatParams", "chat_params"),
    "lib.api.server": ("answering", "base_url", "serve"),
})
