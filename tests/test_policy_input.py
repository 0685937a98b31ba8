"""Bad policy files: what YAML accepts silently (duplicate keys), what Python cannot read (UTF-16, Latin-1, deep
nesting, integers of thousands of digits) and what SSM cannot store (more than 8 KB) are refused by `deckwatch
policy validate` and `push` with exit 2, one line naming the file and the line, and nothing stored."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from deckwatch.errors import PolicyError
from deckwatch.local.cli import main
from deckwatch.policy import example, load_file, parse
from deckwatch.policy.loader import MAX_DEPTH, MAX_PARAMETER_BYTES, MAX_VALUES

STAGING = example("staging").read_text(encoding="utf-8")
HEAD = "version: 1\nenvironment: staging\n"


def problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(PolicyError) as info:
        parse(text, "p.yaml")
    return [(p.line, p.path, p.message) for p in info.value.problems]


# ---------------------------------------------------------------------------------------------- duplicate keys --
def test_duplicate_key_is_refused_naming_both_lines() -> None:
    assert "dry_run: false" in STAGING
    text = STAGING.replace("dry_run: false", "dry_run: true\ndry_run: false")
    assert yaml.safe_load(text)["dry_run"] is False  # what YAML alone does: the last one wins, silently
    first = text.splitlines().index("dry_run: true") + 1
    assert problems(text) == [
        (first + 1, "dry_run", f"duplicate key (first at line {first}); YAML would keep the last one")
    ]


def test_nested_duplicates_are_each_reported_with_their_path() -> None:
    text = HEAD + (
        "remediation:\n"
        "  rules:\n"
        "    - alarm: {name: a, name: b}\n"  # line 5
        "      runbook: notify_only\n"
        "      runbook: ecs_scale_out\n"  # line 7
    )
    found = problems(text)
    assert (5, "remediation.rules[0].alarm.name", "duplicate key (first at line 5); YAML would keep the last one") in (
        found
    )
    assert (7, "remediation.rules[0].runbook", "duplicate key (first at line 6); YAML would keep the last one") in (
        found
    )


def test_merge_keys_and_equal_keys_under_different_parents_are_not_duplicates() -> None:
    text = HEAD + (
        "notifications: {<<: {approvers: [a], emails: []}, approvers: [b]}\n"  # a merge key's override
        "cost:\n  thresholds: {percent: 5}\n"
        "drills:\n  max_age_hours: 5\n  targets: []\n"
        "remediation:\n  rules: []\n"
    )
    policy = parse(text, "p.yaml").policy
    assert policy.notifications.approvers == ["b"]
    assert policy.drills.max_age_hours == 5


# ------------------------------------------------------------------------------------------ what cannot be read --
def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


BAD_FILES: dict[str, tuple[bytes, int, str]] = {
    # name -> (content, line, message fragment)
    "utf16-bom": (STAGING.encode("utf-16"), 1, "the file is UTF-16 text: save it as UTF-8"),
    "utf16-no-bom": (STAGING.encode("utf-16-le"), 1, "NUL bytes (UTF-16 text?)"),
    "utf32": (STAGING.encode("utf-32"), 1, "the file is UTF-32 text"),
    "latin1": ((HEAD + "# café\n").encode("latin-1"), 3, "not UTF-8 text (byte 0xe9)"),
    "huge-int": (
        (HEAD + "remediation:\n  max_actions_per_hour: " + "9" * 5000 + "\n").encode(),
        4,
        "remediation.max_actions_per_hour: integer out of range",
    ),
    "int64-overflow": (
        (
            HEAD + "remediation:\n  rules:\n    - alarm: {name: x}\n      runbook: ecs_scale_out\n"
            "      bounds: {max_tasks: 9223372036854775808}\n"
        ).encode(),
        7,
        "remediation.rules[0].bounds.max_tasks: integer out of range",
    ),
    "deep-flow": (
        (HEAD + "x: " + "[" * 3000 + "]" * 3000 + "\n").encode(),
        3,
        f"nested deeper than {MAX_DEPTH}",
    ),
    "deep-block": (
        (HEAD + "".join(" " * i + f"k{i}:\n" for i in range(70)) + " " * 70 + "v: 1\n").encode(),
        3 + MAX_DEPTH,
        f"nested deeper than {MAX_DEPTH}",
    ),
    "nan-and-inf": (
        (HEAD + "cost:\n  thresholds: {absolute_usd: .nan}\n").encode(),
        4,
        "cost.thresholds.absolute_usd: Input should be a finite number",
    ),
    "alias-bomb": (
        (
            HEAD
            + "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(6)
            )
        ).encode(),
        1,
        f"expands to more than {MAX_VALUES} values (aliases)",
    ),
    "too-big-for-ssm": (
        (STAGING + "".join(f"# padding {i:03d} " + "x" * 70 + "\n" for i in range(70))).encode(),
        0,  # the line of byte 8193, computed in the test
        f"holds at most {MAX_PARAMETER_BYTES}",
    ),
    "own-alarms": (
        (
            HEAD + "remediation:\n  rules:\n    - alarm: {prefix: deckwatch-staging-}\n      runbook: notify_only\n"
        ).encode(),
        5,
        "names Deckwatch's own alarms",
    ),
}


def expected_line(name: str, data: bytes) -> int:
    line = BAD_FILES[name][1]
    return line or data[: MAX_PARAMETER_BYTES + 1].count(b"\n") + 1


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_validate_refuses_with_exit_2_and_one_line(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, _, fragment = BAD_FILES[name]
    data = content
    path = write(tmp_path, f"{name}.yaml", data)
    assert main(["policy", "validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{path}:{expected_line(name, data)}: "), lines[0]
    assert fragment in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_push_refuses_with_exit_2_one_line_and_stores_nothing(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], ssm: object
) -> None:
    content, _, fragment = BAD_FILES[name]
    path = write(tmp_path, f"{name}.yaml", content)
    assert main(["policy", "push", str(path), "--env", "staging"]) == 2
    _, err = capsys.readouterr()
    (line,) = err.splitlines()
    assert line.startswith(f"deckwatch: {path}:")
    assert fragment in line
    assert stored(ssm) is None


def test_the_size_limit_is_the_ssm_parameter_not_the_parser(tmp_path: Path) -> None:
    """Policies the runtime or a test builds may be larger; only what is pushed (or validated for a push) is held to
    the Advanced tier's 8 KB."""
    content = BAD_FILES["too-big-for-ssm"][0]
    assert len(content) > MAX_PARAMETER_BYTES
    path = write(tmp_path, "big.yaml", content)
    assert load_file(path).policy.environment == "staging"
    exact = write(tmp_path, "exact.yaml", content[:MAX_PARAMETER_BYTES].rsplit(b"\n", 1)[0] + b"\n")
    assert load_file(exact, max_bytes=MAX_PARAMETER_BYTES).policy.environment == "staging"


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.yaml", codecs.BOM_UTF8 + STAGING.encode())
    assert load_file(path, max_bytes=MAX_PARAMETER_BYTES).policy.environment == "staging"


