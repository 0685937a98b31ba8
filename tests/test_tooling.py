"""The project's tooling agrees with itself: the layer's requirements with pyproject.toml, constraints.txt with both,
samconfig.toml's sections as SAM CLI merges them, and the CloudFormation YAML loaders with the SAM translator's."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from support.samples import REPO_ROOT

TEMPLATES = [REPO_ROOT / "template.yaml", REPO_ROOT / "workload" / "template.yaml"]
TEMPLATES += sorted((REPO_ROOT / "tests" / "workload" / "data").glob("*.yaml"))
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


layer_requirements = _module("layer_requirements", REPO_ROOT / ".ci" / "layer_requirements.py")


def _pins(lines: list[str]) -> dict[str, str]:
    """name -> version of every `name==version` requirement (canonical names)."""
    out = {}
    for spec in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9._-]+)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)\s*", spec.split("#", 1)[0])
        if match:
            out[layer_requirements.canonical(match.group(1))] = match.group(2)
    return out


def _all_dependencies() -> list[str]:
    project = PYPROJECT["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += [s for s in extra if not s.startswith(project["name"])]  # deckwatch[local]: the project itself
    return specs


# ------------------------------------------------------------------ requirements, constraints ---------------------
def test_layer_requirements_are_generated_from_pyproject_and_constraints() -> None:
    committed = (REPO_ROOT / "layers" / "deckwatch" / "requirements.txt").read_text(encoding="utf-8")
    assert committed == layer_requirements.render(), "stale: run `make layer-requirements`"


def test_layer_pins_are_pyprojects_runtime_pins() -> None:
    """The pins both files state must be the same (boto3 comes with the Lambda runtime, not the layer)."""
    runtime = _pins(PYPROJECT["project"]["dependencies"])
    layer = _pins((REPO_ROOT / "layers" / "deckwatch" / "requirements.txt").read_text(encoding="utf-8").splitlines())
    assert {n: v for n, v in runtime.items() if n != "boto3"} == {n: layer[n] for n in runtime if n != "boto3"}
    assert "boto3" not in layer and "botocore" not in layer
    assert not {"moto", "aws-sam-translator", "pytest"} & set(layer)


def test_constraints_pin_every_dependency_at_pyprojects_version() -> None:
    constraints = layer_requirements.constraints()
    names = [layer_requirements.requirement_name(s) for s in _all_dependencies()]
    assert [n for n in names if n not in constraints] == [], "unpinned: run `make constraints`"
    stated = _pins(_all_dependencies())
    assert {n: constraints[n] for n in stated} == stated
    assert PYPROJECT["project"]["name"] not in constraints  # the project itself is installed editable
    text = (REPO_ROOT / "constraints.txt").read_text(encoding="utf-8")
    assert not re.search(r"^\s*-e\b", text, re.MULTILINE)


def test_this_venv_has_the_constrained_versions() -> None:
    """`make venv` installs with `-c constraints.txt`: what the tests run with is what the file says."""
    constraints = layer_requirements.constraints()
    names = {layer_requirements.requirement_name(s) for s in _all_dependencies()}
    installed = {n: metadata.version(n) for n in names}
    assert installed == {n: constraints[n] for n in names}


def test_make_venv_and_ci_install_with_the_constraints() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert "pip install $(PIP_QUIET) -c constraints.txt -e '.[dev]'" in makefile
    assert re.search(r"^\$\(VENV_STAMP\): .*constraints\.txt", makefile, re.MULTILINE)
    assert "make venv" in (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")


# ------------------------------------------------------------------ samconfig.toml --------------------------------
def _sam_config(env: str, command: str) -> dict[str, Any]:
    """The values SAM CLI gives `sam <command> --config-env <env>`: [env.global.parameters], then the command's own
    section over it (`local invoke` reads [env.local_invoke.parameters])."""
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text(encoding="utf-8"))[env]
    return {**config.get("global", {}).get("parameters", {}), **config.get(command, {}).get("parameters", {})}


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
@pytest.mark.parametrize("command", ["deploy", "sync", "local_invoke", "local_start_lambda", "build", "validate"])
def test_every_sam_command_runs_with_the_environments_parameters(env: str, command: str) -> None:
    values = _sam_config(env, command)
    overrides = dict(p.split("=", 1) for p in values["parameter_overrides"].split())
    assert overrides["Environment"] == env
    assert values["stack_name"] == f"deckwatch-{env}"
    assert values["tags"] == f"app=deckwatch environment={env}"
    from deckwatch.local.template import load_yaml

    parameters = load_yaml(REPO_ROOT / "template.yaml")["Parameters"]
    for name, value in overrides.items():
        spec = parameters[name]  # a name the template does not declare fails here
        if "AllowedValues" in spec:
            assert value in [str(v) for v in spec["AllowedValues"]], (name, value)
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], value), (name, value)
        if "MinValue" in spec:
            assert int(value) >= spec["MinValue"], (name, value)


# ------------------------------------------------------------------ CloudFormation YAML ---------------------------
_TRANSLATOR = """
import json, sys
from samtranslator.yaml_helper import yaml_parse
print(json.dumps([yaml_parse(open(p, encoding="utf-8").read()) for p in sys.argv[1:]], sort_keys=True, default=str))
"""


@pytest.fixture(scope="module")
def translator_parsed() -> list[Any]:
    """Every template as samtranslator.yaml_helper.yaml_parse reads it, in its own interpreter: yaml_parse changes
    yaml.SafeLoader for the whole process, which this test process must not inherit."""
    out = subprocess.run(
        [sys.executable, "-c", _TRANSLATOR, *map(str, TEMPLATES)], capture_output=True, text=True, check=True
    )
    return list(json.loads(out.stdout))


def _workload_cfn_yaml() -> ModuleType:
    from support import workload_cfn

    return workload_cfn


@pytest.mark.parametrize("index", range(len(TEMPLATES)), ids=[p.name for p in TEMPLATES])
def test_both_loaders_read_templates_as_the_sam_translator_does(index: int, translator_parsed: list[Any]) -> None:
    from deckwatch.local import template

    text = TEMPLATES[index].read_text(encoding="utf-8")
    for loader in (template._CfnLoader, _workload_cfn_yaml().CfnLoader):
        loaded = yaml.load(text, Loader=loader)  # SafeLoader subclasses
        assert json.loads(json.dumps(loaded, sort_keys=True, default=str)) == translator_parsed[index]


# Short forms of CloudFormation's intrinsic functions and condition functions (the translator's constructor takes
# any tag, so a misspelt one would load as an unknown function: the templates may use these only).
INTRINSICS = {
    "Ref", "Condition", "GetAtt", "Sub", "If", "Equals", "Not", "And", "Or", "FindInMap", "Select", "Split", "Join",
    "GetAZs", "Cidr", "ImportValue", "Base64", "Transform", "ToJsonString", "Length",
}  # fmt: skip


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_templates_use_only_intrinsic_function_tags(path: Path) -> None:
    tags = {t.value[1] for t in yaml.scan(path.read_text(encoding="utf-8")) if isinstance(t, yaml.TagToken)}
    assert tags, path
    assert tags <= INTRINSICS, tags - INTRINSICS


def test_loading_templates_leaves_yaml_safe_load_strict() -> None:
    """The policy loader uses yaml.safe_load: a `!Ref` in a policy must stay an error after templates were read
    (samtranslator's yaml_parse would register its constructor on yaml.SafeLoader for the whole process)."""
    from deckwatch.errors import PolicyError
    from deckwatch.local.template import load_yaml
    from deckwatch.policy import parse

    assert load_yaml(REPO_ROOT / "template.yaml")["Resources"]
    _workload_cfn_yaml().load_template(REPO_ROOT / "workload" / "template.yaml")
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.safe_load("a: !Ref b")
    with pytest.raises(PolicyError, match="not valid YAML"):
        parse("version: 1\nenvironment: !Ref Environment\n", "tagged.yaml")


def test_fn_for_each_is_still_expanded() -> None:
    from deckwatch.local.template import load_yaml

    resources = load_yaml(REPO_ROOT / "template.yaml")["Resources"]
    assert not [k for k in resources if k.startswith("Fn::ForEach::")]
    name = {"Name": {"Fn::FindInMap": ["LogNames", "Cutover", "Name"]}}
    assert resources["CutoverLogs"]["Properties"]["LogGroupName"] == {
        "Fn::Sub": ["/aws/lambda/deckwatch-${Environment}-${Name}", name]
    }
