"""`make bench` runs: its --tiny run (a subprocess, with its own embedded AWS) writes JSON of the documented shape
whose invariants hold. Never a timing: those belong to the table, not to a test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.samples import REPO_ROOT


def test_tiny_bench_writes_json_whose_invariants_hold(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "tests"), str(REPO_ROOT / "layers/deckwatch")])}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--tiny", "--json", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(out.read_text(encoding="utf-8"))
    assert {"date", "machine", "cold_start", "sizes", "reactions", "latency_constants", "storm", "cost"} <= set(r)
    assert out.with_suffix(".md").read_text(encoding="utf-8").startswith("Deckwatch bench")

    cold = r["cold_start"]["handlers"]
    assert cold["minimal"]["ratio_to_minimal"] == 1.0
    assert cold["minimal+parser"]["ratio_to_parser_baseline"] == 1.0
    assert r["cold_start"]["worst_ratio"] == max(h["ratio_to_minimal"] for n, h in cold.items() if "minimal" not in n)
    for h in cold.values():  # every probe made the same AWS calls, without error
        assert h["errors"] == []
        assert h["aws_calls"] == {"ssm.GetParameter": 1, "dynamodb.Query": 1, "dynamodb.TransactWriteItems": 1}
        assert h["total_ms"] > 0 and h["peak_rss_mb"] > 0

    assert len(r["reactions"]) == 4
    for name, x in r["reactions"].items():
        assert x["reached"], name
        assert x["hops"][0]["kind"] == "eventbridge" and x["hops"][-1]["kind"] == "api"
        assert x["p50_warm_s"] <= x["p99_warm_s"] <= x["p99_cold_s"]
    for c in r["latency_constants"].values():
        assert c["source"] and c["as_of"]

    storm = r["storm"]
    assert storm["actions"] == storm["resources"]  # exactly one action per resource, whatever the duplicates
    assert storm["events"] > storm["resources"]
    assert storm["lambda_invocations_per_event"] >= 1

    cost = r["cost"]
    assert abs(cost["total_usd_per_month"] - sum(line["usd_per_month"] for line in cost["lines"])) < 0.01
    assert any(line["line"].startswith("schedule ") for line in cost["lines"])
    assert (cost["total_usd_per_month"] > cost["goal_usd"]) == bool(cost["breaks_goal"])
