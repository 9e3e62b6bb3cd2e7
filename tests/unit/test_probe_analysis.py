"""The e2e suite's two-primaries measure, checked on hand-made samples (it must not hide an overlap)."""

import socket
import threading
import time

from postdock_supervisor.observe import fence
from tests.e2e.probe import overlaps, parse, writable_intervals


def test_a_writable_sample_holds_until_the_next_sample_of_that_node() -> None:
    samples = parse("10.0 t\n10.1 t\n10.2 -\n10.3 f\n10.4 t\nbroken line\n")
    assert writable_intervals(samples, end=10.6) == [(10.0, 10.2), (10.4, 10.6)]


def test_one_sample_of_overlap_is_found_and_touching_ends_are_not() -> None:
    old = writable_intervals(parse("1.0 t\n1.1 t\n1.2 -"), end=5.0)
    late = writable_intervals(parse("1.2 t\n1.3 t"), end=5.0)
    early = writable_intervals(parse("1.15 t\n1.25 t"), end=5.0)
    assert overlaps(old, late) == []
    assert overlaps(old, early) == [(1.15, 1.2)]


def test_the_prober_answers_within_its_timeout_even_when_a_probe_hangs(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    release = threading.Event()
    real = fence.answers

    def answers(host: str, ports, timeout: float) -> bool:  # type: ignore[no-untyped-def]
        if host == "stuck":  # a name lookup that hangs
            release.wait(10)
            return True
        return real(host, ports, timeout)

    monkeypatch.setattr(fence, "answers", answers)
    prober = fence.Prober((port,), timeout=0.5)
    began = time.monotonic()
    assert prober.reachable(["127.0.0.1", "stuck"]) == frozenset({"127.0.0.1"})
    assert prober.reachable(["stuck"]) == frozenset()  # still running: no second probe, unreachable
    assert time.monotonic() - began < 3
    release.set()
    listener.close()
