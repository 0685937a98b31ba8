#!/usr/bin/env bash
# Build the Lambda layer as `sam build` does (template.yaml's DeckwatchLayer: layers/deckwatch/Makefile) and check
# what is in it (.ci/check_layer.py): the runtime packages and their arm64 wheels, the RDS CA bundle, and no
# deckwatch/local, moto or test code. Run from anywhere; needs `make venv tools` first (`make check-layer`).
# The build goes to .aws-sam/check-layer/ (git-ignored), never cached, so it does not touch a developer's
# .aws-sam/build; it needs PyPI (or a pip cache) for the wheels, as `sam build` does.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
TOOLS=${TOOLS:-.tools}
SAM=${SAM:-$TOOLS/sam/bin/sam}
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}

for bin in "$VENV/bin/python" "$SAM"; do
  [[ -x $bin ]] || { echo "check-layer: $bin missing; run 'make venv tools'" >&2; exit 1; }
done

work=.aws-sam/check-layer
rm -rf "$work" && mkdir -p "$work"
start=$SECONDS
echo "== sam build DeckwatchLayer -> $work/build"
"$SAM" build DeckwatchLayer --build-dir "$work/build" --cache-dir "$work/cache" --no-cached >"$work/build.log" 2>&1 \
  || { cat "$work/build.log"; echo "check-layer: sam build failed" >&2; exit 1; }
echo "-- built in $((SECONDS - start))s ($(du -sh "$work/build/DeckwatchLayer" | cut -f1))"

echo "== contents of the built layer"
"$VENV/bin/python" .ci/check_layer.py "$work/build/DeckwatchLayer"
echo "check-layer: all checks passed"
