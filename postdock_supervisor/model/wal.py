"""WAL continuity of barman's archive: are all segments there from the oldest backup's start on?

The commonest surprise on restore day is WAL archiving that stopped, or skipped, after a failover
while everything looked healthy. Counted here from the archive's file names alone (pure): every
segment number from the oldest backup's first segment to the newest archived one must exist on some
timeline (a failover continues the same numbers on the next timeline), and every timeline after the
backup's own must have its .history file, or a restore cannot follow the switch."""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SEGMENTS_PER_LOG = 0x100  # 16 MiB segments: the image's wal_segment_size
_SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")
_HISTORY = re.compile(r"^([0-9A-F]{8})\.history$")


@dataclass(frozen=True)
class Segment:
    timeline: int
    number: int  # position in the WAL stream, whatever the timeline

    @property
    def name(self) -> str:
        log, seg = divmod(self.number, SEGMENTS_PER_LOG)
        return f"{self.timeline:08X}{log:08X}{seg:08X}"


def parse_segment(name: str) -> Segment | None:
    found = _SEGMENT.match(name)
    if found is None:
        return None
    timeline, log, seg = (int(part, 16) for part in found.groups())
    return Segment(timeline, log * SEGMENTS_PER_LOG + seg)


@dataclass(frozen=True)
class WalContinuity:
    missing_segments: int  # segment numbers absent on every timeline, between start and newest
    first_missing: str  # the first of them ('' when none)
    missing_history: tuple[int, ...]  # timelines after the start's without a .history file
    newest: str  # the newest archived segment ('' when none)

    @property
    def ok(self) -> bool:
        return not self.missing_segments and not self.missing_history


def parse_history(text: str) -> list[tuple[int, int]]:
    """A timeline's .history file: (parent timeline, LSN where it switched away) for every ancestor."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].isdigit() and "/" in fields[1]:
            high, _, low = fields[1].partition("/")
            try:
                found.append((int(fields[0]), (int(high, 16) << 32) | int(low, 16)))
            except ValueError:
                continue
    return found


def _segment_of(lsn: int) -> int:
    return lsn // (0x100000000 // SEGMENTS_PER_LOG)


def continuity(start: str, names: Iterable[str], history_texts: Mapping[int, str] | None = None) -> WalContinuity:
    """start: the oldest backup's first segment (barman's begin_wal); names: the archive's file names;
    history_texts: timeline -> its .history file's text. With the newest timeline's,
    each segment number must be there on the timeline a restore to the newest one reads it from (WAL
    received from an abandoned branch fills no hole); without it, on any timeline."""
    first = parse_segment(start)
    listed = list(names)
    segments = [s for s in (parse_segment(n) for n in listed) if s is not None]
    histories = {int(m.group(1), 16) for m in (_HISTORY.match(n) for n in listed) if m}
    if first is None:
        return WalContinuity(0, "", (), "")
    relevant = [s for s in segments if s.number >= first.number and s.timeline >= first.timeline]
    if not relevant:
        return WalContinuity(0, "", (), "")
    # The newest timeline is where a restore ends; WAL of an abandoned branch may reach further.
    newest = max(relevant, key=lambda s: (s.timeline, s.number))
    newest_history = (history_texts or {}).get(newest.timeline)
    present = {(s.timeline, s.number) for s in relevant}
    # The timelines a restore to the newest one walks, each from the segment it began in.
    ancestry = parse_history(newest_history) if newest_history is not None else []
    chain = [(first.timeline, first.number)]
    if newest.timeline > first.timeline and ancestry:
        children = [tli for tli, _ in ancestry[1:]] + [newest.timeline]
        chain += [
            (child, _segment_of(lsn))
            for (_, lsn), child in zip(ancestry, children, strict=True)
            if child > first.timeline
        ]

    def expected(number: int) -> int | None:
        if newest.timeline > first.timeline and not ancestry:
            return None  # the chain is unknown (no readable history): any timeline will do
        return max((tli for tli, begins in chain if begins <= number), default=first.timeline)

    def there(number: int) -> bool:
        timeline = expected(number)
        if timeline is None:
            return any((t, number) in present for t in range(first.timeline, newest.timeline + 1))
        return (timeline, number) in present

    missing = [n for n in range(first.number, newest.number + 1) if not there(n)]
    timelines = {s.timeline for s in relevant if s.timeline > first.timeline}
    first_missing = ""
    if missing:
        timeline = expected(missing[0]) or first.timeline
        first_missing = Segment(timeline, missing[0]).name
    return WalContinuity(len(missing), first_missing, tuple(sorted(timelines - histories)), newest.name)
