"""The validator behind lib.llm.schemas: draft 2020-12 with a registry that refuses to
retrieve anything, and `pattern`, `patternProperties` and `additionalProperties` matched by the
`regex` module with a timeout (it lets go of the GIL while it matches) under a budget per
validation, so a catastrophic pattern such as `^(a|a)*$` costs its timeout, never a frozen
process."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import time
from collections.abc import Iterator
from typing import Any

REGEX_TIMEOUT_S = 0.05       # one match of a pattern
REGEX_BUDGET_S = 0.5         # every match of one validation together


def _refuse(uri: str) -> Any:
    """The registry's retrieve: nothing outside the schema is ever fetched or read."""
    import referencing.exceptions

    # referencing's attrs classes are declared through a dataclass_transform that mypy does
    # not follow, so their fields look like no arguments.
    raise referencing.exceptions.NoSuchResource(ref=uri)  # type: ignore[call-arg]


@functools.cache
def refusing_registry() -> Any:
    """The metaschemas, and nothing else: every other address is refused, never fetched."""
    import referencing
    from jsonschema.validators import SPECIFICATIONS  # type: ignore[attr-defined]  # not in its stubs

    # attrs through dataclass_transform again (see _refuse)
    return SPECIFICATIONS.combine(referencing.Registry(retrieve=_refuse))  # type: ignore[call-arg]


def resource(schema: dict[str, Any]) -> Any:
    """The schema as a draft 2020-12 resource (for resolving its references)."""
    from referencing.jsonschema import DRAFT202012

    return DRAFT202012.create_resource(schema)


_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("regex_deadline",
                                                                         default=None)


def _search(pattern: str, text: str) -> bool | None:
    """Whether the pattern matches somewhere in text; None when it could not say in time."""
    import regex

    deadline = _deadline.get()
    timeout = REGEX_TIMEOUT_S
    if deadline is not None:
        timeout = min(timeout, deadline - time.monotonic())
        if timeout <= 0:
            return None
    try:
        return regex.search(pattern, text, timeout=timeout) is not None
    except TimeoutError:
        return None
    except (regex.error, ValueError, OverflowError):
        return False


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict) -> Iterator[Any]:
    from jsonschema import ValidationError

    if not validator.is_type(instance, "string"):
        return
    found = _search(pattern, instance)
    if found is None:
        yield ValidationError(f"could not be checked against pattern {pattern!r} in time")
    elif not found:
        yield ValidationError(f"{instance[:80]!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: dict, instance: Any, schema: dict
                        ) -> Iterator[Any]:
    from jsonschema import ValidationError

    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            found = _search(pattern, key)
            if found is None:
                yield ValidationError(f"property {key[:80]!r} could not be checked against "
                                      f"pattern {pattern!r} in time")
            elif found:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, extra: Any, instance: Any, schema: dict
                           ) -> Iterator[Any]:
    from jsonschema import ValidationError

    if not validator.is_type(instance, "object"):
        return
    named = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [k for k in instance if k not in named
              and not any(_search(p, k) for p in patterns)]
    if validator.is_type(extra, "object"):
        for key in extras:
            yield from validator.descend(instance[key], extra, path=key)
    elif extra is False and extras:
        listed = ", ".join(repr(k[:80]) for k in sorted(extras)[:10])
        yield ValidationError(f"Additional properties are not allowed ({listed} "
                              f"{'was' if len(extras) == 1 else 'were'} unexpected)")


@functools.cache
def validator_class() -> Any:
    """Draft 2020-12 with regular expressions matched by `regex` under a timeout."""
    import jsonschema

    return jsonschema.validators.extend(jsonschema.Draft202012Validator, {
        "pattern": _pattern, "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties})




@contextlib.contextmanager
def regex_budget() -> Iterator[None]:
    """Every pattern matched inside shares REGEX_BUDGET_S; past it a match fails at once."""
    token = _deadline.set(time.monotonic() + REGEX_BUDGET_S)
    try:
        yield
    finally:
        _deadline.reset(token)
