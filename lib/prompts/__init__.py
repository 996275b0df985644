"""Prompts: the versioned store, the sandboxed renderer, declared variables, fencing of
outside text, and running a stored prompt on a model."""

from lib.core import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, {
    "lib.prompts.fencing": ("documents", "untrusted"),
    "lib.prompts.sandbox": (
        "MAX_TEMPLATE_CHARS", "RENDER_TIMEOUT_S", "check_size", "declared_names", "render"
    ),
    "lib.prompts.manifest": (
        "LABEL", "MAX_TOKENS_LIMIT", "NAME", "TEMPERATURE_RANGE", "Prompt", "VersionInfo"
    ),
    "lib.prompts.runs": ("run",),
    "lib.prompts.store": ("PromptStore",),
    "lib.prompts.variables": ("VARIABLE_TYPES", "Variable", "coerce", "validate"),
})
