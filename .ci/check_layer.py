# ruff: noqa: T201, S603 - a command-line check: it reports on stdout and runs the project's own interpreter
"""Check a built Deckwatch layer (`sam build` output, .ci/check-layer.sh) holds what Lambda runs and nothing else.

Usage: python .ci/check_layer.py LAYER_DIR      (LAYER_DIR: the built DeckwatchLayer, with python/ inside)

Checks, each reported on its own line (exit 1 if any fails):
  - deckwatch/ in the layer is exactly the source package minus deckwatch/local (same files, same bytes), so the
    runtime packages and their data (the RDS CA bundle, the policy examples) are there and nothing was left out;
  - no deckwatch/local, no test code (tests/, conftest.py, test_*.py), no moto, SAM translator, pytest, boto3 or
    botocore (the Lambda runtime provides boto3), no build files (requirements.txt, Makefile);
  - the RDS CA bundle is there with its certificates;
  - the installed distributions are exactly requirements.txt's, at its versions;
  - every native extension is built for Linux arm64 (the functions' architecture);
  - the layer's deckwatch package and every handler (functions/*/app.py) import with deckwatch/local absent, and
    without importing moto or the SAM translator (run in a separate interpreter, the layer's deckwatch first on
    sys.path; third-party packages come from this interpreter, as the layer's wheels are arm64).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "layers" / "deckwatch"
CA_BUNDLE = Path("deckwatch/drills/rds-ca-bundle.pem")
FORBIDDEN_TOP = ("moto", "samtranslator", "pytest", "_pytest", "boto3", "botocore", "cfnlint", "tests")
FORBIDDEN_FILES = ("requirements.txt", "Makefile", "conftest.py")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _files(base: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under base/deckwatch, without caches and without deckwatch/local."""
    out = {}
    for path in sorted((base / "deckwatch").rglob("*")):
        rel = path.relative_to(base)
        if path.is_dir() or "__pycache__" in rel.parts or path.suffix in (".pyc", ".pyo"):
            continue
        out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def check(layer: Path) -> list[tuple[str, str | None]]:
    """(check, problem or None) for every check."""
    py = layer / "python"
    results: list[tuple[str, str | None]] = []

    def report(name: str, problem: str | None) -> None:
        results.append((name, problem))

    if not (py / "deckwatch" / "__init__.py").is_file():
        return [("layer has python/deckwatch", f"{py}/deckwatch/__init__.py missing")]

    source = {k: v for k, v in _files(SOURCE).items() if not k.startswith("deckwatch/local/")}
    built = _files(py)
    missing, extra = sorted(set(source) - set(built)), sorted(set(built) - set(source))
    changed = sorted(k for k in set(source) & set(built) if source[k] != built[k])
    report(
        "deckwatch = source package minus deckwatch/local",
        f"missing {missing[:5]}, extra {extra[:5]}, differ {changed[:5]}" if missing or extra or changed else None,
    )

    local = py / "deckwatch" / "local"
    report("no deckwatch/local", f"{local} exists" if local.exists() else None)
    tests = [str(p.relative_to(py)) for p in py.rglob("*") if p.name in FORBIDDEN_FILES or p.name == "tests"]
    tests += [str(p.relative_to(py)) for p in (py / "deckwatch").rglob("test_*.py")]
    report("no test code or build files", f"found {sorted(tests)[:10]}" if tests else None)
    forbidden = [name for name in FORBIDDEN_TOP if (py / name).exists()]
    report("no moto, SAM translator, pytest, boto3", f"found {forbidden}" if forbidden else None)

    bundle = py / CA_BUNDLE
    certificates = bundle.read_text(encoding="utf-8").count("BEGIN CERTIFICATE") if bundle.is_file() else 0
    report(f"{CA_BUNDLE} ({certificates} certificates)", None if certificates else f"{bundle}: missing or empty")

    pins = {}
    for raw in (SOURCE / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[_canonical(name)] = version
    installed = {}
    for info in py.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        installed[_canonical(name)] = version
    report(
        "distributions = requirements.txt",
        None if installed == pins else f"installed {sorted(installed.items())}, pinned {sorted(pins.items())}",
    )

    native = list(py.rglob("*.so"))
    wrong = [str(p.relative_to(py)) for p in native if "aarch64" not in p.name]
    report("native extensions are arm64", f"not aarch64: {wrong}" if wrong else None if native else "no .so found")

    report("imports without deckwatch/local, moto, SAM translator", _imports(py))
    return results


_IMPORTS = r"""
import importlib, importlib.util, pkgutil, sys
from pathlib import Path
layer, functions = Path(sys.argv[1]), Path(sys.argv[2])
import deckwatch
assert Path(deckwatch.__file__).is_relative_to(layer), f"deckwatch came from {deckwatch.__file__}, not the layer"
for info in pkgutil.walk_packages(deckwatch.__path__, "deckwatch."):
    importlib.import_module(info.name)
for app in sorted(functions.glob("*/app.py")):
    spec = importlib.util.spec_from_file_location(f"handler_{app.parent.name}", app)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("moto", "samtranslator") or m.startswith("deckwatch.local"))
assert not bad, f"imported {bad[:5]}{' ...' if len(bad) > 5 else ''}"
"""


def _imports(py: Path) -> str | None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "deckwatch").symlink_to((py / "deckwatch").resolve(), target_is_directory=True)
        run = subprocess.run(
            [sys.executable, "-c", _IMPORTS, tmp, str(ROOT / "functions")],
            env={"PYTHONPATH": tmp, "PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"},
            capture_output=True,
            text=True,
            check=False,
        )
    return None if run.returncode == 0 else (run.stderr.strip().splitlines() or ["failed"])[-1]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    failed = 0
    for name, problem in check(Path(argv[0])):
        print(f"  {'FAIL' if problem else 'ok  '} {name}" + (f": {problem}" if problem else ""))
        failed += problem is not None
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
