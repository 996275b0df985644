"""Latency histograms: 2%-wide buckets, so a bucket's middle is within 1% of any member."""

from __future__ import annotations

import math

LOG_STEP = math.log(1.02)


def latency_bucket(ms: float | None) -> int | None:
    """Bucket b covers [1.02^b, 1.02^(b+1)) ms; -1 holds [0, 1) ms."""
    if ms is None:
        return None
    return -1 if ms < 1 else math.floor(math.log(ms) / LOG_STEP)


def bucket_value(bucket: int | float | None) -> float | None:
    """A bucket's representative latency: the geometric middle, within 1% of any member."""
    if bucket is None or (isinstance(bucket, float) and math.isnan(bucket)):
        return None
    return 0.5 if bucket < 0 else math.exp((bucket + 0.5) * LOG_STEP)
