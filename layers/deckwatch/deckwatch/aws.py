"""AWS client construction, in one place.

Adapters take an optional client; when none is given they build one lazily through `client()`, with botocore's
standard retry mode (no hand-rolled retry loops anywhere in Deckwatch). boto3 itself is imported on the first
client, not at import time: most of a cold start is imports, and a handler rejecting a malformed event needs none.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config

_lock = threading.Lock()
_session: boto3.session.Session | None = None


@lru_cache(maxsize=1)
def retry_config() -> Config:
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=20,
        user_agent_extra="deckwatch",
    )


def session() -> boto3.session.Session:
    global _session  # noqa: PLW0603 - one session per process; boto3 sessions are not free to build
    with _lock:
        if _session is None:
            import boto3

            _session = boto3.session.Session()
        return _session


def reset() -> None:
    """Forget the cached session (the local runtime calls this when it starts a new embedded AWS)."""
    global _session  # noqa: PLW0603
    with _lock:
        _session = None


def client(service: str, *, config: Config | None = None, region: str | None = None) -> Any:
    """A boto3 client with Deckwatch's retry configuration merged under `config`."""
    merged = retry_config().merge(config) if config else retry_config()
    return session().client(service, config=merged, region_name=region)  # type: ignore[call-overload]
