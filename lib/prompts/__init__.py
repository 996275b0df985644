"""Prompts: the versioned store, the sandboxed renderer, declared variables, and fencing of
outside text."""

from lib.prompts.fencing import documents, untrusted
from lib.prompts.sandbox import MAX_TEMPLATE_CHARS, RENDER_TIMEOUT_S, declared_names, render
from lib.prompts.store import LABEL, NAME, Prompt, PromptStore, VersionInfo
from lib.prompts.variables import VARIABLE_TYPES, Variable, coerce, validate

__all__ = [
    "LABEL", "MAX_TEMPLATE_CHARS", "NAME", "RENDER_TIMEOUT_S", "VARIABLE_TYPES", "Prompt",
    "PromptStore", "Variable", "VersionInfo", "coerce", "declared_names", "documents", "render",
    "untrusted", "validate",
]
