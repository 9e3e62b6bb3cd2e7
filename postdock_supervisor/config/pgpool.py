"""Settings of ROLE=pgpool: the backends, the users pgpool authenticates, PCP and the read policy."""

from dataclasses import dataclass

from postdock_supervisor.config import parse as p
from postdock_supervisor.config.control import ControlKeys, control_key_accepted_field, control_key_field
from postdock_supervisor.config.fields import Secret, env, parse_secret
from postdock_supervisor.config.modes import Mode


@dataclass(frozen=True)
class Backend:
    """One pgpool backend, as BACKENDS gives it."""

    num: int
    host: str
    port: int
    weight: float
    data_directory: str
    flag: str


def _backends(raw: str) -> tuple[Backend, ...]:
    return tuple(Backend(*entry) for entry in p.parse_backends(raw))


def _user_pairs(raw: str) -> tuple[tuple[str, Secret], ...]:
    return tuple((user, Secret(password)) for user, password in p.parse_user_pairs(raw))


@dataclass(frozen=True)
class PgpoolSettings:
    backends: tuple[Backend, ...] = env(
        "BACKENDS",
        "The postgres nodes behind pgpool, `num:host:port:weight:data_directory:flag` separated by "
        "`,`; empty fields take `5432`, `1`, `/var/lib/postgresql/data`, `ALLOW_TO_FAILOVER` "
        "(`0:pgmaster::::,1:pgslave1::::`). Every entry is configured, reachable at start or not.",
        _backends,
    )
    db_users: tuple[tuple[str, Secret], ...] = env(
        "DB_USERS",
        "Application users pgpool authenticates (scram-sha-256 end to end): `user:password` "
        "separated by `,` (or new lines in DB_USERS_FILE). Stored AES-encrypted in pool_passwd.",
        _user_pairs,
        "",
        secret=True,
    )
    check_user: str = env(
        "CHECK_USER",
        "User of pgpool's health and replication checks and of `postdock health`: the nodes' CHECK_USER (a "
        "`pg_monitor` role, as in the example), or the repmgr superuser, PostDock's default.",
        p.parse_identifier,
        "replication_user",
    )
    check_password: Secret = env("CHECK_PASSWORD", "Password of CHECK_USER.", parse_secret, secret=True)
    control_password: Secret = env(
        "REPLICATION_PASSWORD",
        "Optional on pgpool: the nodes' REPLICATION_PASSWORD, to sign `postdock switchover` requests when the "
        "cluster has no CONTROL_KEY (give CONTROL_KEY instead: it is no database login).",
        parse_secret,
        "",
        secret=True,
    )
    control_key: Secret = control_key_field()
    control_key_accepted: Secret = control_key_accepted_field()
    pcp_user: str = env(
        "PCP_USER", "pgpool's PCP administrator (pcp_* commands on port 9898).", p.parse_identifier, "pcp_user"
    )
    pcp_password: Secret = env(
        "PCP_PASSWORD",
        "Password of PCP_USER. Empty: a random one made at each start, so PCP is usable only inside the container.",
        parse_secret,
        "",
        secret=True,
    )
    require_min_backends: int = env(
        "REQUIRE_MIN_BACKENDS",
        "pgpool starts once this many backends accept "
        "TCP connections (or WAIT_BACKEND_TIMEOUT passed), and `postdock health` "
        "fails while fewer are up in pgpool.",
        p.parse_count,
        "0",
    )
    wait_backend_timeout: int = env(
        "WAIT_BACKEND_TIMEOUT",
        "Seconds pgpool's start waits for REQUIRE_MIN_BACKENDS backends.",
        p.parse_seconds,
        "120",
    )
    consistency_mode: Mode = env(
        "CONSISTENCY_MODE",
        "The cluster's mode (same value as on the postgres "
        "nodes); decides which standbys serve reads (see the consistency table).",
        Mode,
        "eventual",
    )
    max_read_lag: int = env(
        "MAX_READ_LAG_BYTES",
        "`eventual`/`partial`: a standby further behind the primary "
        "than this (bytes) gets no reads (pgpool's delay_threshold).",
        p.parse_bytes,
        "1048576",
    )

    @property
    def control(self) -> ControlKeys:
        return ControlKeys.of(self.control_key, self.control_key_accepted, self.control_password)
