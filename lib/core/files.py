"""Writing files so a reader sees the old content or the new, never half."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write beside the target, then rename over it; a failure leaves no temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # the original error is the one to report
            tmp.unlink(missing_ok=True)
        raise
