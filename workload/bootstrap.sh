#!/usr/bin/env bash
# Creates the SSM traffic parameters one environment's workload stack resolves, before its first create.
#
#   workload/bootstrap.sh <dev|staging|prod> [--region REGION] [--dry-run]
#
# The stack's listener weights are CloudFormation parameters of type AWS::SSM::Parameter::Value<String>
# (WebBlueWeight = /deckwatch/<env>/traffic/web/blue, ...), so the SSM parameters must exist before the stack
# does. After that they belong to Deckwatch, which overwrites them on every shift and deployment; this script never
# overwrites one (it skips names that exist), so running it again is harmless. Deliberately not a
# CloudFormation stack: updating such a stack would reset the weights to their bootstrap values, and the next
# workload stack update would then move production traffic.
#
# The parameter list comes from workload/generate.py (the same table the template is rendered from):
#   /deckwatch/<env>/traffic/<service>/blue   "100"   production listener weight of blue  (integer 0-100)
#   /deckwatch/<env>/traffic/<service>/green  "0"     production listener weight of green (blue + green = 100)
#   /deckwatch/<env>/traffic/<service>/test   "green" colour the test listener (8443) forwards to (blue|green)
# for every load-balanced service (web, api), and for every service (the worker too)
#   /deckwatch/<env>/traffic/<service>/<colour>-task-definition   "shop-<env>-<service>"   the task definition the
#       colour runs (the family until Deckwatch's first release; then the revision it deployed)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
env="${1:-}"
shift || true
region_args=()
dry_run=false
while [ $# -gt 0 ]; do
  case "$1" in
    --region) region_args=(--region "$2"); shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$env" in
  dev|staging|prod) ;;
  *) echo "usage: $0 <dev|staging|prod> [--region REGION] [--dry-run]" >&2; exit 2 ;;
esac

python3 "$here/generate.py" traffic-parameters "$env" | while read -r name value; do
  if $dry_run; then
    echo "aws ssm put-parameter ${region_args[*]} --type String --name $name --value $value"
    continue
  fi
  if aws ssm get-parameter "${region_args[@]}" --name "$name" >/dev/null 2>&1; then
    echo "exists, left alone: $name"
  else
    aws ssm put-parameter "${region_args[@]}" --type String --name "$name" --value "$value" \
      --description "Deckwatch traffic contract (workload/README.md); written by Deckwatch on every shift" >/dev/null
    echo "created: $name = $value"
  fi
done
