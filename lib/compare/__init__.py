"""Compare: 2-4 variants (prompt version x model x parameters) over one input or a dataset —
forecast, parallel runs, votes and their statistics, automated checks, CSV export."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.compare.agreement import Agreement, cohen_kappa, describe
    from lib.compare.batch import (
        POLL_EVERY_S,
        batch_forecast,
        batchable,
        cancel_batch,
        poll_batch,
        poll_open,
        prompt_variants,
        resume_batches,
        stop_pollers,
        submit_batch,
    )
    from lib.compare.batch_records import BatchInfo, get_batch, open_batches, run_batches
    from lib.compare.checks import EXPECTS, KINDS, NEEDS_VALUE, Check, run_check, run_checks
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
    from lib.compare.evaluation import (
        LABELS,
        SOURCES,
        JudgeReport,
        human_outcomes,
        judge_outcomes,
        rank_variants,
        report,
    )
    from lib.compare.expected import EXPECTED, json_fields, normalise, similarity_with
    from lib.compare.export import export_csv
    from lib.compare.judges import (
        Judge,
        ResolvedJudge,
        Verdict,
        VerdictText,
        both_orders,
        judge_run,
        judging_jobs,
        load_verdicts,
        resolve_judge,
        verdict_text,
        verdicts_by_row,
    )
    from lib.compare.plan import CellPlan, Forecast, forecast
    from lib.compare.ranking import Strength, bradley_terry
    from lib.compare.runs import (
        OUTCOMES,
        CellResult,
        Run,
        create_run,
        list_runs,
        load_run,
        outcome_label,
        set_status,
        vote,
    )
    from lib.compare.stats import VariantScore, more_votes_needed, scores, significant, wilson
    from lib.compare.variants import (
        LETTERS,
        AnyVariant,
        ResolvedVariant,
        ResolvedWorkflow,
        Variant,
        dropped_notes,
        request_for,
        resolve,
        variables_of,
        variant_label,
    )
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
