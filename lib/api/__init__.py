"""API: the app's models and stored prompts over HTTP — OpenAI-compatible chat completions
and model list, prompt runs — behind the app's own keys, through the same calls, budgets
and ledger as the app. FastAPI and uvicorn load only when the API is served."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.api.app import PAGE, create_app
    from lib.api.chat_request import ChatParams, chat_params
    from lib.api.keys import (
        PREFIX,
        ApiKey,
        NewKey,
        create_key,
        get_key,
        list_keys,
        revoke_key,
        set_key_budget,
        set_key_cache,
        verify_key,
    )
    from lib.api.metrics import LedgerCollector
    from lib.api.server import answering, api_workers, base_url, serve
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
