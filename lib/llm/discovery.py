"""Models discovered live: what each available provider's models endpoint serves
(ProviderSpec.lists: Anthropic's, OpenAI's, a compatible server's `/v1/models`), merged into
the catalog by lib.llm.catalog.

The endpoints are asked off the hot path: `ensure_listings` (from `current_catalog`) starts a
background ask for a provider never asked, or asked more than TTL_S ago, and returns at once;
`refresh_models` asks now (Home's **Refresh models**). A page rerun only reads what was
kept (`model_listings`). No key, no server URL, or PROMPTLAB_DISCOVER_MODELS=0: nothing is
asked. A failed ask keeps the models of the last good one, and says why (`Listing.note`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from lib.core import ProviderError, Settings, redact
from lib.llm.modelinfo import ModelInfo
from lib.llm.registry import ProviderSpec, capabilities, provider_label, provider_specs

log = logging.getLogger(__name__)

TTL_S = 8 * 3600.0  # a working session: a model released meanwhile shows on Refresh models


@dataclass(frozen=True)
class Listing:
    """What one provider's endpoint said when last asked."""

    provider: str
    where: str                         # who was asked, for people ("Anthropic", "the server...")
    models: tuple[ModelInfo, ...] = ()
    error: str = ""                    # why the last ask failed (models: the last good list)
    at: float = 0.0                    # when it was last asked (time.time())

    @property
    def note(self) -> str:
        return f"could not list models from {self.where}: {self.error}" if self.error else ""


_lock = threading.Condition()  # also told when an ask ends (wait_for_listings)
_kept: dict[Settings, dict[str, Listing]] = {}
_asking: set[tuple[Settings, str]] = set()
_changes = 0


def where(provider: str, settings: Settings) -> str:
    """A provider as its models' origin reads: its name, or the URL of a server of one's own."""
    if capabilities(provider).per_url and settings.openai_base_url:
        return f"the server at {settings.openai_base_url}"
    return provider_label(provider)


def model_origin(model: ModelInfo, settings: Settings) -> str:
    """Where a catalog model came from, for the picker and Home."""
    if model.source == "discovered":
        return f"discovered from {where(model.provider, settings)}"
    if model.source == "server":
        return where(model.provider, settings)
    if model.source == "plugin":
        spec = provider_specs().get(model.provider)
        return f"plugin {spec.source}" if spec else "plugin"
    return "catalog"


def askable(settings: Settings) -> list[ProviderSpec]:
    """The providers to ask: with a models endpoint, and available (a key, a server URL)."""
    if not settings.discover_models:
        return []
    return [spec for spec in provider_specs().values()
            if spec.lists is not None and spec.check(settings, False)[0]]


def model_listings(settings: Settings) -> list[Listing]:
    """What each provider said when last asked (no network: every rerun may read this)."""
    with _lock:
        return list(_kept.get(settings, {}).values())


def listing_changes() -> int:
    """Moves on whenever a listing changes: the catalog is merged again then."""
    return _changes


def listing_under_way(settings: Settings) -> bool:
    """An ask for these settings is under way (in the background)."""
    with _lock:
        return any(s == settings for s, _ in _asking)


def wait_for_listings(settings: Settings, timeout_s: float) -> bool:
    """Wait until no ask for these settings is under way, at most `timeout_s`: for a page
    that opens something naming a model no listing has brought yet (a conversation kept on a
    discovered model, opened just after the app started). False: still under way."""
    with _lock:
        return _lock.wait_for(lambda: not any(s == settings for s, _ in _asking), timeout_s)


def refresh_models(settings: Settings, *, http_client: Any | None = None) -> list[Listing]:
    """Ask every available provider now, one after the other; returns every listing."""
    for spec in askable(settings):
        _ask(settings, spec, http_client)
    return model_listings(settings)


def ensure_listings(settings: Settings) -> None:
    """Start a background ask for each provider not asked yet, or asked longer than TTL_S
    ago; never waits, and starts nothing while an ask is under way."""
    now = time.time()
    for spec in askable(settings):
        with _lock:
            kept = _kept.get(settings, {}).get(spec.name)
            if (settings, spec.name) in _asking or (kept and now - kept.at < TTL_S):
                continue
            _asking.add((settings, spec.name))
        threading.Thread(target=_ask, args=(settings, spec, None, True), daemon=True,
                         name=f"discover-{spec.name}").start()


def forget_listings() -> None:
    """Drop every listing (tests)."""
    global _changes
    with _lock:
        _kept.clear()
        _changes += 1


def _checked(spec: ProviderSpec, models: list[ModelInfo]) -> tuple[ModelInfo, ...]:
    for m in models:
        if m.provider != spec.name or m.context_window <= 0 or m.max_output <= 0:
            raise ProviderError("invalid_response", f"{spec.label} listed {m.key} with a "
                                "window or output limit that is not positive, or as another "
                                "provider's model.")
    return tuple(models)


def _ask(settings: Settings, spec: ProviderSpec, http_client: Any | None,
         background: bool = False) -> None:
    global _changes
    try:
        listing = _listing(settings, spec, http_client)
        with _lock:
            kept = _kept.setdefault(settings, {})
            if spec.name not in kept or kept[spec.name].models != listing.models:
                _changes += 1
            kept[spec.name] = listing
    finally:
        if background:  # kept first: a page waiting on the ask finds its models
            with _lock:
                _asking.discard((settings, spec.name))
                _lock.notify_all()


def _listing(settings: Settings, spec: ProviderSpec, http_client: Any | None) -> Listing:
    """What the provider lists now; on any failure, its last good list and the reason."""
    origin = where(spec.name, settings) if spec.capabilities.per_url else spec.label
    at, lister = time.time(), spec.lists
    try:
        listing = Listing(spec.name, origin,
                          _checked(spec, lister(settings, http_client) if lister else []), at=at)
        log.info("listed %d models from %s", len(listing.models), origin)
        return listing
    except Exception as exc:  # the catalog never breaks: the last good list stays
        log.warning("could not list models from %s", origin, exc_info=True)
        reason = exc.message if isinstance(exc, ProviderError) else \
            redact(f"{type(exc).__name__}: {exc}")  # a plugin's lister: its text unread
        with _lock:
            last = _kept.get(settings, {}).get(spec.name)
        return Listing(spec.name, origin, last.models if last else (), reason, at)
