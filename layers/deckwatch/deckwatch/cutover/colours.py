"""Which colour serves a service's traffic: a fact Deckwatch owns, kept in one place the whole system reads.

The place is five SSM parameters per service (the contract with the workload stack, workload/README.md):

    /deckwatch/<env>/traffic/<service>/blue    the percent of production traffic on blue ("0".."100")
    /deckwatch/<env>/traffic/<service>/green   the percent on green (blue + green = 100)
    /deckwatch/<env>/traffic/<service>/test    the colour the test listener reaches ("blue" or "green")
    /deckwatch/<env>/traffic/<service>/<colour>-task-definition
                                               the task definition the colour runs (written before each deployment)

The workload stack's listeners take their weights from them (CloudFormation parameters of type
AWS::SSM::Parameter::Value<String>), and its ECS services their task definitions, so a stack update never moves
traffic nor rolls a colour back to the stack's own revision: the template says what Deckwatch last set. Every
shift writes them first (the intent) and then changes the listener; a failed change puts back what the listener
observably does. Remediation resolves `service:<name>` to the live colour from here, and an alarm about
the idle colour acts on nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deckwatch.context import Services

COLOURS = ("blue", "green")


def prefix(environment: str, service: str) -> str:
    return f"/deckwatch/{environment}/traffic/{service}"


def read(deps: Services, service: str) -> dict[str, str]:
    """The service's traffic parameters (name -> value; missing ones are absent)."""
    base = prefix(deps.settings.environment, service)
    names = [f"{base}/{c}" for c in (*COLOURS, "test")]
    found = deps.clients("ssm").get_parameters(Names=names).get("Parameters", [])
    return {p["Name"].rsplit("/", 1)[-1]: str(p["Value"]) for p in found}


def weights(deps: Services, service: str) -> dict[str, int] | None:
    """Percent per colour, or None when the parameters are not there (a service Deckwatch never shifted)."""
    values = read(deps, service)
    try:
        out = {c: int(values[c]) for c in COLOURS}
    except (KeyError, ValueError):
        return None
    return out if sum(out.values()) == 100 else None


def live(deps: Services, service: str) -> str | None:
    """The colour with most of the traffic (None when unknown)."""
    found = weights(deps, service)
    if found is None:
        return None
    return max(COLOURS, key=lambda c: (found[c], c == "blue"))


def task_definition_parameter(environment: str, service: str, colour: str) -> str:
    return f"{prefix(environment, service)}/{colour}-task-definition"


def write_weights(deps: Services, service: str, wanted: dict[str, int]) -> None:
    base = prefix(deps.settings.environment, service)
    ssm = deps.clients("ssm")
    for colour in COLOURS:
        ssm.put_parameter(Name=f"{base}/{colour}", Value=str(wanted[colour]), Type="String", Overwrite=True)


def write_test(deps: Services, service: str, colour: str) -> None:
    deps.clients("ssm").put_parameter(
        Name=f"{prefix(deps.settings.environment, service)}/test", Value=colour, Type="String", Overwrite=True
    )
