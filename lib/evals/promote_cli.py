"""`promptlab promote <prompt> <version> --label production [--require evals/x.toml ...]`:
move a label only if the required evals passed for that version. Exit 0 moved, 100 refused
(a required result missing or failing), 1 an error; the reason in plain words on stderr."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from lib.core import PromotionError, PromptLabError, PromptStoreError, get_settings
from lib.evals.promotion import eval_name_of, guarding, promote
from lib.prompts import PromptStore

MOVED, ERROR, REFUSED = 0, 1, 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="the prompt's name")
    parser.add_argument("version", help="the version to point the label at: 3 or v3")
    parser.add_argument("--label", required=True, help="the label to move, e.g. production")
    parser.add_argument("--require", action="append", default=[], metavar="EVAL_FILE",
                        help="an eval file (evals/<name>.toml) whose newest result for the "
                             "version must pass; repeatable. Evals whose [promote] labels "
                             "guard the label are required as well.")
    parser.add_argument("--override", action="store_true",
                        help="move even without passing results (needs --reason; recorded)")
    parser.add_argument("--reason", default="", help="why the override is right")
    parser.add_argument("--by", default=None,
                        help="who moves it (default: $GITHUB_ACTOR, else the OS user)")


def _who() -> str | None:
    if actor := os.environ.get("GITHUB_ACTOR", "").strip():
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no such user in the password database (a bare container)
        return None


def _version(text: str) -> int:
    digits = str(text).strip().removeprefix("v")
    if not digits.isascii() or not digits.isdigit():
        raise PromptStoreError(f"'{text}' is not a version: give a number such as 3 or v3.")
    return int(digits)


def main(args: argparse.Namespace) -> int:
    if args.override and not args.reason.strip():
        print("--override needs --reason: say why the version ships anyway.", file=sys.stderr)
        return ERROR
    settings = get_settings()
    try:
        version = _version(args.version)
        named = [eval_name_of(Path(path)) for path in args.require]
        require = list(dict.fromkeys([*named, *guarding(settings.evals_dir, args.prompt,
                                                         args.label)]))
        move = promote(settings.db, PromptStore(settings.prompts_dir), args.prompt, version,
                       args.label, require=require, by=args.by or _who(),
                       override=args.override, reason=args.reason)
    except PromotionError as exc:
        print(str(exc), file=sys.stderr)
        return REFUSED
    except PromptLabError as exc:
        print(str(exc), file=sys.stderr)
        return ERROR
    was = "" if move.from_version is None else f" (was v{move.from_version})"
    checked = f", {', '.join(require)} passed" if require and not move.overridden else ""
    overridden = ", overriding the eval gate" if move.overridden else ""
    print(f"Moved '{move.label}' of '{move.prompt}' to v{move.to_version}{was}{checked}"
          f"{overridden}.")
    return MOVED
