"""Compare: 2-4 variants (prompt version x model x parameters) over one input or a dataset —
forecast, parallel runs, votes and their statistics, automated checks, CSV export."""

from lib.core import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, {
    "lib.compare.agreement": ("Agreement", "cohen_kappa", "describe"),
    "lib.compare.batch": (
        "POLL_EVERY_S", "batch_forecast", "batchable", "cancel_batch", "poll_batch", "poll_open",
        "resume_batches", "submit_batch"
    ),
    "lib.compare.batch_records": ("BatchInfo", "get_batch", "open_batches", "run_batches"),
    "lib.compare.checks": (
        "EXPECTS", "KINDS", "NEEDS_VALUE", "Check", "run_check", "run_checks"
    ),
    "lib.compare.datasets": (
        "MAX_COLUMNS", "MAX_ROWS", "Dataset", "list_datasets", "load_dataset", "parse_csv",
        "save_dataset"
    ),
    "lib.compare.engine": ("CellEvent", "execute"),
    "lib.compare.evaluation": (
        "LABELS", "SOURCES", "JudgeReport", "human_outcomes", "judge_outcomes", "rank_variants",
        "report"
    ),
    "lib.compare.judges": (
        "Judge", "ResolvedJudge", "Verdict", "VerdictText", "both_orders", "judge_run",
        "judging_jobs", "load_verdicts", "resolve_judge", "verdict_text", "verdicts_by_row"
    ),
    "lib.compare.expected": ("EXPECTED", "json_fields", "normalise", "similarity_with"),
    "lib.compare.export": ("export_csv",),
    "lib.compare.plan": ("CellPlan", "Forecast", "forecast"),
    "lib.compare.ranking": ("Strength", "bradley_terry"),
    "lib.compare.runs": (
        "OUTCOMES", "CellResult", "Run", "create_run", "list_runs", "load_run", "outcome_label",
        "vote"
    ),
    "lib.compare.stats": (
        "VariantScore", "more_votes_needed", "scores", "significant", "wilson"
    ),
    "lib.compare.variants": (
        "LETTERS", "ResolvedVariant", "Variant", "request_for", "resolve", "variables_of",
        "variant_label"
    ),
})
