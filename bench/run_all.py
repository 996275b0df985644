"""Run every benchmark; each prints its ratio against a baseline measured in the same run."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
for script in sorted(HERE.glob("bench_*.py")):
    print(f"\n== {script.stem} ==", flush=True)
    subprocess.run([sys.executable, str(script)], cwd=HERE, check=True)
