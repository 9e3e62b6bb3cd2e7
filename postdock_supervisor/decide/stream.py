"""Where barman's WAL stream resumes after a failover (pure).

pg_receivewal resumes where its directory says: at the start of the segment after the newest complete
one, or at the start of the newest .partial, on that file's timeline. Three cases stop it for good:
- the directory's marker is stale: on a timeline switch pg_receivewal leaves the old timeline's
  .partial behind, and barman, which keeps one file as the position, keeps that .partial and
  archives every complete segment after it; a stream that then ends on a segment boundary restarts
  from the old .partial, on a timeline whose history file the new primary may not even have;
- what barman holds ends exactly at the new primary's switch point (a WAL switch just before the
  promotion): the walsender answers START_REPLICATION with the next timeline instead of a stream,
  and pg_receivewal takes that for an error;
- barman holds WAL past the switch point (the promoted node never had it).
barman's own way out, `receive-wal --reset`, restarts at the primary's current WAL file: every segment
between the fork and now is missing from the archive. Here the stream resumes from what barman holds,
its streaming directory and its archive together: on that timeline when the new primary's history
still has it there, else on the next timeline at the segment holding the switch point (that file on
the new timeline begins with the old timeline's WAL up to the fork), so the archive stays whole.
Streaming files past the fork are WAL of an abandoned branch: moved aside, never deleted (they hold
what the old primary acknowledged and nobody else has)."""

from collections.abc import Iterable
from dataclasses import dataclass

from postdock_supervisor.model.backup import History
from postdock_supervisor.model.wal import SEGMENTS_PER_LOG, Segment, parse_segment

SEGMENT_BYTES = 0x100000000 // SEGMENTS_PER_LOG
PARTIAL = ".partial"


@dataclass(frozen=True)
class Resume:
    stopped: Segment  # where pg_receivewal would restart by itself
    held: Segment  # where what barman holds ends (its streaming directory and its archive)
    start: Segment  # an empty <start>.partial makes pg_receivewal start here
    fork: int | None = None  # the LSN where the primary's history leaves held's timeline, when at or past it
    aside: tuple[str, ...] = ()  # streaming files past the fork: WAL of the abandoned branch

    @property
    def at_fork(self) -> bool:
        """barman holds exactly up to the switch point (else WAL past it too)."""
        return self.held.number * SEGMENT_BYTES == self.fork

    @property
    def partial(self) -> str:
        return f"{self.start.name}{PARTIAL}"


def lsn_text(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def _parse(name: str) -> tuple[Segment, bool] | None:
    partial = name.endswith(PARTIAL)
    found = parse_segment(name.removesuffix(PARTIAL))
    return None if found is None else (found, partial)


def _order(segment: Segment) -> tuple[int, int]:
    return segment.number, segment.timeline


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


def after_archived(names: Iterable[str]) -> Segment | None:
    """Where the archive's newest complete segment ends (archived .partial files hold less)."""
    segments = [s for s in (parse_segment(n) for n in names) if s is not None]
    newest = max(segments, key=_order, default=None)
    return None if newest is None else Segment(newest.timeline, newest.number + 1)


def fork_resume(streaming: Iterable[str], archived: Iterable[str], history: History | None) -> Resume | None:
    """Where to put barman's stream so that it continues from what barman holds on the primary's
    history; None when pg_receivewal gets there by itself (or the history does not know the timeline
    barman holds: nothing safe to say then)."""
    listed = list(streaming)
    stopped = stream_position(listed)
    if stopped is None or history is None:
        return None
    held = max(stopped, after_archived(archived) or stopped, key=_order)
    parents = [tli for tli, _ in history.ends]
    if held.timeline == history.timeline or (held.timeline in parents and held.timeline < history.timeline):
        ended = dict(history.ends).get(held.timeline)
        if ended is None or held.number * SEGMENT_BYTES < ended:
            # On the primary's history as it is (behind the switch, the walsender streams across it).
            return None if held == stopped else Resume(stopped, held, held)
        following = next((t for t in [*parents, history.timeline] if t > held.timeline), history.timeline)
        start = Segment(following, ended // SEGMENT_BYTES)
        aside = []
        for name in listed:
            parsed = _parse(name)
            if parsed is not None and parsed[0].number > start.number and parsed[0].timeline < following:
                aside.append(name)
        return Resume(stopped, held, start, ended, tuple(sorted(aside)))
    return None
