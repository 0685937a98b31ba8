"""AWS clients, in one place: `Clients`, one per `Services` (a Lambda container's, or the local runtime's).

Every client has botocore's standard retry mode (no hand-rolled retry loops anywhere in Deckwatch) and Deckwatch's
timeouts, merged under what a caller asks for (fewer attempts where the state machine retries instead, a longer
read timeout for a call that may run long). Clients are built on first use and kept: building one costs more
than most calls. boto3 itself is imported on the first client, not at import time: most of a cold start is
imports, and a handler rejecting a malformed event needs none.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config

MAX_ATTEMPTS = 5
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 20


@lru_cache(maxsize=1)
def retry_config() -> Config:
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        user_agent_extra="deckwatch",
    )


class Clients:
    """boto3 clients of one session: `clients("ecs")`, `clients("backup", region="us-west-2")`,
    `clients("ecs", attempts=1)` (botocore retries off: the caller's state machine retries, visibly)."""

    def __init__(self, session: boto3.session.Session | None = None, region: str | None = None) -> None:
        self._session = session
        self._region = region
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str | None, int | None, float | None], Any] = {}

    @property
    def session(self) -> boto3.session.Session:
        with self._lock:
            if self._session is None:
                import boto3

                self._session = boto3.session.Session(region_name=self._region)
            return self._session

    @property
    def region(self) -> str:
        return str(self._region or self.session.region_name or "")

    def __call__(
        self,
        service: str,
        *,
        region: str | None = None,
        attempts: int | None = None,
        read_timeout: float | None = None,
    ) -> Any:
        key = (service, region, attempts, read_timeout)
        found = self._cache.get(key)
        if found is not None:
            return found
        config = retry_config()
        if attempts is not None or read_timeout is not None:
            from botocore.config import Config

            extra: dict[str, Any] = {}
            if attempts is not None:
                extra["retries"] = {"mode": "standard", "total_max_attempts": attempts}
            if read_timeout is not None:
                extra["read_timeout"] = read_timeout
            config = config.merge(Config(**extra))
        client = self.session.client(service, config=config, region_name=region)  # type: ignore[call-overload]
        with self._lock:
            return self._cache.setdefault(key, client)
