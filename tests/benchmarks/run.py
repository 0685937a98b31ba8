"""`make bench`: runs every section, prints the table, writes the JSON (default .deckwatch/bench.json) and the
table as Markdown beside it (bench.md, what the README quotes).

    python -m benchmarks [--tiny] [--json PATH] [--runs N] [--storm-events N] [--storm-resources N]

--tiny is the test's run (tests/test_bench.py): one cold-start round over two handlers, an existing build
measured instead of a new one, a 60-event storm over 6 resources. The sections that need the embedded AWS share
one runtime (moto is process-wide).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from support.samples import REPO_ROOT

from benchmarks import cold_start, cost, latencies, reactions, sizes, storm, world


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()} {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    only = ["alarm_events", "remediation"] if args.tiny else None
    cold = cold_start.measure(1 if args.tiny else args.runs, only)
    inits = reactions.cold_inits(cold)
    size = sizes.measure(skip_build=args.tiny or args.skip_build)
    events, resources = (60, 6) if args.tiny else (args.storm_events, args.storm_resources)
    with world.runtime(REPO_ROOT / ".deckwatch/bench-work", resources) as rt:
        reaction, traces = reactions.measure(rt, inits)
        runs = {name: (traces[name], reaction[name]["executions"]) for name in reaction}
        costs = cost.model(rt, runs, inits)
        storm_result = storm.run(rt, events, resources)
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "tiny": bool(args.tiny),
        "cold_start": cold,
        "sizes": size,
        "reactions": reaction,
        "latency_constants": latencies.constants(),
        "storm": storm_result,
        "cost": costs,
    }


def table(r: dict[str, Any]) -> str:
    """The results as Markdown (printed as is: it reads fine as text)."""
    out = [f"Deckwatch bench, {r['date']}, {r['machine']}{' (--tiny)' if r['tiny'] else ''}", ""]
    c = r["cold_start"]
    out += [
        f"**Cold start** (import + first invocation, fresh processes, median of {c['runs']}; goal <= "
        f"{c['goal_ratio']}x minimal; worst {c['worst_ratio']}x, median {c['median_ratio']}x)",
        "",
        "| handler | import ms | 1st invocation ms | total ms | x minimal | x minimal+parser | peak RSS MB |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for name, h in c["handlers"].items():
        err = f" ({'; '.join(h['errors'])})" if h["errors"] else ""
        out.append(
            f"| {name}{err} | {h['import_ms']:.0f} | {h['first_invocation_ms']:.0f} | {h['total_ms']:.0f} | "
            f"{h['ratio_to_minimal']:.2f} | {h['ratio_to_parser_baseline']:.2f} | {h['peak_rss_mb']:.0f} |"
        )
    s = r["sizes"]
    out += ["", "**Sizes** (sam build, arm64)", ""]
    if s.get("layer"):
        layer = s["layer"]
        out.append(
            f"Layer: {layer['zipped_mb']} MB zipped, {layer['unzipped_mb']} MB unzipped "
            f"(limit {layer['limit_unzipped_mb']} MB unzipped). Largest: "
            + ", ".join(f"{p['package']} {p['unzipped_mb']} MB" for p in s["largest_packages"][:6])
        )
        fns = s["functions"].values()
        if fns:
            out.append(f"Functions: {len(fns)} packages, {max(f['zipped_kb'] for f in fns)} kB zipped at most.")
    else:
        out.append(f"not measured: {s['build'].get('why', '')[:200]}")
    out += [
        "",
        "**Reaction in AWS** (estimated: traced critical path x per-hop latencies; cold = every function on the path "
        "cold, its measured init scaled to its MemorySize's CPU share: 1,769 MB = 1 vCPU = this machine's core)",
        "",
        "| reaction | hops | functions on path | p50 warm s | p99 warm s | p99 cold s |",
        "|---|--:|---|--:|--:|--:|",
    ]
    for name, x in r["reactions"].items():
        flag = "" if x["reached"] else " (not reached)"
        out.append(
            f"| {name}{flag} | {len(x['hops'])} | {' -> '.join(x['functions_on_path'])} | {x['p50_warm_s']} | "
            f"{x['p99_warm_s']} | {x['p99_cold_s']} |"
        )
    st = r["storm"]
    out += [
        "",
        f"**Storm** {st['events']} alarm events over {st['resources']} resources: {st['actions']} actions, "
        f"{st['events_per_second']} events/s (moto), {st['lambda_invocations_per_event']} invocations/event, "
        f"{st['dynamodb_writes_per_event']} DynamoDB writes/event "
        f"({st['dynamodb_writes_per_duplicate']} per duplicate), "
        f"peak RSS {st['peak_rss_mb']} MB (process, moto included)",
        "",
        "**Cost per environment per month** (us-east-1, arm64, no free tier; prices as of "
        f"{r['cost']['prices_as_of']})",
        "",
        "| line | USD/month | how |",
        "|---|--:|---|",
    ]
    for line in r["cost"]["lines"]:
        out.append(f"| {line['line']} | {line['usd_per_month']:.3f} | {line['how']} |")
    out.append(f"| **total** | **{r['cost']['total_usd_per_month']:.2f}** | goal < {r['cost']['goal_usd']} |")
    if r["cost"]["breaks_goal"]:
        out.append(f"\nAbove the goal because of: {', '.join(r['cost']['breaks_goal'])}.")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Deckwatch benchmarks: cold start, sizes, reactions, storm, cost")
    ap.add_argument("--tiny", action="store_true", help="the test's quick run (no timings worth quoting)")
    ap.add_argument("--json", type=Path, default=REPO_ROOT / ".deckwatch/bench.json")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--storm-events", type=int, default=10_000)
    ap.add_argument("--storm-resources", type=int, default=200)
    ap.add_argument("--skip-build", action="store_true", help="measure the existing .aws-sam/bench/build")
    args = ap.parse_args(argv)
    started = datetime.datetime.now(datetime.UTC)
    result = run(args)
    result["date"] = started.strftime("%Y-%m-%d %H:%M UTC")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    text = table(result)
    args.json.with_suffix(".md").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\n(JSON: {args.json})", file=sys.stderr)
