"""Run every benchmark; each prints its ratio against a baseline measured in the same run.
A benchmark that misses its goal exits non-zero; the others still run."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
missed = []
for script in sorted(HERE.glob("bench_*.py")):
    print(f"\n== {script.stem} ==", flush=True)
    if subprocess.run([sys.executable, str(script)], cwd=HERE).returncode:
        missed.append(script.stem)
print(f"\n{'missed or failed: ' + ', '.join(missed) if missed else 'every benchmark ran'}")
sys.exit(1 if missed else 0)
