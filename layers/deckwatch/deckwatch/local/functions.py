"""Run Lambda handlers in-process from their real code (functions/<name>/app.py), as Lambda would:
with the function's own environment variables, a Lambda context, and the error shape Lambda returns."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import sys
import threading
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_seconds: int
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


@dataclass
class Outcome:
    ok: bool
    payload: Any  # the handler's result, or Lambda's error document {errorType, errorMessage, stackTrace}

    @property
    def error(self) -> str | None:
        if self.ok:
            return None
        return f"{self.payload.get('errorType')}: {self.payload.get('errorMessage')}"


_CALLER = threading.local()


def current_function() -> str | None:
    """The function whose handler code runs on this thread (None for the runtime, the world, Step Functions):
    fault injection and call tracing can aim at the control plane's own calls."""
    return getattr(_CALLER, "name", None)


class FunctionRunner:
    """Loads each handler module once per environment (a function whose configuration changed gets a new
    container, as in Lambda); runs one invocation at a time (they share the process environment)."""

    def __init__(self) -> None:
        self._modules: dict[tuple[Path, frozenset[tuple[str, str]]], ModuleType] = {}
        self._lock = threading.RLock()
        self.logs = io.StringIO()
        self.in_flight = 0

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Run the runtime's own control-plane code as a handler would: while no handler runs."""
        with self._lock:
            yield

    def run(self, code_dir: Path, handler: str, env: dict[str, str], event: Any, ctx: LambdaContext) -> Outcome:
        module_name, _, func_name = handler.rpartition(".")
        with self._lock:
            self.in_flight += 1
            saved = dict(os.environ)
            outer = current_function()
            _CALLER.name = ctx.function_name
            try:
                os.environ.update(env)
                module = self._load(code_dir, module_name, env)
                result = getattr(module, func_name)(event, ctx)
                return Outcome(True, result)
            except Exception as exc:  # noqa: BLE001 - any handler failure becomes Lambda's error document
                return Outcome(
                    False,
                    {
                        "errorType": type(exc).__name__,
                        "errorMessage": str(exc),
                        "stackTrace": traceback.format_tb(exc.__traceback__)[-5:],
                    },
                )
            finally:
                _CALLER.name = outer
                _restore(saved)
                self.in_flight -= 1

    def _load(self, code_dir: Path, module_name: str, env: dict[str, str]) -> ModuleType:
        path = code_dir / f"{module_name.replace('.', '/')}.py"
        key = (path, frozenset(env.items()))
        if key in self._modules:
            return self._modules[key]
        name = f"deckwatch_local_functions.{code_dir.name}.{module_name}.c{len(self._modules)}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load handler {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        self._capture_logs()
        self._modules[key] = module
        return module

    def _capture_logs(self) -> None:
        # Powertools loggers write JSON to stdout; keep them out of the CLI's own output.
        for name in ("deckwatch", os.environ.get("POWERTOOLS_SERVICE_NAME", "deckwatch")):
            for h in logging.getLogger(name).handlers:
                if isinstance(h, logging.StreamHandler):
                    h.setStream(self.logs)


def _restore(saved: dict[str, str]) -> None:
    """Back to `saved` without ever emptying the environment: other threads (the runtime polling Step Functions)
    build boto3 clients meanwhile and read the region from it."""
    for key in set(os.environ) - set(saved):
        os.environ.pop(key, None)
    os.environ.update(saved)


def new_context(name: str, arn: str, memory: int, timeout: int) -> LambdaContext:
    return LambdaContext(name, memory, arn, str(uuid.uuid4()), timeout, log_group_name=f"/aws/lambda/{name}")
