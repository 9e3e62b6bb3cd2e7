"""The tick runner: rounds at the interval, never closer than min_pause, bounded for tests."""

import pytest

from postdock_supervisor.programs.runner import run_ticks


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_rounds_start_at_the_interval_whatever_a_round_takes() -> None:
    clock = Clock()
    starts: list[float] = []

    def step(began: float) -> None:
        starts.append(began)
        clock.now += 0.3 if len(starts) == 1 else 0.0  # the first round takes 0.3 s

    run_ticks(step, interval=1.0, min_pause=0.1, max_ticks=3, clock=clock, sleep=clock.sleep)
    assert starts == [100.0, 101.0, 102.0]
    assert clock.pauses == pytest.approx([0.7, 1.0])  # none after the last round


def test_a_round_longer_than_the_interval_still_pauses_min_pause() -> None:
    clock = Clock()

    def slow(began: float) -> None:
        clock.now += 2.0

    run_ticks(slow, interval=1.0, min_pause=0.5, max_ticks=2, clock=clock, sleep=clock.sleep)
    assert clock.pauses == [0.5]
