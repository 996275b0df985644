"""The Chroma side of a knowledge base: a client per settings, collection handles that cannot
go stale, and every Chroma exception translated into VectorIndexError.

A handle is cached per (collection, generation). The generation lives in the registry and is
bumped whenever the collection is dropped (delete, rebuild), so a handle taken before a drop,
in this process or another, is never used after it; a read that fails because a drop came
between taking the handle and using it runs again on the new generation. If a collection
vanishes some other way, the first failure drops the handle and one fresh lookup is tried.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from operator import methodcaller
from pathlib import Path
from typing import Any, TypeVar

from lib.core import Settings, VectorIndexError, once
from lib.storage import Database

log = logging.getLogger(__name__)
T = TypeVar("T")


@once
def _client(data_dir: Path, host: str | None, port: int) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    options = ChromaSettings(anonymized_telemetry=False)
    try:
        if host:
            return chromadb.HttpClient(host=host, port=port, settings=options)
        return chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=options)
    except Exception as exc:  # chromadb raises ValueError, ConnectionError, its own errors
        where = f"the Chroma server at {host}:{port}" if host else f"{data_dir / 'chroma'}"
        log.exception("chroma: could not open %s", where)
        raise VectorIndexError(f"Could not open {where}: {exc}",
                               hint="Check PROMPTLAB_CHROMA_HOST / PORT, or start `chroma run`."
                               ) from None


def chroma_client(settings: Settings) -> Any:
    return _client(settings.data_dir, settings.chroma_host, settings.chroma_port)


_handles: dict[tuple[int, str, int], Any] = {}
MAX_TRIES = 5   # a read that keeps meeting a rebuild in another session gives up after this
_handles_lock = threading.Lock()


def _generation(db: Database, collection: str) -> int:
    with db.connect() as conn:
        row = conn.execute("SELECT index_generation FROM knowledge_bases WHERE collection = ?",
                           (collection,)).fetchone()
    return row[0] if row else 0


def _handle(settings: Settings, collection: str) -> tuple[Any, int]:
    """The collection at its current generation (and that generation), created on first use
    (asking Chroma for it costs ~0.7 ms, a fifth of a query, so it is cached)."""
    c = chroma_client(settings)
    key = (id(c), collection, _generation(settings.db, collection))
    with _handles_lock:
        handle = _handles.get(key)
    if handle is None:
        # Vectors come from our own model: never let Chroma load (download) its default one.
        handle = c.get_or_create_collection(collection, embedding_function=None,
                                            metadata={"hnsw:space": "cosine"})
        with _handles_lock:
            for stale in [k for k in _handles if k[:2] == key[:2] and k != key]:
                del _handles[stale]
            _handles[key] = handle
    return handle, key[2]


def _forget(settings: Settings, collection: str) -> None:
    c = chroma_client(settings)
    with _handles_lock:
        for k in [k for k in _handles if k[:2] == (id(c), collection)]:
            del _handles[k]


def use(settings: Settings, collection: str, action: Callable[[Any], T], *,
        what: str = "read") -> T:
    """Run `action` on the collection. If it fails because the collection was dropped
    meanwhile (another session rebuilding it), it runs again on the new one; if it vanished
    behind our back some other way, one fresh lookup is tried."""
    looked_again = False
    for _ in range(MAX_TRIES):
        handle, generation = _handle(settings, collection)
        try:
            return action(handle)
        except VectorIndexError:
            raise
        except Exception as exc:
            _forget(settings, collection)
            dropped = _generation(settings.db, collection) != generation
            if not dropped and looked_again:
                log.exception("chroma: %s %s failed", what, collection)
                raise VectorIndexError(f"The vector index could not be {what} ({exc}).",
                                       hint="Rebuild it on the Documents page.") from None
            looked_again = looked_again or not dropped
            log.info("chroma: %s %s failed (%s); retrying with a fresh handle", what,
                     collection, "rebuilt meanwhile" if dropped else "vanished", exc_info=True)
    raise VectorIndexError(f"The vector index could not be {what}: it was rebuilt "
                           f"{MAX_TRIES} times while it was being {what}.",
                           hint="Try again once the rebuild on the Documents page is done.")


def drop(settings: Settings, collection: str) -> None:
    """Delete the collection and bump its generation; a missing collection is fine."""
    from lib.knowledge.registry import bump_generation  # the registry imports this module

    bump_generation(settings.db, collection)
    _forget(settings, collection)
    from chromadb.errors import NotFoundError

    try:
        chroma_client(settings).delete_collection(collection)
    except NotFoundError:
        pass  # missing is what we want
    except Exception:  # damaged: the registry is the truth, and a rebuild starts afresh
        log.warning("chroma: dropping %s failed", collection, exc_info=True)


def upsert(settings: Settings, collection: str, ids: Sequence[str], vectors: Any,
           texts: Sequence[str], metadatas: Sequence[dict[str, Any]],
           progress: Callable[[int], None] = lambda n: None) -> None:
    """Write vectors in batches no larger than the client accepts; `progress(done)`."""
    import numpy as np

    matrix = np.asarray(vectors, dtype=np.float32)
    step = use(settings, collection, lambda c: chroma_client(settings).get_max_batch_size(),
               what="written")
    for i in range(0, len(ids), step):
        use(settings, collection, methodcaller(
            "upsert", ids=list(ids[i:i + step]), embeddings=matrix[i:i + step],
            documents=list(texts[i:i + step]), metadatas=list(metadatas[i:i + step])),
            what="written")
        progress(min(i + step, len(ids)))


def delete(settings: Settings, collection: str, ids: Sequence[str]) -> None:
    for i in range(0, len(ids), 1000):
        use(settings, collection, methodcaller("delete", ids=list(ids[i:i + 1000])),
            what="changed")


def count(settings: Settings, collection: str) -> int:
    return use(settings, collection, lambda c: c.count())


def nearest(settings: Settings, collection: str, vector: Any, k: int,
            document_ids: Sequence[int] | None = None) -> list[tuple[str, float]]:
    """The k nearest chunk ids to a query vector, with cosine similarity."""
    where = {"document_id": {"$in": list(document_ids)}} if document_ids else None
    found = use(settings, collection, lambda c: c.query(
        query_embeddings=vector, n_results=k, where=where, include=["distances"]))
    return [(cid, 1.0 - dist) for cid, dist in zip(found["ids"][0], found["distances"][0],
                                                   strict=True)]


def ids(settings: Settings, collection: str, only: Sequence[str] | None = None) -> list[str]:
    """The ids stored in the collection (of `only`, if given)."""
    found = use(settings, collection, lambda c: c.get(ids=list(only) if only is not None
                                                      else None, include=[]))
    return list(found["ids"])
