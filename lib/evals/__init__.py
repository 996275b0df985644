"""Evals as code: a dataset, checks and judges run against a baseline, and a gate that fails
only when a drop is more than chance."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.evals.stats import (
        Comparison,
        compare_paired,
        flaky,
        mcnemar_exact,
        meets_min_pass_rate,
        paired_bootstrap,
        pass_at_k,
        pass_hat_k,
        regression_p,
    )
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
