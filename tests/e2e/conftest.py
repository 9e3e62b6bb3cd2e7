import contextlib
import os
import shutil
from collections.abc import Callable, Iterator

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


def dump_logs(compose: Compose, services: list[str]) -> None:
    noise = () if os.environ.get("POSTDOCK_E2E_FULL_LOGS") == "1" else NOISE
    for service in services:
        print(f"===== logs of {service} =====")
        lines = [line for line in compose.logs(service).splitlines() if not any(n in line for n in noise)]
        print("\n".join(lines[-400:]))


@pytest.fixture
def compose_factory() -> Iterator[list[Compose]]:
    made: list[Compose] = []
    yield made
    for compose in made:
        compose.down()


@contextlib.contextmanager
def started(
    request: pytest.FixtureRequest,
    compose: Compose,
    services: list[str],
    ready: Callable[[], object] = lambda: None,
    logs: list[str] | None = None,
) -> Iterator[Compose]:
    """`up -d` the services, wait for `ready`, yield the project; on any failure in the session the
    logs of the services (or `logs`) are printed; the project is always removed."""
    compose("up", "-d", *services)
    shown = logs or services
    try:
        ready()
        yield compose
    except BaseException:
        dump_logs(compose, shown)
        raise
    finally:
        if request.session.testsfailed:  # a test's own failure never reaches a yield fixture
            dump_logs(compose, shown)
        compose.down()
