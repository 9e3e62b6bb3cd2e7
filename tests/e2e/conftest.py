import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Compose


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session", autouse=True)
def _docker_available() -> None:
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is missing: run the tests through scripts/test.sh, which installs it")


NOISE = (
    "PQping",
    "unable to ping",
    "could not translate host name",
    "waiting for WAL to become available",
    "could not connect to the primary server",
)

# Projects that are up and ready, with the services whose logs explain a failure in them.
_live: dict[str, tuple[Compose, list[str]]] = {}


def service_logs(compose: Compose, service: str) -> str:
    """The end of a service's log, noise left out; with POSTDOCK_E2E_LOG_DIR set, the whole log is
    also written there (the report keeps the last 400 lines, often not where a fault began)."""
    text = compose.logs(service)
    if directory := os.environ.get("POSTDOCK_E2E_LOG_DIR"):
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / f"{compose.project}-{service}.log").write_text(text)
    noise = () if os.environ.get("POSTDOCK_E2E_FULL_LOGS") == "1" else NOISE
    lines = [line for line in text.splitlines() if not any(n in line for n in noise)]
    return "\n".join(lines[-400:])


def dump_logs(compose: Compose, services: list[str]) -> None:
    for service in services:
        print(f"===== logs of {service} =====")
        print(service_logs(compose, service))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing test shows the logs of every cluster that was up while it ran, taken at once (before
    the module's later scenarios or its teardown change them). Output printed during a module
    fixture's teardown would be captured and never shown, hence report sections."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when == "call":
        for compose, services in list(_live.values()):
            for service in services:
                report.sections.append((f"logs of {service} ({compose.project})", service_logs(compose, service)))


@contextlib.contextmanager
def started(
    compose: Compose,
    services: list[str],
    ready: Callable[[], object] = lambda: None,
    logs: list[str] | None = None,
) -> Iterator[Compose]:
    """`up -d` the services, wait for `ready`, yield the project; the logs of the services (or `logs`)
    are printed when it does not get ready and attached to every test that fails while it is up;
    the project is always removed."""
    compose("up", "-d", *services)
    shown = logs or services
    try:
        try:
            ready()
        except BaseException:
            dump_logs(compose, shown)  # a setup error shows what setup printed
            raise
        _live[compose.project] = (compose, shown)
        yield compose
    finally:
        _live.pop(compose.project, None)
        compose.down()