def test_parse_never_lets_deep_nesting_escape_as_a_crash() -> None:
    for text in ("x: " + "[" * 100_000 + "]" * 100_000, "x: " + "{a: " * 100_000 + "}" * 100_000):
        ((line, path, message),) = problems(text)
        assert (line, path, message) == (1, "", f"nested deeper than {MAX_DEPTH} levels")


# ------------------------------------------------------------------------------------------------------ push -----
@pytest.fixture
def ssm() -> Iterator[object]:
    """SSM of moto, as `deckwatch policy push` reaches it through the caller's AWS configuration."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


def stored(ssm: object) -> str | None:
    try:
        found = ssm.get_parameter(Name="/deckwatch/staging/policy", WithDecryption=True)  # type: ignore[attr-defined]
    except ssm.exceptions.ParameterNotFound:  # type: ignore[attr-defined]
        return None
    return str(found["Parameter"]["Value"])


def test_push_stores_the_validated_text_in_the_advanced_tier(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ssm: object
) -> None:
    path = write(tmp_path, "staging.yaml", STAGING.encode())
    assert main(["policy", "push", str(path), "--env", "staging"]) == 0
    assert "policy version" in capsys.readouterr().out
    assert stored(ssm) == STAGING
    meta = ssm.describe_parameters()["Parameters"]  # type: ignore[attr-defined]
    assert [(p["Name"], p["Tier"]) for p in meta] == [("/deckwatch/staging/policy", "Advanced")]
