"""A compare run's judges: run one (rubric or pairwise, on any model), then what each says —
win rates, position consistency, agreement with people's votes — and a ranking."""

from __future__ import annotations

import math

import streamlit as st

from lib import compare
from lib.compare import LETTERS, Judge, Run
from lib.core import PromptLabError, Settings, format_usd
from lib.ui.kit import app, stored_prompts, widgets
from lib.ui.kit.tables import markdown_table
from lib.ui.kit.text import md, plain

SOURCE_NAMES = {"votes": "People's votes", "judge": "Judges", "both": "Both"}
KIND_HELP = ("Rubric: a score per reply. Pairwise: which of two replies is better, asked in "
             "both orders; when the orders disagree the verdict is a tie.")


def batches_panel(settings: Settings, run: Run) -> None:
    """A batch run's progress at the provider, with check-now and cancel."""
    batches = compare.run_batches(settings, run.id)
    for b in batches:
        st.info(md("Batch {} on {}: {} · {} succeeded, {} errored, {} expired, {} cancelled{}",
                   b.id, b.model.label, b.status, b.succeeded, b.errored, b.expired,
                   b.cancelled, f" · {b.error}" if b.error else ""), icon=":material/schedule:")
    if any(b.open for b in batches):
        c1, c2 = st.columns(2)
        try:
            if c1.button("Check now", key="batch_poll", icon=":material/refresh:"):
                for b in batches:
                    compare.poll_batch(settings, b.id)
                st.rerun()
            if c2.button("Cancel batch", key="batch_cancel", icon=":material/cancel:"):
                for b in batches:
                    if b.open:
                        compare.cancel_batch(settings, b.id)
                st.rerun()
        except PromptLabError as exc:
            widgets.show_error(exc)


def judges_panel(settings: Settings, run: Run, verdicts: list[compare.Verdict]) -> None:
    """Run a judge; what each judge said over the run (its verdicts, per row, are under the
    rows); a ranking from votes and verdicts."""
    with st.expander("Judges", icon=":material/gavel:", expanded=bool(verdicts)):
        _run_form(settings, run)
        reports = compare.report(run, verdicts)
        for r in reports:
            _report(run, r)
    if len(run.variants) >= 2 and (verdicts or run.votes):
        _ranking(run, verdicts)


def _run_form(settings: Settings, run: Run) -> None:
    names = stored_prompts.store().names()
    c1, c2, c3 = st.columns([1, 2, 1])
    kind = c1.segmented_control("Judge", ["pairwise", "rubric"], default="pairwise",
                                key="judge_kind", help=KIND_HELP) or "pairwise"
    default = f"judge-{kind}"
    prompt = c2.selectbox("Judge prompt", names, key=f"judge_prompt_{kind}",
                          index=names.index(default) if default in names else 0)
    ref = c3.selectbox("Version",
                       stored_prompts.ref_options(stored_prompts.store().get(prompt)),
                       key=f"judge_ref_{prompt}")
    status = widgets.model_picker("judge_model", label="Judge model")
    if st.button("Run judge", icon=":material/play_arrow:", key="judge_run",
                 disabled=not status.available):
        try:
            rj = compare.resolve_judge(stored_prompts.store(), app.catalog(),
                                       Judge(kind, prompt, ref, status.model.key))
            bar = st.progress(0.0, text="Judging…")
            cost, jobs = 0, max(1, len(compare.judging_jobs(run, kind)))
            for done, v in enumerate(compare.judge_run(settings, run.id, rj, user=app.user()),
                                     1):
                cost += sum(o.get("cost_micro", 0) for o in v.detail.get("orders", [v.detail]))
                bar.progress(min(1.0, done / jobs), text=md("{} of {} judged · {}", done, jobs,
                                                           format_usd(cost)))
            st.rerun()
        except PromptLabError as exc:
            widgets.show_error(exc)


def _report(run: Run, r: compare.JudgeReport) -> None:
    a = r.agreement
    st.markdown(md("**{}** · {} · {} verdicts{}", r.judge, r.kind, r.verdicts,
                   f" ({r.failed} unreadable)" if r.failed else ""))
    cols = st.columns(3)
    cols[0].metric("Position consistency", plain("–" if r.consistency is None
                                                 else f"{r.consistency:.0%}"),
                   help="Pairs on which both orders gave the same winner. A judge swayed by "
                        "which reply comes first scores low.")
    kappa = "–" if a.kappa is None else f"{a.kappa:.2f}"
    cols[1].metric("Agreement with people (Cohen's κ)", plain(kappa),
                   help="On the pairs people voted on too; 1 is perfect, 0 is chance.")
    if a.kappa is not None:
        cols[1].caption(md("95% CI {:.2f} to {:.2f} · {} · n = {}", a.low, a.high,
                           compare.describe(a.kappa), a.n))
    else:
        cols[1].caption(md("{} · n = {}: vote on rows the judge saw",
                           compare.describe(None), a.n))
    cols[2].metric("Raw agreement", plain("–" if not a.n else f"{a.observed:.0%}"))
    left, right = st.columns(2)
    left.caption("Judge win rates")
    left.markdown(markdown_table([{
        "variant": LETTERS[s.variant], "wins": s.wins, "losses": s.losses, "ties": s.ties,
        "win rate": "–" if s.win_rate is None else f"{s.win_rate:.0%}"} for s in r.scores]))
    if a.n:
        right.caption("People (rows) × judge (columns)")
        right.markdown(markdown_table([{"people": h, **{f"judge: {j}": a.confusion[(h, j)]
                                                        for j in a.labels}}
                                       for h in a.labels]))


def _ranking(run: Run, verdicts: list[compare.Verdict]) -> None:
    st.markdown("**Ranking (Bradley–Terry)**")
    source = st.segmented_control("From", list(compare.SOURCES), default="both",
                                  key=f"bt_source_{run.id}",
                                  format_func=lambda s: plain(SOURCE_NAMES[s])) or "both"
    ranked = compare.rank_variants(run, verdicts, source)
    st.markdown(markdown_table([{
        "rank": s.rank, "variant": run.variant_label(s.item),
        "strength (log)": f"{s.score:+.2f}",
        "95% interval": "no games" if not math.isfinite(s.low)
        else f"{s.low:+.2f} to {s.high:+.2f}",
        "games": f"{s.games:g}"} for s in ranked]))
