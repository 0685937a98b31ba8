"""Shared fixtures. Only ONE LocalAWS may be active in a process at a time (moto's mock and the runtime's hooks
are process-wide): modules and classes that need one open it with `local_aws_factory` at module/class scope."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from support.samples import REPO_ROOT

if TYPE_CHECKING:
    from deckwatch.local.runtime import Approvals, LocalAWS, World

_active: list[object] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules with a slow test (storms, the month, the noisy canary) first, the rest in their own order: run in
    parallel (`make test`: xdist, a module per worker at a time, --no-loadscope-reorder), the longest modules start
    at once and the short ones fill in behind them, instead of a minute-long module starting last on one worker
    while the other has nothing left."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)  # a stable sort: the order inside each group is kept


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool:
    """pytest's own protocol (set-up, call, tear-down, reports), run above one large frame like the embedded AWS's
    threads (deckwatch.local.frame_stack): the test's frames stop mapping and unmapping stack chunks."""
    from _pytest import runner
    from deckwatch.local import frame_stack

    return frame_stack.run(lambda: runner.pytest_runtest_protocol(item, nextitem))


@pytest.fixture(autouse=True, scope="session")
def _snapshot_cache() -> Iterator[None]:
    """Deployed-control-plane snapshots shared by the test workers (and the next run), out of the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DECKWATCH_CACHE_DIR", str(REPO_ROOT / ".deckwatch" / "test-cache"))
        yield


@pytest.fixture(autouse=True, scope="session")
def _users_region() -> Iterator[None]:
    """The CLI's account commands (`deckwatch ledger|incidents|drills ...`) take the region from the user's AWS
    configuration, like every AWS tool; the tests run them as a user whose region is the embedded AWS's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def local_aws_factory(repo_root: Path) -> Callable[..., AbstractContextManager[LocalAWS]]:
    """`with local_aws_factory("staging", approvals="approve") as rt:` - refuses to nest two runtimes; `start` (epoch
    seconds) starts simulated time at a given instant."""
    from deckwatch.local.runtime import LocalAWS

    @contextmanager
    def make(
        environment: str = "staging",
        approvals: Approvals = "approve",
        policy_file: Path | None = None,
        parameters: dict[str, str] | None = None,
        start: float | None = None,
        world: World = "policy",
    ) -> Iterator[LocalAWS]:
        assert not _active, "another LocalAWS is still running in this process"
        rt = LocalAWS(
            repo_root,
            environment=environment,
            approvals=approvals,
            policy_file=policy_file,
            parameters=parameters,
            start=start,
            world=world,
        )
        rt.start()
        _active.append(rt)
        try:
            yield rt
        finally:
            _active.remove(rt)
            rt.stop()

    return make
