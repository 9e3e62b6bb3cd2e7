"""Frozen, typed settings. Each field's metadata is the contract of one environment variable:
the loader reads it and the README's variable table is generated from it."""

import enum
from dataclasses import dataclass

from postdock_supervisor.config import parse as p
from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.config.control import ControlKeys, control_key_accepted_field, control_key_field
from postdock_supervisor.config.fields import EnvVar, Secret, env, parse_secret
from postdock_supervisor.config.modes import Mode
from postdock_supervisor.config.pgpool import Backend, PgpoolSettings

__all__ = ["Backend", "EnvVar", "PgpoolSettings", "Secret", "env"]


# Fence before promote: the earliest promotion comes at least this long after FENCE_TIMEOUT.
FENCE_MARGIN_S = 5


class Role(enum.Enum):
    POSTGRES = "postgres"
    PGPOOL = "pgpool"
    BARMAN = "barman"


@dataclass(frozen=True)
class CommonSettings:
    role: Role = env(
        "ROLE", "What this container is: `postgres` (a database node), `pgpool` or `barman`.", Role, "postgres"
    )
    log_level: str = env(
        "LOG_LEVEL", "Log level of postdock and repmgr: DEBUG, INFO, NOTICE, WARNING, ERROR.", p.parse_log_level, "INFO"
    )
    ssh_enable: bool = env(
        "SSH_ENABLE",
        "1 starts sshd under supervisord; the postgres user of every "
        "container can then ssh to the others with the mounted key pair.",
        p.parse_bool,
        "0",
    )
    ssh_key_dir: str = env(
        "SSH_KEY_DIR",
        "Where the user mounts the cluster's keys: the login pair (`id_ed25519`, `id_ecdsa` or `id_rsa` with "
        "its `.pub`) and the host authority `host_ca` with `host_ca.pub` that certifies every container's host "
        "key (without it the login key does, as in 0.1); `scripts/cluster-key.sh` makes both. Read only when "
        "SSH_ENABLE=1.",
        p.parse_path,
        "/etc/postdock/ssh",
    )
    ssh_host_key_dir: str = env(
        "SSH_HOST_KEY_DIR",
        "Where this container keeps the host key it generates "
        "at its first start (mount a volume here to keep it across re-creation).",
        p.parse_path,
        "/etc/ssh/host-keys",
    )
    ssh_cert_validity_s: int = env(
        "SSH_CERT_DAYS",
        "Validity of the certificate of this container's SSH host key (SSH_ENABLE=1), signed at start and "
        "again once two thirds of it have passed: whole days, or a number with `m`, `h` or `d`.",
        p.parse_validity,
        "90",
    )
    tls: bool = env(
        "TLS",
        "1 encrypts PostgreSQL's TCP connections: each node serves a certificate from the cluster CA in TLS_DIR "
        "(issued by itself at every start, or the one mounted there); repmgr, replication, pgpool and barman verify it "
        "(`verify-full`), and postgres and pgpool refuse TCP clients without TLS.",
        p.parse_bool,
        "0",
    )
    tls_dir: str = env(
        "TLS_DIR",
        "Where the user mounts the cluster's certificate authority: `ca.crt` everywhere; on postgres and "
        "pgpool also either `ca.key` (the node issues its own certificate; `scripts/cluster-tls.sh` makes the "
        "pair) or `tls.crt` and `tls.key`, a certificate issued for this node (`scripts/node-tls.sh`, "
        "cert-manager), served as it is and installed again when it changes: the CA key then stays out of "
        "the container. Read only when TLS=1.",
        p.parse_path,
        "/etc/postdock/tls",
    )
    tls_names: tuple[str, ...] = env(
        "TLS_NAMES",
        "More DNS names for this node's certificate, comma-separated (a database node's "
        "CLUSTER_NODE_NETWORK_NAME and NODE_NAME, the container's host name and localhost are always in it): "
        "for pgpool, the name clients use.",
        p.parse_host_list,
        "",
    )
    tls_cert_validity_s: int = env(
        "TLS_CERT_DAYS",
        "Validity of the certificate a node issues itself at start, and again once two thirds of it have "
        "passed: whole days, or a number with `m`, `h` or `d` (`2m`).",
        p.parse_validity,
        "90",
    )
    http_tls: str = env(
        "HTTP_TLS",
        "TLS on the agents' port (STATUS_PORT) and the exporters' (EXPORTER_PORT), with TLS=1. `1`: a database "
        "node and pgpool serve their certificate there and still answer plain HTTP, and every postdock client "
        "uses TLS, verifying the peer's certificate by the cluster CA and name (a peer that answers no TLS is "
        "asked again in plain HTTP: nodes of an older release during a rolling change); `required`: plain HTTP "
        "is refused and never used (Prometheus must then scrape with `scheme: https`). Set `1` on every "
        "container, then `required`. barman's exporter has no certificate and stays plain HTTP.",
        p.parse_http_tls,
        "0",
    )
    configs_raw: str = env(
        "CONFIGS",
        "Extra settings for the role's main program (postgresql.conf for "
        "postgres), as `key:value,key:value`. Keys match exactly; a key given here "
        "replaces the image's default for that key only.",
        p.parse_text,
        "",
    )
    configs_delimiter: str = env("CONFIGS_DELIMITER_SYMBOL", "Separator between CONFIGS pairs.", p.parse_symbol, ",")
    configs_assignment: str = env(
        "CONFIGS_ASSIGNMENT_SYMBOL", "Separator between key and value in CONFIGS.", p.parse_symbol, ":"
    )
    exporter_port: int = env(
        "EXPORTER_PORT",
        "Port of the Prometheus exporter (`/metrics`), every role.",
        p.parse_port,
        "8080",
    )
    status_port: int = env(
        "STATUS_PORT",
        "Port of the node's status agent (JSON on `/status`), which partners read to decide roles at start.",
        p.parse_port,
        "8008",
    )


