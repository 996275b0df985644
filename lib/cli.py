"""The `promptlab` command: evals in CI and label promotion gated on them.

    promptlab eval evals/extract.toml        # 0 passed, 100 the gate failed, 1 an error
    promptlab promote classifier 3 --label production --require evals/classifier.toml

Exit codes follow promptfoo's, so CI habits carry over. Errors are one plain line on stderr;
the traceback goes to the log file (lib.core.setup_logging), as in the app.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path

from lib.core import PromptLabError, get_settings, setup_logging

log = logging.getLogger("lib.cli")
FAILED, ERROR = 100, 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="promptlab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("eval", help="run an eval file and gate on it")
    ev.add_argument("file", type=Path, help="an eval file, e.g. evals/extract.toml")
    ev.add_argument("--out", type=Path, default=Path("eval-results"),
                    help="where <name>.json, <name>.xml (JUnit) and <name>.md go")
    ev.add_argument("--user", default=None, help="whose calls these are (budgets per user)")
    ev.add_argument("--app-url", default=None,
                    help="the lab's address, for the link to the run (PROMPTLAB_APP_URL)")
    ev.add_argument("--progress", choices=("auto", "bar", "lines"), default="auto",
                    help="a bar on a terminal, plain lines in CI (auto)")
    from lib.evals import add_promote_arguments, promote_main

    add_promote_arguments(sub.add_parser("promote", help="move a label, gated on evals"))
    args = parser.parse_args(argv)
    settings = get_settings()
    setup_logging(settings)
    from lib import telemetry

    telemetry.setup(settings)   # traces, when an OTLP endpoint is set
    for handler in logging.getLogger("lib").handlers:
        if type(handler) is logging.StreamHandler:  # the terminal gets plain lines; the log
            handler.setLevel(logging.ERROR)         # file keeps warnings and tracebacks
    if args.command == "promote":
        return promote_main(args)
    return run_eval_command(args)


def run_eval_command(args: argparse.Namespace) -> int:
    from lib.evals import (
        exit_code,
        judge,
        load,
        record_outcome,
        run_eval,
        to_json,
        to_junit,
        to_markdown,
        write_atomic,
    )

    settings = get_settings()
    cancel = threading.Event()
    try:
        ef = load(args.file)
        show = _progress(args.progress)
        outcome = run_eval(settings, ef, user=args.user, progress=show, cancel=cancel)
        app_url = (args.app_url or settings.app_url).rstrip("/")
        url = f"{app_url}/compare_run?run={outcome.run.id}" if app_url else ""
        result = judge(settings, outcome, run_url=url)
    except KeyboardInterrupt:
        log.warning("promptlab eval %s: interrupted", args.file)
        print("\nInterrupted: the run is marked incomplete; nothing was written.",
              file=sys.stderr)
        return ERROR
    except PromptLabError as exc:
        log.warning("promptlab eval %s: %s", args.file, exc, exc_info=True)
        print(f"promptlab eval: {exc}", file=sys.stderr)
        return ERROR
    inputs = [_row_text(r) for r in outcome.rows]
    out: Path = args.out
    write_atomic(out / f"{ef.name}.json", to_json(result))
    write_atomic(out / f"{ef.name}.xml", to_junit(result, inputs))
    write_atomic(out / f"{ef.name}.md", to_markdown(result, inputs))
    record_outcome(settings.db, result, by=args.user)
    code = exit_code(result)
    print(f"{ef.name}: {result['status']} · wrote {out / ef.name}.json, .xml, .md",
          file=sys.stderr)
    for f in result["findings"]:
        print(f"  {result['variants'][f['variant']]['letter']}: {f['text']}", file=sys.stderr)
    return code


def _row_text(row: dict[str, object]) -> str:
    return " · ".join(f"{k}: {v}" for k, v in row.items() if k not in ("expected", "required"))


def _progress(mode: str):
    """A bar redrawn in place on a terminal; otherwise a line at every tenth."""
    bar = mode == "bar" or (mode == "auto" and sys.stderr.isatty())
    shown: dict[str, int] = {}

    def show(stage: str, done: int, total: int) -> None:
        if bar:
            filled = int(30 * done / max(1, total))
            end = "\n" if done >= total else ""
            print(f"\r{stage:>12} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}",
                  end=end, file=sys.stderr, flush=True)
            return
        tenth = 10 * done // max(1, total)
        if shown.get(stage) != tenth:
            shown[stage] = tenth
            print(f"{stage}: {done}/{total}", file=sys.stderr, flush=True)

    return show


if __name__ == "__main__":
    sys.exit(main())
