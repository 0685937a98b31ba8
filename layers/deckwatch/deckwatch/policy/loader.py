"""Reading a policy from YAML text (a local file, or the SSM parameter that `Services.policy` reads and caches for a
minute, so that a policy change needs no redeploy). Every problem is reported with its field path and line.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from deckwatch.errors import PolicyError, PolicyProblem
from deckwatch.policy.model import Policy

EXAMPLES = Path(__file__).parent / "examples"
# `deckwatch policy push` stores the policy in an SSM parameter of the Advanced tier, whose value holds 8 KB (the
# Standard tier: 4 KB); `policy validate` and `push` refuse a larger file (AWS Systems Manager user guide,
# "Managing parameter tiers").
MAX_PARAMETER_BYTES = 8192
MAX_DEPTH = 64  # a policy is about 8 levels deep; PyYAML's composer recurses, so depth is checked before it runs
MAX_VALUES = 100_000  # values after expanding aliases ("billion laughs")
MAX_INT = 2**63 - 1
MAX_INT_DIGITS = len(str(MAX_INT))
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_OPEN = (
    yaml.BlockMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.FlowSequenceStartToken,
)
_CLOSE = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    version: str  # content hash: recorded with every ledger entry so a decision can be traced to its policy
    source: str


@lru_cache(maxsize=8)
def parse(text: str, source: str = "<policy>") -> LoadedPolicy:
    """Validate policy text. Raises PolicyError listing every problem (path + line), never a partial policy."""
    root = _compose(text, source)
    if root is None:
        raise PolicyError(source, [PolicyProblem("", "a policy is a mapping (key: value) at the top level", 1)])
    problems = _node_problems(root)
    if problems:
        raise PolicyError(source, problems)
    data = _construct(root, source)
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


def load_file(path: str | Path, max_bytes: int | None = None) -> LoadedPolicy:
    """A policy file. `max_bytes`: refuse a larger file (what `policy validate` and `push` check: the SSM
    parameter it is stored in holds MAX_PARAMETER_BYTES)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PolicyError(str(p), [PolicyProblem("", f"cannot read: {exc.strerror}", None)]) from exc
    text = decode(raw, str(p))
    if max_bytes is not None and len(raw) > max_bytes:
        line = raw[: max_bytes + 1].count(b"\n") + 1
        raise PolicyError(
            str(p),
            [
                PolicyProblem(
                    "",
                    f"the policy is {len(raw)} bytes; its SSM parameter (Advanced tier) holds at most {max_bytes} "
                    f"(byte {max_bytes + 1} is on this line)",
                    line,
                )
            ],
        )
    return parse(text, str(p))


def decode(raw: bytes, source: str) -> str:
    """UTF-8 text (a UTF-8 byte order mark is allowed), or PolicyError saying what the bytes are instead."""
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise PolicyError(source, [PolicyProblem("", "the file is UTF-32 text: save it as UTF-8", 1)])
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise PolicyError(source, [PolicyProblem("", "the file is UTF-16 text: save it as UTF-8", 1)])
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise PolicyError(source, [PolicyProblem("", "the file has NUL bytes (UTF-16 text?): save it as UTF-8", line)])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        bad = raw[exc.start : exc.start + 1].hex()
        raise PolicyError(
            source, [PolicyProblem("", f"not UTF-8 text (byte 0x{bad}): save the policy as UTF-8", line)]
        ) from None


# libyaml (PyYAML's C parser, in its wheels) reads a policy several times faster than the pure-Python parser: the
# first read of a cold start. A text it refuses is read again by the pure-Python parser, whose messages the
# problems quote (the two word some errors differently); both build the same nodes, lines included.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", None)


def _compose(text: str, source: str) -> yaml.Node | None:
    """The YAML node tree, after a scan that refuses nesting deeper than MAX_DEPTH (PyYAML's composer recurses)."""
    if _FAST_LOADER is not None:
        try:
            return _compose_with(text, source, _FAST_LOADER)
        except PolicyError:
            pass
    return _compose_with(text, source, yaml.SafeLoader)


def _compose_with(text: str, source: str, loader: Any) -> yaml.Node | None:
    try:
        depth = 0
        for token in yaml.scan(text, Loader=loader):
            if isinstance(token, _OPEN):
                depth += 1
                if depth > MAX_DEPTH:
                    line = token.start_mark.line + 1
                    problem = PolicyProblem("", f"nested deeper than {MAX_DEPTH} levels", line)
                    raise PolicyError(source, [problem])
            elif isinstance(token, _CLOSE):
                depth -= 1
        return yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise PolicyError(source, [_yaml_problem(exc)]) from None
    except RecursionError:  # not reached after the scan above; kept so that no input ever escapes as a crash
        raise PolicyError(source, [PolicyProblem("", f"nested deeper than {MAX_DEPTH} levels", None)]) from None


def _construct(root: yaml.Node, source: str) -> object:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise PolicyError(source, [_yaml_problem(exc)]) from None
    except (ValueError, RecursionError) as exc:  # a scalar Python cannot hold; checked before, kept as a backstop
        raise PolicyError(source, [PolicyProblem("", f"not a value a policy can hold: {exc}", None)]) from None
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> PolicyProblem:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return PolicyProblem("", f"not valid YAML: {what}", line)


def _node_problems(root: yaml.Node) -> list[PolicyProblem]:
    """What YAML accepts and a policy must not: duplicate keys (YAML keeps the last one silently), integers no
    policy field can hold, and aliases that expand into more than MAX_VALUES values."""
    problems: list[PolicyProblem] = []
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, tuple[int | str, ...], bool]] = [(root, (), False)]
    while stack:
        node, loc, done = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            if node.tag == _INT_TAG and _too_big(node):
                problems.append(PolicyProblem(_dotted(loc), f"integer out of range (at most {MAX_INT})", _line(node)))
            continue
        children = _children(node)
        if done:
            sizes[id(node)] = 1 + sum(sizes.get(id(child), 1) for _, child in children)
            continue
        if id(node) in sizes:
            continue
        sizes[id(node)] = 1  # an alias of a node being walked (a cycle) counts once
        if isinstance(node, yaml.MappingNode):
            first: dict[str, yaml.Node] = {}
            for key, _ in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE_TAG:
                    continue
                if key.value in first:
                    problems.append(
                        PolicyProblem(
                            _dotted((*loc, key.value)),
                            f"duplicate key (first at line {_line(first[key.value])}); YAML would keep the last one",
                            _line(key),
                        )
                    )
                else:
                    first[key.value] = key
        stack.append((node, loc, True))
        stack.extend((child, (*loc, part), False) for part, child in reversed(children))
    if sizes.get(id(root), 0) > MAX_VALUES:
        problems.append(PolicyProblem("", f"expands to more than {MAX_VALUES} values (aliases)", _line(root)))
    return problems


def _too_big(node: yaml.ScalarNode) -> bool:
    if sum(c.isdigit() for c in node.value) > 2 * MAX_INT_DIGITS:  # also beyond what int() converts at all
        return True
    try:
        value = yaml.constructor.SafeConstructor.construct_yaml_int(_CONSTRUCTOR, node)
    except ValueError:
        return False  # not an integer after all: the model reports the field
    return abs(int(value)) > MAX_INT


def _children(node: yaml.Node) -> list[tuple[int | str, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        return [(str(k.value) if isinstance(k, yaml.ScalarNode) else "?", v) for k, v in node.value]
    if isinstance(node, yaml.SequenceNode):
        return list(enumerate(node.value))
    return []


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


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
