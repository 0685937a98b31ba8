"""Reading a policy from YAML text (a local file, or the SSM parameter that `Services.policy` reads and caches for a
minute, so that a policy change needs no redeploy). Every problem is reported with its field path and line.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from deckwatch.errors import PolicyError, PolicyProblem
from deckwatch.policy.model import Policy

EXAMPLES = Path(__file__).parent / "examples"


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    version: str  # content hash: recorded with every ledger entry so a decision can be traced to its policy
    source: str


@lru_cache(maxsize=8)
def parse(text: str, source: str = "<policy>") -> LoadedPolicy:
    """Validate policy text. Raises PolicyError listing every problem (path + line), never a partial policy."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise PolicyError(source, [PolicyProblem("", f"not valid YAML: {getattr(exc, 'problem', exc)}", line)]) from exc
    if not isinstance(data, dict):
        raise PolicyError(source, [PolicyProblem("", "a policy is a mapping (key: value) at the top level", 1)])
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc, msg = _located(err["loc"], err["msg"])
            problems.append(PolicyProblem(_dotted(loc), msg, _line_of(root, loc)))
        raise PolicyError(source, problems) from exc
    return LoadedPolicy(policy, hashlib.sha256(text.encode()).hexdigest()[:12], source)


def load_file(path: str | Path) -> LoadedPolicy:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(str(p), [PolicyProblem("", f"cannot read: {exc.strerror}", None)]) from exc
    return parse(text, str(p))


def example(environment: str) -> Path:
    return EXAMPLES / f"{environment}.yaml"


_PATH_IN_MESSAGE = re.compile(r"^Value error, ([A-Za-z_][\w.\[\]]*): (.*)$", re.DOTALL)


def _located(loc: tuple[int | str, ...], msg: str) -> tuple[tuple[int | str, ...], str]:
    """A model-level check names its field at the start of its message: use it as the location."""
    match = _PATH_IN_MESSAGE.match(msg)
    if not match:
        return loc, msg
    parts: list[int | str] = []
    for name, index in re.findall(r"([A-Za-z_]\w*)|\[(\d+)\]", match.group(1)):
        parts.append(int(index) if index else name)
    return (*loc, *parts), match.group(2)


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest YAML node on `loc` that exists (a missing field points at its parent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
