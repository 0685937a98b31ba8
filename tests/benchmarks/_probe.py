"""Runs in a fresh process (a Lambda cold start): import one handler, then its first invocation; prints one JSON
line with the two durations, peak memory (ru_maxrss) and the modules loaded.

Standard library only before the clock starts, so that the figure is the handler's and not the probe's.

    python _probe.py work APP_PATH            # import, then the first invocation's fixed work (see first_work)
    python _probe.py invoke APP_PATH EVENT    # import, then lambda_handler(EVENT) as Lambda calls it
"""

import importlib.util
import json
import resource
import sys
import time


class Context:
    """What Lambda passes as the context object (the attributes Powertools' Logger reads)."""

    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    memory_limit_in_mb = 256
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def first_work(module: object) -> object:
    """The first invocation's fixed work, through the handler's own module-level services: build them from the
    environment (settings, clients), read the policy (boto3 import, SSM client, GetParameter, policy model), write
    one ledger record (DynamoDB client, Query of the chain head, TransactWriteItems). A module without `services`
    (the minimal handler) is simply invoked: it makes the same calls itself."""
    services = getattr(module, "services", None)
    if services is None:
        return module.lambda_handler({}, Context())  # type: ignore[attr-defined]
    from deckwatch.ledger import Record

    deps = services()
    deps.policy()
    return deps.ledger.append(
        Record(
            environment=deps.settings.environment,
            capability="remediation",
            subject="bench",
            kind="decision",
            decision="bench",
        )
    )


def main() -> None:
    mode, path = sys.argv[1], sys.argv[2]
    before = len(sys.modules)
    t0 = time.perf_counter()
    spec = importlib.util.spec_from_file_location("app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    t1 = time.perf_counter()
    error = None
    try:
        if mode == "invoke":
            with open(sys.argv[3], encoding="utf-8") as f:
                event = json.load(f)
            module.lambda_handler(event, Context())
        else:
            first_work(module)
    except Exception as exc:  # noqa: BLE001 - reported, not hidden: the probe measures whatever happened
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
    t2 = time.perf_counter()
    print(
        json.dumps(
            {
                "import_s": t1 - t0,
                "first_invocation_s": t2 - t1,
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "modules": len(sys.modules) - before,
                "error": error,
            }
        )
    )


if __name__ == "__main__":
    main()
