"""A tiny local AWS endpoint for the cold-start probes: answers SSM GetParameter with the policy and DynamoDB with
empty success, in the JSON protocol, and records what it served.

Why not moto: importing and mocking moto costs more than the cold start being measured, and it would run in the
probe's own process. Why not botocore's Stubber: it skips the HTTP layer (urllib3, the connection pool, signing is
still done), which is part of what a first invocation pays. This runs in the parent process, on a thread; each
probe reaches it through AWS_ENDPOINT_URL, so the probe's code path is exactly the one it has in Lambda.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# JSON-protocol answers that keep the callers' code paths real (a Query finds nothing, a write succeeds)
ANSWERS: dict[str, dict[str, Any]] = {
    "Query": {"Items": [], "Count": 0, "ScannedCount": 0},
    "Scan": {"Items": [], "Count": 0, "ScannedCount": 0},
    "GetItem": {},
    "PutItem": {},
    "UpdateItem": {"Attributes": {}},
    "DeleteItem": {},
    "TransactWriteItems": {},
    "BatchWriteItem": {"UnprocessedItems": {}},
}


class StubAWS:
    """`with StubAWS(policy_text) as stub:` then `stub.url`; `stub.calls` counts "service.Operation" served."""

    def __init__(self, policy_text: str) -> None:
        self.policy_text = policy_text
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as AWS endpoints do

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = self.headers.get("X-Amz-Target", "")
                prefix, _, operation = target.rpartition(".")
                service = prefix.split("_")[0].removeprefix("Amazon").removeprefix("AWS").lower() or "unknown"
                with stub._lock:
                    stub.calls[f"{service}.{operation or 'unknown'}"] += 1
                if operation == "GetParameter":
                    name = json.loads(body or b"{}").get("Name", "")
                    answer: dict[str, Any] = {
                        "Parameter": {"Name": name, "Type": "String", "Value": stub.policy_text, "Version": 1}
                    }
                else:
                    answer = ANSWERS.get(operation, {})
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", "bench")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.calls)

    def __enter__(self) -> StubAWS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
