"""Settings of ROLE=barman: PostDock's barman variables, with a list of nodes instead of one host."""

from collections.abc import Mapping
from dataclasses import dataclass

from postdock_supervisor.config import parse as p
from postdock_supervisor.config.control import ControlKeys, control_key_accepted_field, control_key_field
from postdock_supervisor.config.fields import Secret, env, parse_secret
from postdock_supervisor.config.modes import BARMAN_RECEIVER

# The application name barman's pg_receivewal connects with; a primary in RPO=0 mode lists it
# in synchronous_standby_names (BARMAN_SYNCHRONOUS on the postgres nodes).
RECEIVER_NAME = BARMAN_RECEIVER


@dataclass(frozen=True)
class BarmanSettings:
    hosts: tuple[str, ...] = env(
        "REPLICATION_HOST",
        "Comma list of the postgres nodes barman may back up from (PostDock took one host). "
        "Barman streams from and backs up whichever of them is the writable primary, and follows a failover.",
        p.parse_host_list_nonempty,
    )
    port: int = env("REPLICATION_PORT", "PostgreSQL port of those nodes.", p.parse_port, "5432")
    replication_user: str = env(
        "REPLICATION_USER",
        "User of barman's connections: its WAL stream (`streaming_conninfo`), its base backups and checks "
        "(`conninfo`, database `postgres`) and the node probes; also creates and drops barman's slot. "
        "(PostDock and postdock 0.1 took POSTGRES_USER for `conninfo`, a superuser: the application user "
        "is no superuser any more, and barman no longer reads POSTGRES_USER, POSTGRES_PASSWORD or POSTGRES_DB.)",
        p.parse_identifier,
        "replication_user",
    )
    replication_password: Secret = env(
        "REPLICATION_PASSWORD", "Password of REPLICATION_USER.", parse_secret, secret=True
    )
    control_key: Secret = control_key_field()
    control_key_accepted: Secret = control_key_accepted_field()
    connect_timeout: int = env(
        "POSTGRES_CONNECTION_TIMEOUT", "connect_timeout (s) of barman's connections.", p.parse_seconds, "10"
    )
    slot_name: str = env(
        "REPLICATION_SLOT_NAME",
        "Physical slot barman streams through; created on whichever node is primary. "
        "The primary's max_slot_wal_keep_size bounds what it may hold back.",
        p.parse_identifier,
        "barman_the_backupper",
    )
    server: str = env(
        "UPSTREAM_NAME",
        "Barman's name for the cluster (the server section, the `server` label of the metrics).",
        p.parse_identifier,
        "pg_cluster",
    )
    schedule: str = env(
        "BACKUP_SCHEDULE",
        "When base backups start, a five-field cron expression in the container's time zone (UTC unless TZ "
        "says otherwise). A first backup is also taken as soon as none exists, and one after every failover.",
        p.parse_cron,
        "0 0 * * *",
    )
    incremental_schedule: str = env(
        "INCREMENTAL_SCHEDULE",
        "When block-level incremental backups start (PostgreSQL 17 WAL summaries), a cron expression like "
        "BACKUP_SCHEDULE; empty: none. Each one copies only the blocks changed since the newest backup; "
        "a chain always starts at a full backup of the current timeline (otherwise a full one is taken).",
        p.parse_optional_cron,
        "",
    )
    retention_days: int = env(
        "BACKUP_RETENTION_DAYS",
        "Backups and WAL kept: `RECOVERY WINDOW OF N DAYS` (the newest backup is always kept).",
        p.parse_days,
        "30",
    )
    drills: bool = env(
        "RESTORE_DRILLS",
        "1: prove the backups by restoring them (the drill_keeper program): the newest backup is restored "
        "with its WAL into BACKUP_DIR/drill, started as a throwaway postgres on a socket, read table by table, "
        "and removed, after every new backup, after every change of primary and on DRILL_SCHEDULE. "
        "Needs free space for one more copy of the newest backup. 0: no drills.",
        p.parse_bool,
        "1",
    )
    drill_schedule: str = env(
        "DRILL_SCHEDULE",
        "When a restore drill also runs although nothing changed, a cron expression like BACKUP_SCHEDULE; "
        "empty: only after new backups and changes of primary.",
        p.parse_optional_cron,
        "0 12 * * *",
    )
    backup_dir: str = env(
        "BACKUP_DIR", "Where barman keeps backups and WAL (mount a volume here).", p.parse_path, "/var/backups"
    )
    cloud_url: str = env(
        "CLOUD_BACKUP_URL",
        "Off-site copy: every full base backup and every WAL segment barman archives also goes to this "
        "S3-compatible bucket and folder, `s3://BUCKET/FOLDER`, with barman-cloud (BACKUP_RETENTION_DAYS "
        "applies there too). Empty: no off-site copy.",
        p.parse_optional_s3_url,
        "",
    )
    cloud_endpoint: str = env(
        "CLOUD_ENDPOINT_URL",
        "The object store's endpoint for an S3-compatible service other than AWS (`https://s3.example.net`); "
        "empty: AWS S3.",
        p.parse_optional_http_url,
        "",
    )
    cloud_key_id: Secret = env(
        "AWS_ACCESS_KEY_ID",
        "Access key of the off-site bucket (or AWS_ACCESS_KEY_ID_FILE), with AWS_SECRET_ACCESS_KEY; both empty: "
        "boto3's own chain (an instance or pod role).",
        parse_secret,
        "",
        secret=True,
    )
    cloud_secret: Secret = env(
        "AWS_SECRET_ACCESS_KEY",
        "Secret of AWS_ACCESS_KEY_ID (or AWS_SECRET_ACCESS_KEY_FILE); kept in a file only barman's account "
        "reads, never in the programs' environment.",
        parse_secret,
        "",
        secret=True,
    )

    @property
    def control(self) -> ControlKeys:
        return ControlKeys.of(self.control_key, self.control_key_accepted, self.replication_password)


def wal_hook_segment(env: Mapping[str, str]) -> str:
    """The WAL segment barman calls its archive hook for (BARMAN_SEGMENT, else BARMAN_FILE's name)."""
    return env.get("BARMAN_SEGMENT") or env.get("BARMAN_FILE", "").rsplit("/", 1)[-1] or "?"
