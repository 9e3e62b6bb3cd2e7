"""ROLE -> the supervisord programs of that role: a data table, not a chain of ifs."""

from collections.abc import Callable
from dataclasses import dataclass

from postdock_supervisor import paths
from postdock_supervisor.config import Role, Settings


@dataclass(frozen=True)
class ProgramSpec:
    name: str
    command: str
    user: str = "root"
    priority: int = 100
    autostart: bool = True
    autorestart: str = "unexpected"  # true | false | unexpected
    startsecs: int = 1
    startretries: int = 3
    stopsignal: str = "TERM"
    stopwaitsecs: int = 10
    stopasgroup: bool = True  # the postmaster stops its own children: not for postgres
    events: tuple[str, ...] = ()  # set: an [eventlistener:x] subscribed to these
    capture: bool = False  # stdout in capture mode (a watcher that raises events)
    enabled: Callable[[Settings], bool] = lambda settings: True
    # Guards safety (fencing, the lease, hand-over, healing, following): readiness fails without it.
    safety: bool = False


AGENT = ProgramSpec("agent", "postdock agent", user="postgres", priority=10, autorestart="true", safety=True)
SSHD = ProgramSpec(
    "sshd",
    f"/usr/sbin/sshd -D -e -f {paths.SSHD_CONF}",
    priority=5,
    autorestart="true",
    enabled=lambda settings: settings.common.ssh_enable,
)
BOOTSTRAP = ProgramSpec(
    "bootstrap", "postdock node bootstrap", user="postgres", priority=20, autorestart="false", startsecs=0
)
# Started by bootstrap and by repmgr's service_*_command, never on its own: the start-up
# decision must come first, and a primary that died must not come back by itself.
POSTGRES = ProgramSpec(
    "postgres",
    f"{paths.PG_BIN}/postgres -D {{pgdata}} -c config_file={paths.POSTGRESQL_CONF}",
    user="postgres",
    priority=30,
    autostart=False,
    autorestart="false",
    stopsignal="INT",
    stopwaitsecs=60,
    stopasgroup=False,
)
# No PID file: supervisord tracks the process. A file left by a killed repmgrd (or a killed
# container: /run/postdock is not a tmpfs) names a PID that another process soon holds, and
# repmgrd then refuses to start ("PID file exists and seems to contain a valid PID") until FATAL.
REPMGRD = ProgramSpec(
    "repmgrd",
    f"{paths.PG_BIN}/repmgrd -f {paths.REPMGR_CONF} --daemonize=false --no-pid-file",
    user="postgres",
    priority=40,
    autostart=False,
    autorestart="true",
    startsecs=2,
    startretries=10,
)

CRASH_GUARD = ProgramSpec(
    "crash_guard",
    "postdock listen crash-guard",
    user="postgres",
    priority=1,
    autorestart="true",
    events=("PROCESS_STATE_EXITED", "PROCESS_STATE_FATAL", "TICK_5"),
    safety=True,
)

SYNC_KEEPER = ProgramSpec(
    "sync_keeper",
    "postdock listen sync-keeper",
    user="postgres",
    priority=1,
    autorestart="true",
    events=("TICK_5",),
    enabled=lambda settings: settings.postgres is not None,
    safety=True,
)

FENCE_KEEPER = ProgramSpec(
    "fence_keeper",
    "postdock node fence-keeper",
    user="postgres",
    priority=15,
    autorestart="true",
    startretries=100,
    enabled=lambda settings: (
        settings.postgres is not None
        and settings.postgres.fence_timeout > 0
        and len(settings.postgres.partner_nodes) > 1
    ),
    safety=True,
)

LEASE_KEEPER = ProgramSpec(
    "lease_keeper",
    "postdock node lease-keeper",
    user="postgres",
    priority=12,  # stopped after postgres: a primary renews its lease while it still takes writes
    autorestart="true",
    startretries=100,
    enabled=lambda settings: settings.postgres is not None and settings.postgres.uses_lease,
    safety=True,
)

# The highest priority number: supervisord stops it first, and waits for it, while postgres, repmgrd
# and the agent still run (programs/handover.py).
HANDOVER = ProgramSpec(
    "handover",
    "postdock node handover",
    user="postgres",
    priority=900,
    autorestart="true",
    stopwaitsecs=90,
    enabled=lambda settings: (
        settings.postgres is not None and not settings.postgres.is_cascade and len(settings.postgres.partner_nodes) > 1
    ),
    safety=True,
)

