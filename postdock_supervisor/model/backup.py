"""What the barman role sees: the nodes, barman's WAL receiver and the backup catalogue."""

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeProbe:
    host: str
    answers: bool
    writable: bool = False
    timeline: int = 0
    slot: str = ""  # primary only: '' (no slot), or its wal_status (reserved, extended, unreserved, lost)
    slot_active: bool = False
    wants_sync: bool = False  # primary only: barman's receiver is in synchronous_standby_names
    # primary only: WAL bytes it wrote past what barman's slot has confirmed (None: no slot yet)
    behind_bytes: int | None = None


@dataclass(frozen=True)
class Receiver:
    """barman's pg_receivewal for this server, from /proc."""

    running: bool
    synchronous: bool = False


@dataclass(frozen=True)
class BackupInfo:
    backup_id: str
    status: str  # DONE, WAITING_FOR_WALS, STARTED, FAILED...
    begin_time: float = 0.0
    end_time: float = 0.0
    size: int = 0
    timeline: int = 0
    copy_seconds: float = 0.0
    total_seconds: float = 0.0
    end_lsn: str = ""
    parent_backup_id: str = ""  # set on a block-level incremental backup (barman 3.11+)
    begin_wal: str = ""  # the first WAL segment a restore of it needs
    end_wal: str = ""
    end_partial: bool = False  # barman's archive holds its end segment only as a .partial

    @property
    def incremental(self) -> bool:
        return bool(self.parent_backup_id)

    @property
    def cut_short(self) -> bool:
        """Left waiting for WAL with no end position: its primary died as barman finalised it (barman
        3.13 then fails every `list-backups`, `check` and `cron` of the server on its missing end_wal)."""
        return self.status == "WAITING_FOR_WALS" and not self.end_wal

    @property
    def stranded(self) -> str:
        """Why barman will never mark this waiting backup DONE ('' while it still may). barman 3.13
        calls one DONE once the newest archived segment *of the timeline it began on* reaches its end
        segment, and its cron checks only the oldest waiting backup: a backup that can never get
        there also keeps every later one waiting."""
        if self.status != "WAITING_FOR_WALS":
            return ""
        if self.cut_short:
            return "it was cut short (its primary was lost while barman finalised it: no end position)"
        if self.begin_wal and self.end_wal[:8] != self.begin_wal[:8]:
            began, ended = int(self.begin_wal[:8], 16), int(self.end_wal[:8], 16)
            return (f"it began on timeline {began} and ended on {ended} (a failover during the copy): barman waits "
                    f"for its end segment on timeline {began}, which never comes")  # fmt: skip
        if self.end_partial:
            return (f"its timeline ended inside its last segment {self.end_wal} (only a .partial of it is "
                    "archived): barman never sees that segment whole")  # fmt: skip
        return ""


@dataclass(frozen=True)
class History:
    """The primary's timeline history (its TIMELINE_HISTORY): every ancestor timeline and the LSN
    where the primary's history left it, oldest first."""

    timeline: int  # the primary's current timeline
    ends: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class BackupSnapshot:
    nodes: tuple[NodeProbe, ...]
    receiver: Receiver
    backups: tuple[BackupInfo, ...]
    backup_running: bool
    # Read while barman's receiver is down: where its stream can resume.
    streaming: tuple[str, ...] = ()  # the file names in barman's streaming directory
    archived: tuple[str, ...] = ()  # the file names in barman's WAL archive
    history: History | None = None  # the primary's

    @property
    def writable(self) -> tuple[NodeProbe, ...]:
        return tuple(n for n in self.nodes if n.writable)

    @property
    def done(self) -> tuple[BackupInfo, ...]:
        return tuple(b for b in self.backups if b.status == "DONE")
