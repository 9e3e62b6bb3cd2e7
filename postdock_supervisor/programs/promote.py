"""repmgr's promote_command (`postdock node promote`): promote this standby, set its synchronous
standbys at once (no commit is acknowledged without its copy), and record the failover's times."""

import time

from postdock_supervisor import healing
from postdock_supervisor.act import node
from postdock_supervisor.config import Settings
from postdock_supervisor.observe.local import read_upstream_last_seen
from postdock_supervisor.programs import lease_keeper, sync_keeper


def main(settings: Settings) -> int:
    """repmgr's exit code."""
    assert settings.postgres is not None
    began = time.time()
    seen_ago = read_upstream_last_seen(settings.postgres)
    # Held until the new primary holds a lease: no commit is acknowledged while the old one might.
    # The validation command got the approvals just before (repmgrd's failover).
    done = lease_keeper.promote_held(
        settings.postgres, settings.common.status_port, lambda: node.repmgr("standby", "promote"), approved=True
    )
    if done.ok:
        sync_keeper.keep(settings.postgres)
        healing.record("repmgrd", "promote", "repmgrd promoted this standby")
        healing.record_failover(began - (seen_ago or 0), time.time())
    return done.returncode
