"""repmgr's promote_command (`postdock node promote`): promote this standby, set its synchronous
standbys at once (no commit is acknowledged without its copy), and record the failover's times."""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from postdock_supervisor import healing
from postdock_supervisor.act import node
from postdock_supervisor.config import Settings
from postdock_supervisor.model.failover import summary
from postdock_supervisor.observe.peers import unreachable_nodes
from postdock_supervisor.programs import lease_keeper, sync_keeper

logger = logging.getLogger(__name__)


def main(settings: Settings) -> int:
    """repmgr's exit code."""
    assert settings.postgres is not None
    # Held until the new primary holds a lease: no commit is acknowledged while the old one might.
    # The validation command got the approvals just before (repmgrd's failover).
    with ThreadPoolExecutor(max_workers=1) as pool:
        gone = pool.submit(unreachable_nodes, settings.postgres)  # probed while the commits get held
        done = lease_keeper.promote_held(
            settings.postgres, settings.common.status_port, lambda: node.promote_standby(gone.result()), approved=True
        )
    if done.ok:
        sync_keeper.keep(settings.postgres)
        healing.record("repmgrd", "promote", "repmgrd promoted this standby")
        record = healing.read_failover()
        if record is not None and not record.promoted_at:  # the record approve-promotion began
            record = replace(record, promoted_at=time.time())
            healing.write_failover(record)
            logger.info("%s", summary(record))
    return done.returncode
