"""Prompts: the versioned store, the sandboxed renderer, declared variables, fencing of
outside text, and running a stored prompt on a model."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.prompts.fencing import documents, untrusted
    from lib.prompts.manifest import (
        LABEL,
        MAX_TOKENS_LIMIT,
        NAME,
        TEMPERATURE_RANGE,
        VERSION_REF,
        Prompt,
        VersionInfo,
        check_label,
        check_name,
        check_text,
        resolve_ref,
    )
    from lib.prompts.runs import run
    from lib.prompts.sandbox import (
        MAX_TEMPLATE_CHARS,
        RENDER_TIMEOUT_S,
        check_size,
        declared_names,
        render,
    )
    from lib.prompts.store import (
        PromptStore,
        diff_rows,
        locked,
        next_version,
        write_manifest,
        write_version,
    )
    from lib.prompts.variables import VARIABLE_TYPES, Variable, coerce, validate
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
