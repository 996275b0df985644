"""How much memory this process holds, and a guard that stops work growing it past a limit."""

from __future__ import annotations

import os
import resource

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux /proc; the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE / (1 << 20)
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MemoryGuard:
    """Notes the process's memory at the start; `grown()` says by how much it grew since."""

    def __init__(self, limit_mb: float) -> None:
        self.limit_mb = limit_mb
        self.start_mb = rss_mb()

    def grown(self) -> float:
        return rss_mb() - self.start_mb

    def over(self) -> bool:
        return self.grown() > self.limit_mb
