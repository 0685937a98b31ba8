"""Layer and function package sizes as `sam build` builds them for arm64 (template.yaml: the layer's makefile
builds Linux arm64 wheels whatever the build machine), zipped (what Lambda's 50 MB / 250 MB limits count) and
unzipped, with the largest packages of the layer. `--skip-build` measures an existing build (the tiny run)."""

from __future__ import annotations

import io
import os
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

from support.samples import REPO_ROOT

SAM = Path(os.environ.get("SAM", REPO_ROOT / ".tools/sam/bin/sam"))
BUILD = REPO_ROOT / ".aws-sam/bench/build"
LAMBDA_UNZIPPED_LIMIT_MB = 250  # function + layers, unzipped (Lambda quotas)


def _sam() -> Path | None:
    return SAM if SAM.exists() else None


def build() -> dict[str, Any]:
    sam = _sam()
    if sam is None:
        return {"built": False, "why": "no SAM CLI (make tools)"}
    started = time.perf_counter()
    env = os.environ | {"SAM_CLI_TELEMETRY": "0", "PYENV_VERSION": "3.13.0", "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [str(sam), "build", "--build-dir", str(BUILD), "--cache-dir", str(BUILD.parent / "cache")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    return {
        "built": done.returncode == 0,
        "seconds": round(time.perf_counter() - started, 1),
        "why": "" if done.returncode == 0 else done.stdout[-2000:] + done.stderr[-2000:],
    }


def _sizes(folder: Path) -> tuple[int, int]:
    buf = io.BytesIO()
    unzipped = 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            unzipped += path.stat().st_size
            z.write(path, path.relative_to(folder))
    return buf.tell(), unzipped


def measure(skip_build: bool = False) -> dict[str, Any]:
    how = {"built": False, "why": "--skip-build: an existing build measured"} if skip_build else build()
    layer = BUILD / "DeckwatchLayer"
    if not layer.exists():
        return {"build": how, "layer": None}
    zipped, unzipped = _sizes(layer)
    top = layer / "python"
    packages: list[dict[str, Any]] = []
    for entry in top.iterdir():
        if entry.name.endswith(".dist-info") or entry.name == "__pycache__":
            continue
        z, u = _sizes(entry) if entry.is_dir() else (entry.stat().st_size, entry.stat().st_size)
        packages.append({"package": entry.name, "zipped_mb": round(z / 1e6, 2), "unzipped_mb": round(u / 1e6, 2)})
    packages.sort(key=lambda p: -p["unzipped_mb"])
    functions = {}
    for folder in sorted(BUILD.glob("*Function")):
        fz, fu = _sizes(folder)
        functions[folder.name] = {"zipped_kb": round(fz / 1e3, 1), "unzipped_kb": round(fu / 1e3, 1)}
    return {
        "build": how,
        "architecture": "arm64 (manylinux aarch64 wheels, cp313)",
        "layer": {
            "zipped_mb": round(zipped / 1e6, 2),
            "unzipped_mb": round(unzipped / 1e6, 2),
            "limit_unzipped_mb": LAMBDA_UNZIPPED_LIMIT_MB,
        },
        "largest_packages": packages[:8],
        "functions": functions,
    }
