"""Compare: 2-4 variants (prompt version x model x parameters) over one input or a dataset —
forecast, parallel runs, votes and their statistics, automated checks, CSV export."""

from lib.compare.checks import KINDS, Check, run_check, run_checks
from lib.compare.datasets import (
    MAX_COLUMNS,
    MAX_ROWS,
    Dataset,
    list_datasets,
    load_dataset,
    parse_csv,
    save_dataset,
)
from lib.compare.engine import CellEvent, execute
from lib.compare.export import export_csv
from lib.compare.forecast import CellPlan, Forecast, forecast
from lib.compare.runs import (
    OUTCOMES,
    CellResult,
    Run,
    create_run,
    list_runs,
    load_run,
    outcome_label,
    vote,
)
from lib.compare.stats import VariantScore, more_votes_needed, scores, significant, wilson
from lib.compare.variants import (
    LETTERS,
    ResolvedVariant,
    Variant,
    request_for,
    resolve,
    variables_of,
    variant_label,
)

__all__ = [
    "KINDS", "LETTERS", "MAX_COLUMNS", "MAX_ROWS", "OUTCOMES", "CellEvent", "CellPlan",
    "CellResult", "Check", "Dataset", "Forecast", "ResolvedVariant", "Run", "Variant",
    "VariantScore", "create_run", "execute", "export_csv", "forecast", "list_datasets",
    "list_runs", "load_dataset", "load_run", "more_votes_needed", "outcome_label", "parse_csv",
    "request_for", "resolve", "run_check", "run_checks", "save_dataset", "scores", "significant",
    "variables_of", "variant_label", "vote", "wilson",
]
