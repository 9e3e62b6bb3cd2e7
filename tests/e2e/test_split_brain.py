"""Split brain on real containers: the primary is cut off the network while every node is sampled
every 100 ms from inside its container. The three first-level nodes of the seed, eventual mode."""

import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import started
from tests.e2e.harness import Compose, primaries, streaming_children, wait_until
from tests.e2e.probe import WriteProbes, overlaps, writable_intervals

NODES = ["pgmaster", "pgslave1", "pgslave3"]
NAME = {"pgmaster": "node1", "pgslave1": "node2", "pgslave3": "node4"}
FENCE_TIMEOUT = 5.0  # the default


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Iterator[Compose]:
    compose = Compose()

    def ready() -> object:
        return wait_until(
            "both standbys streaming from pgmaster",
            lambda: streaming_children(compose, "pgmaster") == {"node2", "node4"},
            timeout=240,
        )

    with started(request, compose, NODES, ready):
        yield compose


def health(compose: Compose, service: str) -> str:
    return compose.exec(service, "postdock", "health", check=False).strip()


def test_isolated_primary_fences_itself_before_a_new_primary_and_rejoins_it(cluster: Compose) -> None:
    probes = WriteProbes(cluster, NODES).start()
    wait_until("the probes see pgmaster writable", lambda: "t" in {a for _, a in probes.samples()["pgmaster"]})
    cut_at = time.time()
    cluster.disconnect("pgmaster")
    cut_done = time.time()
    try:
        new = wait_until(
            "a new primary among the others", lambda: (p := primaries(cluster, NODES[1:])) and p[0], timeout=120
        )
        wait_until("pgmaster reports itself fenced", lambda: "fenced" in health(cluster, "pgmaster"), timeout=60)
    finally:
        cluster.reconnect("pgmaster")
    wait_until(
        f"pgmaster streaming from {new}",
        lambda: NAME["pgmaster"] in (streaming_children(cluster, new) or ()),
        timeout=240,
    )
    samples = probes.stop()
    end = time.time()
    spans = {node: writable_intervals(samples[node], end) for node in NODES}

    # Never two nodes taking writes at the same moment, sampled every 100 ms.
    for i, a in enumerate(NODES):
        for b in NODES[i + 1 :]:
            assert overlaps(spans[a], spans[b]) == [], (a, b, spans)
    # The old primary stopped taking writes within FENCE_TIMEOUT of the cut ...
    last_writable_until = max(until for _, until in spans["pgmaster"])
    assert cut_at < last_writable_until <= cut_done + FENCE_TIMEOUT, (cut_at, cut_done, spans["pgmaster"])
    # ... and the new one began only after that, and takes writes now.
    first_new = min(start for start, _ in spans[new])
    print(f"cut {cut_done - cut_at:.2f}s; pgmaster writable until +{last_writable_until - cut_done:.2f}s; "
          f"{new} writable from +{first_new - cut_done:.2f}s")  # fmt: skip
    assert first_new > last_writable_until
    assert samples[new][-1][1] == "t"
    assert primaries(cluster, NODES) == [new]
    fenced_line = "no majority for"
    assert fenced_line in cluster.logs("pgmaster")
