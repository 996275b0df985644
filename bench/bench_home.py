"""Home page first script run, in a fresh process, against an empty Streamlit app.

Each sample is a new interpreter that imports Streamlit's AppTest, warms Streamlit itself by
running a one-line app (Streamlit pays ~90 ms once per process, in bare mode, on its first
element), then times the first run of the script under test: the imports and work the page
itself adds. Goal: at most 1.5x.

Children run with bytecode caching on (Python's default; some shells set
PYTHONDONTWRITEBYTECODE, which makes every fresh process recompile the project's modules —
a cost a long-running server pays once, not per page view).
"""

from __future__ import annotations

import argparse
import compileall
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, pct, scratch_data_dir

CHILD = """
import sys, time
from streamlit.testing.v1 import AppTest
AppTest.from_string("import streamlit as st; st.write('warm')").run()
at = AppTest.from_file(sys.argv[1], default_timeout=60)
start = time.perf_counter()
at.run()
elapsed = time.perf_counter() - start
assert not at.exception, at.exception
print(elapsed * 1000)
"""


def first_run_ms(script: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(script)], cwd=ROOT, check=True,
                         capture_output=True, text=True, env=env).stdout
    return float(out.strip().splitlines()[-1])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with scratch_data_dir(), tempfile.TemporaryDirectory() as d:
        empty = Path(d) / "empty_app.py"
        empty.write_text("import streamlit as st\n")
        home = ROOT / "Home.py"
        for folder in ("lib", "pages"):  # as an install would leave them
            compileall.compile_dir(ROOT / folder, quiet=1)
        first_run_ms(home)  # create the scratch database and warm the OS file cache
        homes, empties = [], []
        for _ in range(args.runs):
            empties.append(first_run_ms(empty))
            homes.append(first_run_ms(home))
    e, h = pct(empties, 50), pct(homes, 50)
    print(f"{'empty app first run':<28} p50={e:8.1f} ms  p95={pct(empties, 95):8.1f} ms")
    print(f"{'Home first run':<28} p50={h:8.1f} ms  p95={pct(homes, 95):8.1f} ms")
    print(f"{'Home / empty':<28} {h / e:.2f}x  (goal: <= 1.5x)")
