"""Where barman's WAL stream resumes after a failover (pure).

pg_receivewal resumes where its directory says: at the start of the segment after the newest complete
one, or at the start of the newest .partial, on that file's timeline. After a failover the new primary
serves the old timeline only up to where its own history left it (the switch point). Two cases stop
the stream there for good:
- barman holds exactly up to the switch point (a WAL switch just before the promotion ends the old
  timeline on a segment boundary): the walsender answers START_REPLICATION with the next timeline
  instead of a stream, and pg_receivewal takes that for an error, again and again;
- barman holds WAL past the switch point (the old primary sent it, the promoted standby never had it):
  the position is not on the new primary's history.
barman's own way out, `receive-wal --reset`, restarts at the primary's current WAL file: every segment
between the fork and now is missing from the archive. Here the stream resumes on the next timeline at
the segment holding the switch point (that segment's file on the new timeline starts with the old
timeline's WAL up to the fork), so the archive stays whole. Files past the fork are WAL of an
abandoned branch; they are moved aside, never deleted: they are what the old primary acknowledged
and nobody else has."""

from collections.abc import Iterable
from dataclasses import dataclass

from postdock_supervisor.model.backup import History
from postdock_supervisor.model.wal import SEGMENTS_PER_LOG, Segment, parse_segment

SEGMENT_BYTES = 0x100000000 // SEGMENTS_PER_LOG
PARTIAL = ".partial"


@dataclass(frozen=True)
class Resume:
    stopped: Segment  # where pg_receivewal would resume by itself
    fork: int  # the LSN where the new primary's history leaves the stream's timeline
    start: Segment  # an empty <start>.partial makes pg_receivewal start here
    aside: tuple[str, ...]  # streaming files past the fork: WAL of the abandoned branch

    @property
    def at_fork(self) -> bool:
        """barman holds exactly up to the switch point (else WAL past it too)."""
        return self.stopped.number * SEGMENT_BYTES == self.fork

    @property
    def partial(self) -> str:
        return f"{self.start.name}{PARTIAL}"


def lsn_text(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def _parse(name: str) -> tuple[Segment, bool] | None:
    partial = name.endswith(PARTIAL)
    found = parse_segment(name.removesuffix(PARTIAL))
    return None if found is None else (found, partial)


def stream_position(names: Iterable[str]) -> Segment | None:
    """Where pg_receivewal resumes from these streaming files (its FindStreamingStart rule): the
    highest segment number wins, then the highest timeline, then a complete file over a .partial."""
    best: tuple[int, int, bool] | None = None
    for name in names:
        parsed = _parse(name)
        if parsed is None:
            continue
        segment, partial = parsed
        key = (segment.number, segment.timeline, not partial)
        if best is None or key > best:
            best = key
    if best is None:
        return None
    number, timeline, complete = best
    return Segment(timeline, number + 1 if complete else number)


def fork_resume(names: Iterable[str], history: History | None) -> Resume | None:
    """The resume point on the new primary's history, when the stream stands at or past where that
    history leaves the stream's timeline; None when pg_receivewal gets on by itself (or the history
    does not know the stream's timeline: nothing safe to say then)."""
    listed = list(names)
    stopped = stream_position(listed)
    if stopped is None or history is None or stopped.timeline >= history.timeline:
        return None
    parents = [tli for tli, _ in history.ends]
    if stopped.timeline not in parents:
        return None
    index = parents.index(stopped.timeline)
    fork = history.ends[index][1]
    if stopped.number * SEGMENT_BYTES < fork:
        return None  # behind the switch: the walsender streams across it
    following = parents[index + 1] if index + 1 < len(parents) else history.timeline
    start = Segment(following, fork // SEGMENT_BYTES)
    aside = []
    for name in listed:
        parsed = _parse(name)
        if parsed is not None and parsed[0].number > start.number and parsed[0].timeline < following:
            aside.append(name)
    return Resume(stopped, fork, start, tuple(sorted(aside)))
