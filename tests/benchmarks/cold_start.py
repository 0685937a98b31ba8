"""Cold start as Lambda pays it: per handler (functions/*/app.py), in fresh processes, the import and the first
invocation (boto3 import, client creation, the policy read from SSM, one ledger write), side by side with a
minimal Powertools handler making the same AWS calls (minimal_handler.py) and the same handler validating the
policy with one pydantic model (minimal_parser_handler.py: what validating through pydantic costs at all),
interleaved in one run so that machine noise hits all alike. Peak memory (ru_maxrss) per handler.

    python -m benchmarks.cold_start [--runs 7] [--json]     (tests/ on sys.path)

The AWS endpoint is stub_aws.StubAWS in this process (no moto in the probe). Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.stub_aws import StubAWS

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("_probe.py")
MINIMAL = Path(__file__).with_name("minimal_handler.py")
MINIMAL_PARSER = Path(__file__).with_name("minimal_parser_handler.py")
BASELINES = {"minimal": MINIMAL, "minimal+parser": MINIMAL_PARSER}
POLICY = ROOT / "layers/deckwatch/deckwatch/policy/examples/staging.yaml"
GOAL_RATIO = 1.2
# What Lambda and template.yaml set (Globals), pointed at the stub; the handler must need no more.
ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "POWERTOOLS_SERVICE_NAME": "deckwatch",
    "POWERTOOLS_METRICS_NAMESPACE": "Deckwatch",
    "ENVIRONMENT": "staging",
    "LEDGER_TABLE": "ledger",
    "STATE_TABLE": "state",
    "IDEMPOTENCY_TABLE": "idempotency",
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:deckwatch",
    "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/deckwatch-dlq",
    "POLICY_PARAMETER": "/deckwatch/staging/policy",
    "ACCOUNT_ID": "123456789012",
}


def handlers() -> list[Path]:
    return sorted((ROOT / "functions").glob("*/app.py"))


def probe(app: Path, endpoint: str) -> dict[str, Any]:
    """One fresh process: import `app`, run its first invocation; the probe's JSON line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "DECKWATCH_", "POWERTOOLS_"))}
    env |= ENV | {"AWS_ENDPOINT_URL": endpoint, "PYTHONPATH": str(ROOT / "layers/deckwatch")}
    out = subprocess.run(
        [sys.executable, str(PROBE), "work", str(app)], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(runs: int = 7, only: list[str] | None = None) -> dict[str, Any]:
    """Median import, first invocation and total per handler and for the minimal handler; ratio to the minimal."""
    apps = {a.parent.name: a for a in handlers() if not only or a.parent.name in only}
    subjects = {**BASELINES, **apps}
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in subjects}
    calls: dict[str, dict[str, int]] = {}
    with StubAWS(POLICY.read_text(encoding="utf-8")) as stub:
        for _ in range(runs):
            for name, app in subjects.items():
                before = stub.snapshot()
                samples[name].append(probe(app, stub.url))
                calls[name] = dict(stub.snapshot() - before)
    base = statistics.median(s["import_s"] + s["first_invocation_s"] for s in samples["minimal"])
    parser_base = statistics.median(s["import_s"] + s["first_invocation_s"] for s in samples["minimal+parser"])
    out: dict[str, Any] = {}
    for name, runs_of in samples.items():
        total = statistics.median(s["import_s"] + s["first_invocation_s"] for s in runs_of)
        out[name] = {
            "import_ms": round(statistics.median(s["import_s"] for s in runs_of) * 1000, 1),
            "first_invocation_ms": round(statistics.median(s["first_invocation_s"] for s in runs_of) * 1000, 1),
            "total_ms": round(total * 1000, 1),
            "ratio_to_minimal": round(total / base, 2),
            "ratio_to_parser_baseline": round(total / parser_base, 2),
            "peak_rss_mb": round(max(s["maxrss_mb"] for s in runs_of), 1),
            "modules_loaded": int(statistics.median(s["modules"] for s in runs_of)),
            "aws_calls": calls[name],
            "errors": sorted({s["error"] for s in runs_of if s["error"]}),
        }
    ratios = [v["ratio_to_minimal"] for k, v in out.items() if k not in BASELINES]
    return {
        "runs": runs,
        "goal_ratio": GOAL_RATIO,
        "worst_ratio": max(ratios) if ratios else None,
        "median_ratio": round(statistics.median(ratios), 2) if ratios else None,
        "handlers": out,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = measure(args.runs, args.only)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'handler':<20}{'import':>9}{'1st call':>10}{'total':>9}{'x min':>7}{'x parser':>9}{'rss MB':>8}")
    for name, r in result["handlers"].items():
        print(
            f"{name:<20}{r['import_ms']:>7.0f}ms{r['first_invocation_ms']:>8.0f}ms{r['total_ms']:>7.0f}ms"
            f"{r['ratio_to_minimal']:>7.2f}{r['ratio_to_parser_baseline']:>9.2f}{r['peak_rss_mb']:>8.0f}"
            f"  {' '.join(r['errors'])}"
        )


if __name__ == "__main__":
    main()
