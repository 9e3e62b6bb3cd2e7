"""The e2e and bench probes' reading of two acknowledging nodes: a window counts when both nodes'
acknowledged commits could have been answered in it, not when one was only asked."""

from tests.e2e.probe import split_brain_windows


def test_one_node_at_a_time_is_no_window() -> None:
    texts = {
        "a": "100.00 t 100.05\n100.15 t 100.18\n100.30 - 102.30\n",
        "b": "100.31 - 100.33\n100.45 t 100.47\n",
    }
    assert split_brain_windows(texts) == 0


def test_commits_answered_in_the_same_window_count_once_per_window() -> None:
    texts = {"a": "100.00 t 100.25\n", "b": "100.12 t 100.14\n100.21 t 100.23\n"}
    assert split_brain_windows(texts) == 2  # windows 100.1 and 100.2


def test_an_unanswered_commit_and_a_half_written_line_are_ignored() -> None:
    texts = {"a": "100.00 - 102.00\n100.05 t", "b": "100.50 t 100.52\n"}
    assert split_brain_windows(texts) == 0