ROLE_CHECK = ProgramSpec(
    "role_check",
    "postdock listen role-check",
    user="postgres",
    priority=1,
    autorestart="true",
    events=("TICK_5",),
    safety=True,
)
# Root: the CA's key, which it signs with, is root's alone.
TLS_KEEPER = ProgramSpec(
    "tls_keeper",
    "postdock listen tls-keeper",
    priority=1,
    autorestart="true",
    events=("TICK_5",),  # a stat of the certificate; openssl reads it only when it changed
    enabled=lambda settings: settings.common.tls and settings.barman is None,
)
SSH_KEEPER = ProgramSpec(
    "ssh_keeper",
    "postdock listen ssh-keeper",
    priority=1,
    autorestart="true",
    events=("TICK_60",),  # host certificates last days: a minute late is nothing
    enabled=lambda settings: settings.common.ssh_enable,
)
# Capture mode: what it prints between supervisor's markers becomes PROCESS_COMMUNICATION_STDOUT.
CONF_WATCH = ProgramSpec(
    "conf_watch", "postdock watch-conf", user="postgres", priority=10, autorestart="true", capture=True
)
CONF_RELOAD = ProgramSpec(
    "conf_reload",
    "postdock listen conf-reload",
    user="postgres",
    priority=1,
    autorestart="true",
    events=("PROCESS_COMMUNICATION_STDOUT",),
)

# pgpool runs as postgres (Debian's layout); INT is its fast shutdown (TERM waits for clients).
PGPOOL = ProgramSpec(
    "pgpool",
    "postdock pool run",
    user="postgres",
    priority=30,
    autorestart="true",
    startsecs=0,
    startretries=100,
    stopsignal="INT",
    stopwaitsecs=30,
)
POOL_KEEPER = ProgramSpec(
    "pool_keeper",
    "postdock pool keeper",
    user="postgres",
    priority=40,
    autorestart="true",
    startretries=100,
    safety=True,  # moves pgpool to the new primary: pgpool takes no failover decision of its own
)

# barman commands run as postgres (barman_user); the keeper runs `barman cron` itself.
BACKUP_KEEPER = ProgramSpec(
    "backup_keeper", "postdock backup keeper", user="postgres", priority=40, autorestart="true", startretries=100
)

# Restores the newest backup into a scratch copy to prove it (programs/drill_keeper.py).
OFFSITE_KEEPER = ProgramSpec(
    "offsite_keeper",
    "postdock backup offsite-keeper",
    user="postgres",
    priority=45,
    autorestart="true",
    startretries=100,
    enabled=lambda settings: settings.barman is not None and bool(settings.barman.cloud_url),
)
DRILL_KEEPER = ProgramSpec(
    "drill_keeper",
    "postdock backup drill-keeper",
    user="postgres",
    priority=45,
    autorestart="true",
    startretries=100,
    enabled=lambda settings: settings.barman is not None and settings.barman.drills,
)

EXPORTER = ProgramSpec("exporter", "postdock exporter", user="postgres", priority=10, autorestart="true")
POSTGRES_EXPORTER = ProgramSpec(
    "postgres_exporter",
    "postdock postgres-exporter",
    user="postgres",
    priority=50,
    autorestart="true",
    startretries=100,
    enabled=lambda settings: settings.postgres is not None and settings.postgres.postgres_exporter,
)

ROLE_PROGRAMS: dict[Role, tuple[ProgramSpec, ...]] = {
    Role.POSTGRES: (
        SSHD,
        SSH_KEEPER,
        AGENT,
        BOOTSTRAP,
        POSTGRES,
        REPMGRD,
        CRASH_GUARD,
        FENCE_KEEPER,
        LEASE_KEEPER,
        HANDOVER,
        ROLE_CHECK,
        SYNC_KEEPER,
        CONF_WATCH,
        CONF_RELOAD,
        TLS_KEEPER,
        EXPORTER,
        POSTGRES_EXPORTER,
    ),
    Role.PGPOOL: (SSHD, SSH_KEEPER, PGPOOL, POOL_KEEPER, TLS_KEEPER, EXPORTER),
    Role.BARMAN: (SSHD, SSH_KEEPER, BACKUP_KEEPER, DRILL_KEEPER, OFFSITE_KEEPER, EXPORTER),
}


def programs_for(settings: Settings) -> tuple[ProgramSpec, ...]:
    return tuple(spec for spec in ROLE_PROGRAMS[settings.role] if spec.enabled(settings))


def safety_programs(settings: Settings) -> tuple[str, ...]:
    return tuple(spec.name for spec in programs_for(settings) if spec.safety)
