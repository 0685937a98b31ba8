"""Cold-start budget: importing a handler module vs `import boto3` alone, each in fresh processes, side by side.

    python tests/benchmarks/cold_start.py [--runs 7]

Prints the median import time per handler and its ratio to boto3's (budget: 1.5x). It measures; it asserts
nothing (timings belong in reports, not in tests).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = "import time, importlib.util, sys; t=time.perf_counter(); {stmt}; print(time.perf_counter()-t)"
ENV = {
    # what Lambda sets; the handler must not need more at import time
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "deckwatch",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
}


def _time(stmt: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | ENV
    out = subprocess.run(
        [sys.executable, "-X", "frozen_modules=on", "-c", PROBE.format(stmt=stmt)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=ROOT,
    )
    return float(out.stdout.strip().splitlines()[-1])


def handler_stmt(app: Path) -> str:
    return (
        f"s=importlib.util.spec_from_file_location('app', {str(app)!r}); m=importlib.util.module_from_spec(s); "
        "s.loader.exec_module(m)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    apps = sorted((ROOT / "functions").glob("*/app.py"))
    samples: dict[str, list[float]] = {name: [] for name in ["boto3", *(a.parent.name for a in apps)]}
    for _ in range(args.runs):  # interleaved, so that machine noise hits all alike
        samples["boto3"].append(_time("import boto3"))
        for a in apps:
            samples[a.parent.name].append(_time(handler_stmt(a)))
    base = statistics.median(samples["boto3"])
    result = {
        name: {"median_s": round(statistics.median(v), 4), "ratio_to_boto3": round(statistics.median(v) / base, 2)}
        for name, v in samples.items()
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'module':<18}{'median':>10}{'x boto3':>10}   (budget 1.5x, {args.runs} fresh processes each)")
    for name, r in result.items():
        print(f"{name:<18}{r['median_s'] * 1000:>8.0f}ms{r['ratio_to_boto3']:>10.2f}")


if __name__ == "__main__":
    main()