# RFC 1918, the shared address space (RFC 6598: some Kubernetes networks) and IPv6 unique local.
PRIVATE_NETWORKS = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,fc00::/7"


@dataclass(frozen=True)
class PostgresSettings:
    node_id_raw: int | None = env(
        "NODE_ID",
        "repmgr node id (1 and up). Empty: the trailing number of "
        "NODE_NAME plus NODE_ID_OFFSET (`node-102` gives 102).",
        p.parse_node_id,
        "",
    )
    node_id_offset: int = env(
        "NODE_ID_OFFSET",
        "Added to the number taken from NODE_NAME (Kubernetes numbers pods from 0, repmgr ids start at 1).",
        p.parse_count,
        "0",
    )
    node_name: str = env(
        "NODE_NAME",
        "repmgr node name, unique in the cluster: letters, digits, '.', '-', '_' (at most 63).",
        p.parse_name,
    )
    network_name: str = env(
        "CLUSTER_NODE_NETWORK_NAME",
        "Host name the other nodes reach this node by. Empty: the container's host name.",
        p.parse_optional_host,
        "",
    )
    primary_host: str = env(
        "REPLICATION_PRIMARY_HOST",
        "Upstream of this node: the initial primary for "
        "first-level nodes, the first-level standby for a cascaded one. Equal to this "
        "node's network name (or empty) on the node that starts a fresh cluster.",
        p.parse_optional_host,
        "",
    )
    port: int = env("REPLICATION_PRIMARY_PORT", "PostgreSQL port of every node.", p.parse_port, "5432")
    partner_nodes: tuple[str, ...] = env(
        "PARTNER_NODES",
        "Comma list of the first-level nodes (the ones "
        "that may become primary), this node included. Empty on a "
        "cascaded node.",
        p.parse_host_list,
        "",
    )
    priority: int = env(
        "NODE_PRIORITY",
        "Failover preference: the highest wins among the standbys that hold all WAL any of them holds "
        "(a preferred standby behind fetches it first); 0 is never promoted.",
        p.parse_priority,
        "100",
    )
    cluster_name: str = env(
        "CLUSTER_NAME",
        "Name of the cluster, shown by `postdock status` (repmgr 5 has no cluster name of its own).",
        p.parse_name,
        "pg_cluster",
    )
    replication_db: str = env(
        "REPLICATION_DB", "Database holding repmgr's metadata.", p.parse_identifier, "replication_db"
    )
    replication_user: str = env(
        "REPLICATION_USER",
        "Superuser with REPLICATION used by repmgr, cloning and pg_rewind.",
        p.parse_identifier,
        "replication_user",
    )
    replication_password: Secret = env(
        "REPLICATION_PASSWORD", "Password of REPLICATION_USER.", parse_secret, secret=True
    )
    postgres_user: str = env(
        "POSTGRES_USER",
        "Application user created on a fresh primary: it logs in and owns POSTGRES_DB, and is no superuser "
        "(unless POSTGRES_USER_SUPERUSER=1, or it is `postgres`, the cluster's own superuser).",
        p.parse_identifier,
        "postgres",
    )
    postgres_password: Secret = env("POSTGRES_PASSWORD", "Password of POSTGRES_USER.", parse_secret, secret=True)
    postgres_user_superuser: bool = env(
        "POSTGRES_USER_SUPERUSER",
        "1: POSTGRES_USER is created a superuser, as PostDock and postdock 0.1 did. A superuser can run "
        "programs as the `postgres` account (`COPY ... TO PROGRAM`) and so read every secret of the node; "
        "set it only for an application that needs it. Read on a fresh primary only.",
        p.parse_bool,
        "0",
    )
    check_user: str = env(
        "CHECK_USER",
        "A role the primary creates with `pg_monitor` only (no superuser) for pgpool's health and replication "
        "checks: give pgpool the same CHECK_USER. Empty: none, and pgpool checks as REPLICATION_USER.",
        p.parse_optional_identifier,
        "",
    )
    check_password: Secret = env(
        "CHECK_PASSWORD", "Password of CHECK_USER; required when it is set.", parse_secret, "", secret=True
    )
    barman_user: str = env(
        "BARMAN_USER",
        "A role the primary creates for barman, no superuser: REPLICATION, `pg_read_all_settings`, "
        "`pg_read_all_stats`, `pg_checkpoint` and EXECUTE on the backup functions (pg_backup_start/stop, "
        "pg_switch_wal, pg_create_restore_point). Give the barman container this user and BARMAN_PASSWORD as "
        "its REPLICATION_USER and REPLICATION_PASSWORD. Empty: none, and barman connects as the replication "
        "superuser.",
        p.parse_optional_identifier,
        "",
    )
    barman_password: Secret = env(
        "BARMAN_PASSWORD", "Password of BARMAN_USER; required when it is set.", parse_secret, "", secret=True
    )
    postgres_db: str = env(
        "POSTGRES_DB",
        "Application database created on a fresh primary (empty: the name of POSTGRES_USER).",
        p.parse_optional_name,
        "",
    )
    use_slots: bool = env(
        "USE_REPLICATION_SLOTS",
        "1: every standby streams through a replication slot (bounded by max_slot_wal_keep_size).",
        p.parse_bool,
        "1",
    )
    clean_over_rewind: bool = env(
        "CLEAN_OVER_REWIND",
        "1: an old primary that must become a standby is re-cloned instead of rewound.",
        p.parse_bool,
        "0",
    )
    reconnect_attempts: int = env(
        "RECONNECT_ATTEMPTS",
        "repmgrd: checks of an unreachable upstream, after the failed one, before an election. With the lease "
        "0 is safe (a live primary keeps renewing its lease, so no majority approves a candidate) and saves "
        "a CONNECT_TIMEOUT when packets are dropped; with LEASE_TIMEOUT=0, (this - 1) x RECONNECT_INTERVAL "
        "must be at least FENCE_TIMEOUT + 5 s.",
        p.parse_count,
        "0",
    )
    reconnect_interval: int = env("RECONNECT_INTERVAL", "repmgrd: seconds between those checks.", p.parse_seconds, "1")
    monitor_interval: int = env(
        "MONITOR_INTERVAL", "repmgrd: seconds between regular upstream checks.", p.parse_seconds, "1"
    )
    connect_timeout: int = env(
        "CONNECT_TIMEOUT",
        "connect_timeout (s) in every node-to-node connection string (libpq's minimum is 2).",
        p.parse_seconds,
        "2",
    )
    lease_timeout: float = env(
        "LEASE_TIMEOUT",
        "Seconds a primary's write lease lasts, granted by a majority of the first-level nodes and renewed "
        "four times per lease: a primary holds every commit before its lease lapses, and a standby is "
        "promoted only once a majority says no lease is live. 0: no lease (the timers of FENCE_TIMEOUT "
        "and RECONNECT_ATTEMPTS alone).",
        p.parse_lease_timeout,
        "2",
    )
    allowed_networks: tuple[str, ...] = env(
        "ALLOWED_NETWORKS",
        "Networks postgres accepts TCP clients and replication from (scram-sha-256 always), as CIDRs or "
        "`samenet` (the container's own subnets). The default, the private ranges, works on compose and "
        "on Kubernetes, where pod addresses are /32 or per-node subnets that samenet does not cover.",
        p.parse_networks,
        PRIVATE_NETWORKS,
    )
    control_key: Secret = control_key_field()
    control_key_accepted: Secret = control_key_accepted_field()
    control_accept_legacy: bool = env(
        "CONTROL_ACCEPT_LEGACY",
        "1: the agent also accepts control requests signed the 0.1.0 way (keyed by the bare password, not "
        "bound to a node), the start-up and role decisions also read partners' unsigned status answers, and "
        "the lease, hand-over and switchover requests take unsigned answers (0.1.0 agents sign none), so that "
        "nodes of that version keep their leases, hand-overs and votes during a rolling upgrade. "
        "Set it on upgraded nodes for the upgrade only, then remove it.",
        p.parse_bool,
        "0",
    )
    fence_timeout: int = env(
        "FENCE_TIMEOUT",
        "Seconds a primary that cannot reach a majority of the registered PARTNER_NODES keeps taking writes at "
        "most: then it stops postgres (fenced) until it sees the cluster again. 0 turns fencing off.",
        p.parse_fence_timeout,
        "5",
    )
    consistency_mode: Mode = env(
        "CONSISTENCY_MODE",
        "`eventual` (asynchronous), `partial` (every commit is "
        "on at least one first-level standby before it is acknowledged) or `strict` "
        "(every first-level standby has applied it).",
        Mode,
        "eventual",
    )
    preload_libraries: tuple[str, ...] = env(
        "PRELOAD_LIBRARIES",
        "Comma list of libraries added to "
        "shared_preload_libraries besides repmgr (the extended image sets "
        "`pglogical,pg_cron,pgaudit`).",
        p.parse_name_list,
        "",
    )
    conf_dir: str = env(
        "POSTGRES_CONF_DIR",
        "Directory of extra `*.conf` files for postgres, included last "
        "(after CONFIGS). Mount it; a change there is applied by reload, without a restart.",
        p.parse_path,
        "/etc/postdock/conf.d",
    )
    postgres_exporter: bool = env(
        "POSTGRES_EXPORTER_ENABLE",
        "1: also run the community postgres_exporter (Debian's prometheus-postgres-exporter) on "
        "POSTGRES_EXPORTER_PORT, for dashboards that expect its `pg_*` metric names. It connects through the "
        "local socket as postgres (peer authentication: no password anywhere).",
        p.parse_bool,
        "0",
    )
    postgres_exporter_port: int = env(
        "POSTGRES_EXPORTER_PORT", "Port of postgres_exporter's /metrics.", p.parse_port, "9187"
    )
    barman_synchronous: bool = env(
        "BARMAN_SYNCHRONOUS",
        "1: barman's WAL receiver is a synchronous standby of the primary (RPO=0 towards barman): a commit is "
        "acknowledged only once barman has flushed it, so writes wait while barman is away (see Backups). "
        "`eventual` and `partial` modes only.",
        p.parse_bool,
        "0",
    )
    pgdata: str = env("PGDATA", "Data directory (the volume).", p.parse_path, "/var/lib/postgresql/data")
    partner_wait: int = env(
        "PARTNER_WAIT_TIMEOUT",
        "Seconds a node with data waits at start for every partner to report before electing among a majority.",
        p.parse_seconds,
        "30",
    )

    @property
    def node_id(self) -> int:
        assert self.node_id_raw is not None, "loader derives the id"
        return self.node_id_raw

    @property
    def is_cascade(self) -> bool:
        return not self.partner_nodes

    @property
    def uses_lease(self) -> bool:
        """A first-level node of a cluster with partners, LEASE_TIMEOUT > 0: its lease keeper runs,
        and its promotions and primary starts wait for the lease."""
        return self.lease_timeout > 0 and len(self.partner_nodes) > 1

    @property
    def app_db(self) -> str:
        return self.postgres_db or self.postgres_user

    @property
    def control(self) -> ControlKeys:
        return ControlKeys.of(
            self.control_key, self.control_key_accepted, self.replication_password, self.control_accept_legacy
        )


@dataclass(frozen=True)
class SshKey:
    """The user's keys: the login pair (client key of the postgres user, its only authorized key) and
    the host authority that signs every container's host key, `host_ca` beside it. Without one the
    login key signs too, as 0.1 did (a postgres account that reads its own key could then certify any
    host)."""

    private_path: str
    public: str  # one line: "<type> <base64> [comment]"
    host_ca_path: str | None = None
    host_ca_public: str | None = None

    @property
    def signer(self) -> str:
        return self.host_ca_path or self.private_path

    @property
    def authority(self) -> str:
        return self.host_ca_public or self.public


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    postgres: PostgresSettings | None = None
    pgpool: PgpoolSettings | None = None
    barman: BarmanSettings | None = None
    configs: tuple[tuple[str, str], ...] = ()
    ssh_key: SshKey | None = None

    @property
    def role(self) -> Role:
        return self.common.role


SECTIONS: dict[Role, tuple[type, ...]] = {
    Role.POSTGRES: (CommonSettings, PostgresSettings),
    Role.PGPOOL: (CommonSettings, PgpoolSettings),
    Role.BARMAN: (CommonSettings, BarmanSettings),
}
