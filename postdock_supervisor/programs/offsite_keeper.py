"""The offsite keeper (a supervisor program on ROLE=barman with CLOUD_BACKUP_URL): every half minute,
observe barman's catalogue and the off-site record, decide whether the newest full backup must go to
the object store (decide/offsite.py), and copy it (act/offsite.py). WAL segments go by barman's
pre-archive hook (`postdock backup offsite-wal`), not by this program."""

import logging
import time

from postdock_supervisor.act import offsite as act
from postdock_supervisor.config import Settings
from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.decide.offsite import OffsiteAct, OffsiteDecision, decide_offsite
from postdock_supervisor.model.offsite import OffsiteSnapshot
from postdock_supervisor.observe.backup import backups
from postdock_supervisor.observe.offsite import read_state
from postdock_supervisor.programs.contract import step
from postdock_supervisor.programs.runner import run_ticks

logger = logging.getLogger(__name__)

INTERVAL = 30.0


def observe(bm: BarmanSettings) -> OffsiteSnapshot:
    full = [b for b in backups(bm) if b.status == "DONE" and not b.incremental]
    return OffsiteSnapshot(full[-1] if full else None, read_state(bm))


class OffsiteKeeper:
    def __init__(self, bm: BarmanSettings) -> None:
        self.bm = bm
        self.last_reason = ""

    def observe(self) -> OffsiteSnapshot:
        return observe(self.bm)

    def decide(self, snap: OffsiteSnapshot, now: float) -> OffsiteDecision:
        return decide_offsite(snap, time.time())  # the records' times are wall-clock times

    def apply(self, decision: OffsiteDecision) -> None:
        if decision.reason != self.last_reason:
            logger.info("%s", decision.reason)
            self.last_reason = decision.reason
        if decision.act is not OffsiteAct.COPY or decision.backup is None:
            return
        record = act.copy_backup(self.bm, decision.backup)
        act.write_backup_record(self.bm, record)
        if record.ok:
            logger.info("backup %s copied to %s in %.1fs", record.subject, self.bm.cloud_url, record.seconds)
        else:
            logger.error("backup %s was not copied to %s: %s", record.subject, self.bm.cloud_url, record.error)


def main(settings: Settings) -> None:
    assert settings.barman is not None
    keeper = OffsiteKeeper(settings.barman)
    run_ticks(lambda began: step(keeper, began), interval=INTERVAL, min_pause=1.0)
