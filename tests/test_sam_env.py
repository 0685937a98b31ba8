"""`deckwatch sam-env`: the `--env-vars` file of `sam local invoke`, from the stack the embedded AWS deployed
(template.yaml through moto's CloudFormation, as `deckwatch-staging`)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from deckwatch.local.cli import main
from deckwatch.local.runtime import LocalAWS
from deckwatch.local.sam_env import DeployedStack, env_vars
from deckwatch.local.template import load_yaml
from support.samples import REPO_ROOT

# moto's CloudFormation says so for each resource type it skips, whenever it lists the stack's resources
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")


@pytest.fixture(scope="module")
def rt(local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]]) -> Iterator[LocalAWS]:
    with local_aws_factory("staging") as runtime:
        yield runtime


def sam_env(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["sam-env", *argv, "--root", str(REPO_ROOT)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def written(rt: LocalAWS, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    out = tmp_path_factory.mktemp("sam-env") / "env.json"
    assert main(["sam-env", "--env", "staging", "--out", str(out), "--root", str(REPO_ROOT)]) == 0
    return dict(json.loads(out.read_text(encoding="utf-8")))


def test_every_function_gets_the_environment_it_has_in_the_stack(rt: LocalAWS, written: dict[str, Any]) -> None:
    """SAM merges "Parameters" (every function) with the function's own section: that is each deployed function's
    environment, as Lambda has it (GetFunctionConfiguration of the embedded AWS)."""
    for fn in rt.functions.values():
        merged = {**written["Parameters"], **written.get(fn["logical_id"], {})}
        assert merged == fn["env"], fn["logical_id"]
    assert set(written) - {"Parameters"} <= {fn["logical_id"] for fn in rt.functions.values()}


def test_values_are_the_stacks_physical_names_and_outputs(rt: LocalAWS, written: dict[str, Any]) -> None:
    shared = written["Parameters"]
    assert shared["ENVIRONMENT"] == "staging"
    assert shared["LEDGER_TABLE"] == rt.outputs["LedgerTableName"] == "deckwatch-staging-ledger"
    assert shared["STATE_TABLE"] == rt.outputs["StateTableName"]
    assert shared["TOPIC_ARN"] == rt.outputs["NotificationsTopicArn"]
    assert shared["DLQ_URL"] == rt.outputs["DeadLetterQueueUrl"]
    assert shared["POLICY_PARAMETER"] == "/deckwatch/staging/policy"
    assert written["PipelineEventsFunction"]["CUTOVER_STATE_MACHINE_ARN"] == rt.outputs["CutoverStateMachineArn"]
    assert written["CostEventsFunction"]["COST_SAVINGS_STATE_MACHINE"] == rt.outputs["CostSavingsStateMachineArn"]
    assert written["BackupEventsFunction"]["DRILL_STATE_MACHINE_ARN"] == rt.outputs["DrillStateMachineArn"]
    assert written["BackupEventsFunction"]["DRILL_VALIDATOR_FUNCTION"] == rt.physical["DrillValidatorFunction"]
    assert written["DrillFunction"]["DRILL_RESTORE_ROLE_ARN"].endswith(":role/service-role/AWSBackupDefaultServiceRole")


def test_every_function_environment_is_a_complete_deckwatch_configuration(written: dict[str, Any]) -> None:
    from deckwatch.config import Settings

    for logical in ("PipelineEventsFunction", "CutoverFunction", "DrillFunction", "CostReportFunction"):
        env = {**written["Parameters"], **written.get(logical, {}), "AWS_REGION": "us-east-1"}
        settings = Settings.from_env(env)
        assert settings.environment == "staging"


def test_stdout_when_no_file_is_given(rt: LocalAWS, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = sam_env(capsys, "--env", "staging")
    assert code == 0, err
    assert json.loads(out)["Parameters"]["ENVIRONMENT"] == "staging"
    assert err == ""


def test_a_stack_of_another_environment_is_refused(rt: LocalAWS, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = sam_env(capsys, "--env", "prod", "--stack", "deckwatch-staging")
    assert code == 2
    assert out == ""
    assert err.strip() == "deckwatch: stack deckwatch-staging is the staging environment's, not prod's"


def test_a_missing_stack_is_one_line(rt: LocalAWS, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = sam_env(capsys, "--env", "dev")
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("deckwatch: cannot read stack deckwatch-dev: ")


def test_variables_the_stack_cannot_give_are_named_not_guessed(rt: LocalAWS) -> None:
    """A function added to template.yaml since the deploy refers to resources the stack does not have yet."""
    template = load_yaml(REPO_ROOT / "template.yaml")
    template["Resources"]["NewFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "Environment": {
                "Variables": {
                    "QUEUE": {"Ref": "NewQueue"},
                    "ARN": {"Fn::GetAtt": ["NewQueue", "Arn"]},
                    "JOINED": {"Fn::Join": ["/", [{"Ref": "Environment"}, {"Fn::Select": [1, ["a", "b"]]}]]},
                    "MAYBE": {"Fn::If": ["IsProd", "yes", {"Ref": "AWS::NoValue"}]},
                    "NAME": {"Fn::FindInMap": ["LogNames", "Cutover", "Name"]},
                    "STACK": {"Fn::Sub": "${AWS::StackName}/${AWS::AccountId}/${!Literal}"},
                    "QUEUE_ARN": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
                }
            }
        },
    }
    stack = DeployedStack.read(rt.client("cloudformation"), "deckwatch-staging", lam=rt.client("lambda"))
    result = env_vars(template, stack)
    assert result.document["NewFunction"] == {
        "JOINED": "staging/b",
        "NAME": "cutover",
        "STACK": "deckwatch-staging/123456789012/${Literal}",
        "QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:deckwatch-staging-dlq",
    }
    assert result.missing == [
        "NewFunction.QUEUE: stack deckwatch-staging has no resource NewQueue",
        "NewFunction.ARN: stack deckwatch-staging has no resource NewQueue",
    ]


def _sam_python() -> Path:
    tools = Path(os.environ.get("TOOLS", REPO_ROOT / ".tools"))
    return (tools if tools.is_absolute() else REPO_ROOT / tools) / "sam" / "bin" / "python"


# SAM CLI's own code for `sam local invoke --env-vars`: the variables it gives each function of the template.
_SAM_RESOLVE = """
import json, sys
from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
template, env_file, environment = sys.argv[1:4]
stacks, _ = SamLocalStackProvider.get_stacks(template, parameter_overrides={"Environment": environment})
provider = SamFunctionProvider(stacks)
values = json.load(open(env_file)) if env_file != "-" else {}
runner = LocalLambdaRunner(
    local_runtime=None, function_provider=provider, cwd=".", real_path=".", env_vars_values=values
)
print(json.dumps({f.name: runner._make_env_vars(f).resolve() for f in provider.get_all()}))
"""


def test_sam_local_invoke_gives_each_function_its_deployed_environment(
    rt: LocalAWS, written: dict[str, Any], tmp_path: Path
) -> None:
    """Through SAM CLI's own env-vars handling (what `sam local invoke --env-vars` does before starting the
    container): with the file, every function sees its deployed values; without it, it does not."""
    sam = _sam_python()
    if not sam.is_file():
        pytest.skip(f"SAM CLI not installed at {sam} (make tools)")
    expanded = tmp_path / "template.json"  # Fn::ForEach expanded, as samconfig's language_extensions has SAM do
    expanded.write_text(json.dumps(load_yaml(REPO_ROOT / "template.yaml")), encoding="utf-8")
    env_file = tmp_path / "env.json"
    env_file.write_text(json.dumps(written), encoding="utf-8")
    isolated = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1", "HOME": str(tmp_path)}

    def resolve(path: str) -> dict[str, dict[str, str]]:
        run = subprocess.run(
            [str(sam), "-c", _SAM_RESOLVE, str(expanded), path, "staging"],
            capture_output=True,
            text=True,
            check=True,
            env=isolated,
        )
        return dict(json.loads(run.stdout))

    with_file, without = resolve(str(env_file)), resolve("-")
    for fn in rt.functions.values():
        seen = with_file[fn["logical_id"]]
        assert {k: seen[k] for k in fn["env"]} == fn["env"], fn["logical_id"]
    assert without["CutoverFunction"]["LEDGER_TABLE"] != "deckwatch-staging-ledger"
