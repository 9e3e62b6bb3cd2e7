"""Two writable primaries, measured: a shell probe samples every node every 100 ms from inside its
container (so it works while the node is cut off), and the samples become intervals to compare."""

import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.harness import Compose, sh

SCRIPT = Path(__file__).with_name("write_probe.sh")
OUT, STOP = "/tmp/write_probe.out", "/tmp/write_probe.stop"

Sample = tuple[float, str]


def answered(text: str) -> list[tuple[float, str, float | None]]:
    """Each complete line as (start, answer, when the answer came; None on a line without it)."""
    lines = []
    for line in text.splitlines():
        parts = line.split()
        try:
            lines.append((float(parts[0]), parts[1], float(parts[2]) if len(parts) > 2 else None))
        except (IndexError, ValueError):  # a line being written while it was read
            continue
    return lines


def parse(text: str) -> list[Sample]:
    return [(start, answer) for start, answer, _ in answered(text)]


def split_brain_windows(texts: dict[str, str]) -> int:
    """How many 100 ms windows (of the epoch) saw commits acknowledged by two nodes: each sample's
    acknowledgement came between its start and its answer, so it counts in every window it spans."""
    seen: dict[int, set[str]] = {}
    for node, text in texts.items():
        for start, answer, end in answered(text):
            if answer == "t" and end is not None:
                for window in range(int(start * 10), int(end * 10) + 1):
                    seen.setdefault(window, set()).add(node)
    return sum(1 for nodes in seen.values() if len(nodes) > 1)


def writable_intervals(samples: list[Sample], end: float) -> list[tuple[float, float]]:
    """Conservative: a node answering 't' is taken as writable until its next sample says otherwise."""
    spans: list[tuple[float, float]] = []
    for i, (at, answer) in enumerate(samples):
        if answer != "t":
            continue
        until = samples[i + 1][0] if i + 1 < len(samples) else end
        if spans and spans[-1][1] >= at:
            spans[-1] = (spans[-1][0], until)
        else:
            spans.append((at, until))
    return spans


def overlaps(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b if max(s1, s2) < min(e1, e2)]


def assert_one_writer_at_a_time(samples: dict[str, list[Sample]], end: float) -> dict[str, list[tuple[float, float]]]:
    """No two nodes acknowledging at the same sampled moment; each node's acknowledging spans."""
    spans = {node: writable_intervals(node_samples, end) for node, node_samples in samples.items()}
    nodes = sorted(spans)
    for i, a in enumerate(nodes):
        for b in nodes[i + 1 :]:
            assert overlaps(spans[a], spans[b]) == [], (a, b, spans)
    return spans


@dataclass
class WriteProbes:
    compose: Compose
    services: list[str]

    def start(self) -> "WriteProbes":
        for service in self.services:
            cid = self.compose.container(service)
            sh("docker", "cp", str(SCRIPT), f"{cid}:/tmp/write_probe.sh")
            self.compose.exec(service, "rm", "-f", OUT, STOP)
            sh("docker", "exec", "-d", "-u", "postgres", cid, "sh", "/tmp/write_probe.sh", OUT, STOP)
        return self

    def texts(self) -> dict[str, str]:
        """Each node's samples, read with `docker cp`: a stopped or killed node's too."""
        texts = {}
        with tempfile.TemporaryDirectory() as folder:
            for service in self.services:
                local = Path(folder) / service
                sh("docker", "cp", f"{self.compose.container(service)}:{OUT}", str(local), check=False)
                texts[service] = local.read_text() if local.exists() else ""
        return texts

    def samples(self) -> dict[str, list[Sample]]:
        return {s: parse(text) for s, text in self.texts().items()}

    def stop_texts(self) -> dict[str, str]:
        for service in self.services:
            self.compose.exec(service, "touch", STOP, user="postgres", check=False)
        return self.texts()

    def stop(self) -> dict[str, list[Sample]]:
        return {s: parse(text) for s, text in self.stop_texts().items()}
