#!/usr/bin/env bash
# Static checks of template.yaml and statemachines/*.asl.json. Run from anywhere; needs `make venv tools` first.
#   1. sam validate --lint        (SAM CLI's cfn-lint on the SAM template)
#   2. sam validate               (runs the SAM translator; see the note on credentials below)
#   3. cfn-lint                   on the translated CloudFormation of each environment (dev, staging, prod)
#   4. checkov                    on template.yaml (its Fn::ForEach loops expanded) and on the translated prod
#                                 template; any failed check fails (justified exceptions live in the resource's
#                                 Metadata.checkov.skip)
#   5. ASL                        placeholders vs DefinitionSubstitutions, no literal ARNs, statelint, moto's parser
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
TOOLS=${TOOLS:-.tools}
SAM=${SAM:-$TOOLS/sam/bin/sam}
CHECKOV=${CHECKOV:-$TOOLS/checkov/bin/checkov}
STATELINT=${STATELINT:-$TOOLS/node/node_modules/.bin/statelint}
TEMPLATE=template.yaml
REGION=us-east-1

export SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION=$REGION AWS_REGION=$REGION

for bin in "$VENV/bin/python" "$VENV/bin/cfn-lint" "$SAM" "$CHECKOV" "$STATELINT"; do
  [[ -x $bin ]] || { echo "check-template: $bin missing; run 'make venv tools'" >&2; exit 1; }
done

# Translated templates stay behind for inspection (.aws-sam/ is git-ignored); checkov reports paths relative to here.
work=.aws-sam/check-template
rm -rf "$work" && mkdir -p "$work"

phase() { printf '\n== %s\n' "$*"; }
failures=()
run() {  # run NAME CMD...: run a check, remember a failure, keep going so one run reports everything
  local name=$1 start=$SECONDS; shift
  if "$@"; then
    echo "-- $name: ok ($((SECONDS - start))s)"
  else
    echo "-- $name: FAILED ($((SECONDS - start))s)"
    failures+=("$name")
  fi
}

# sam validate, offline and without credentials (checked with SAM CLI 1.170.0). Plain `sam validate` runs the SAM
# translator, which maps managed policy names in Policies (e.g. AWSXrayWriteOnlyAccess) to ARNs from a list bundled
# with the translator; only a name missing from that list makes it call iam:ListPolicies ("Loading policies from
# IAM..."). With no credentials that fails with "AWS Credentials are required"; dummy credentials do not help either
# (offline: "Could not connect to the endpoint URL: https://iam.amazonaws.com/"). The fix is in the template: name
# such a policy by its full ARN. Credentials and profiles are hidden from sam, so the result is the same on a
# laptop with credentials as in CI without any; `--lint` needs no AWS access at all.
sam_offline() {
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true "$SAM" "$@"
}

phase "sam validate --lint"
run "sam validate --lint" sam_offline validate --lint -t "$TEMPLATE" --region "$REGION"

# samconfig.toml sets `lint = true` for validate, which would turn this into a second lint run: point sam at an
# empty config file so this step is the translator alone. That file also drops samconfig's
# `language_extensions = true`, so the flag is given here: the template's Fn::ForEach loops (AWS::LanguageExtensions)
# are expanded before the SAM translator runs, as CloudFormation does.
phase "sam validate (SAM translator)"
: >"$work/samconfig-empty.toml"
run "sam validate" sam_offline validate --language-extensions -t "$TEMPLATE" --region "$REGION" \
  --config-file "$PWD/$work/samconfig-empty.toml"

phase "translate template.yaml -> CloudFormation (dev, staging, prod)"
run "translate" "$VENV/bin/python" .ci/translate.py "$work" dev staging prod >/dev/null

# Warnings fail too. W1020 ("Fn::Sub isn't needed because there are no variables") is ignored: the SAM translator
# itself resolves the Environment parameter inside some !Sub values (e.g. the layer's LayerName, to hash its logical
# id) and leaves the emptied Fn::Sub behind; the template's own !Sub uses are linted by `sam validate --lint` above.
# A command-line --ignore-checks replaces the template's own Metadata exceptions, so those are repeated here
# (W1030: see the justification in template.yaml's Metadata).
# cfn-lint resolves an Fn::Join with one nested generator per element, and the SAM translator inlines a state
# machine's definition as an Fn::Join of its lines: past about 950 lines (the cutover machine) Python's default
# recursion limit of 1000 turns that into "E1022 maximum recursion depth exceeded". The limit is raised for it.
phase "cfn-lint on the translated templates (dev, staging, prod)"
translated=("$work"/template-{dev,staging,prod}.json)
cfn_lint() {
  "$VENV/bin/python" -c 'import sys; sys.setrecursionlimit(20000); from cfnlint.runner import main; sys.argv[0] = "cfn-lint"; sys.exit(main())' "$@"
}
run "cfn-lint" cfn_lint --regions "$REGION" --ignore-checks W1020 W1030 -- "${translated[@]}"

# checkov does not know Fn::ForEach: a loop in Resources makes it skip the SAM Globals of every function (and
# report their settings missing). It reads template.yaml as CloudFormation's AWS::LanguageExtensions transform
# leaves it instead (deckwatch.local.template.load_yaml: loops expanded, still SAM, Globals intact).
# One checkov run over both files (its start-up dominates); the report names the file of every finding.
phase "checkov on template.yaml (loops expanded) and the translated prod template"
expanded=$work/template-sam.json
run "expand Fn::ForEach" env PYTHONPATH=layers/deckwatch "$VENV/bin/python" -c '
import json, sys
from pathlib import Path
from deckwatch.local.template import load_yaml
Path(sys.argv[2]).write_text(json.dumps(load_yaml(Path(sys.argv[1])), indent=2) + "\n", encoding="utf-8")
' "$TEMPLATE" "$expanded"
run "checkov" "$CHECKOV" -f "$expanded" -f "$work/template-prod.json" --framework cloudformation \
  --quiet --compact --skip-download

phase "ASL: placeholders, literal ARNs, statelint, moto parser"
run "ASL" "$VENV/bin/python" .ci/check_asl.py --statelint "$STATELINT"

echo
if ((${#failures[@]})); then
  echo "check-template: FAILED: ${failures[*]}" >&2
  exit 1
fi
echo "check-template: all checks passed"
