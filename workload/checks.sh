#!/usr/bin/env bash
# Static checks for the reference workload stack (workload/template.yaml).
#
#   VENV=/path/to/venv CHECKOV=/path/to/checkov workload/checks.sh
#
# VENV    python venv with cfn-lint (and aws-sam-translator) installed.
# CHECKOV path to a checkov binary. checkov pins dependencies that clash with
#         cfn-lint's, so it is expected to live in its own venv, e.g.
#           python3 -m venv /tmp/checkov-venv && /tmp/checkov-venv/bin/pip install checkov
#
# Passes only if cfn-lint reports nothing, checkov reports zero failures, and
# every checkov skip / cfn-lint exception in the template carries a comment.
set -euo pipefail

: "${VENV:?set VENV to a python venv with cfn-lint installed}"
: "${CHECKOV:?set CHECKOV to the checkov binary}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"
template=workload/template.yaml

echo "== generated sections of $template are up to date"
"$VENV/bin/python" workload/generate.py --check

echo "== cfn-lint $template"
"$VENV/bin/cfn-lint" "$template"

# The template is plain CloudFormation on purpose (no Transform), so there is no
# SAM-translated form to lint. Fail loudly if someone adds a transform without
# extending this script.
if grep -qE '^Transform:' "$template"; then
  echo "error: $template declares a Transform; lint the translated template too" >&2
  exit 1
fi

echo "== every suppression is justified in place"
"$VENV/bin/python" - "$template" <<'PY'
import sys
import yaml


class Loader(yaml.SafeLoader):
    pass


def _any(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


Loader.add_multi_constructor("!", _any)
doc = yaml.load(open(sys.argv[1]), Loader=Loader)
bad = []
for name, res in doc["Resources"].items():
    meta = res.get("Metadata") or {}
    for skip in (meta.get("checkov") or {}).get("skip", []) or []:
        if not str(skip.get("comment", "")).strip():
            bad.append(f"{name}: checkov skip {skip.get('id')} has no comment")
    ignores = ((meta.get("cfn-lint") or {}).get("config") or {}).get("ignore_checks", [])
    if ignores and not str((meta.get("cfn-lint") or {}).get("comment", "")).strip():
        bad.append(f"{name}: cfn-lint ignore_checks {ignores} has no comment")
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
print("ok")
PY

echo "== checkov $template"
# --skip-download: no network needed; --quiet shows failures only. checkov exits
# non-zero on any failed check.
"$CHECKOV" -f "$template" --framework cloudformation --quiet --compact --skip-download

echo "== all workload checks passed"
