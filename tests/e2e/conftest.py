import shutil
from collections.abc import Iterator

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
    for service in services:
        print(f"===== logs of {service} =====")
        lines = [line for line in compose.logs(service).splitlines() if not any(n in line for n in NOISE)]
        print("\n".join(lines[-400:]))


@pytest.fixture
def compose_factory() -> Iterator[list[Compose]]:
    made: list[Compose] = []
    yield made
    for compose in made:
        compose.down()
