"""barman.conf, the server section and the passfile of ROLE=barman: pure text from Settings."""

from psycopg.conninfo import make_conninfo

from postdock_supervisor import paths
from postdock_supervisor.config import Settings
from postdock_supervisor.config.barman import RECEIVER_NAME, BarmanSettings
from postdock_supervisor.render.postgres import pgpass_lines


def barman_conf(settings: Settings) -> str:
    bm = settings.barman
    assert bm is not None
    # barman runs as postgres: the account that owns the SSH key recovery uses.
    return f"""; Rendered by postdock at every container start.
[barman]
barman_user = postgres
barman_home = {bm.backup_dir}
configuration_files_directory = {paths.BARMAN_SERVERS}
log_file = {paths.BARMAN_LOG}
log_level = {"DEBUG" if settings.common.log_level == "DEBUG" else "INFO"}
compression = gzip
basebackup_retry_times = 3
basebackup_retry_sleep = 10
"""


CONNINFO_DB = "postgres"  # every cluster has it; barman's checks and backups need no particular one


def conninfo(bm: BarmanSettings, host: str, replication: bool) -> str:
    """No password here: it is in the passfile, so it never shows in `ps` or barman's output."""
    if replication:
        return make_conninfo(host=host, port=bm.port, user=bm.replication_user, connect_timeout=bm.connect_timeout)
    return make_conninfo(
        host=host,
        port=bm.port,
        user=bm.replication_user,
        dbname=CONNINFO_DB,
        connect_timeout=bm.connect_timeout,
        application_name="barman",
    )


def server_conf(bm: BarmanSettings, host: str) -> str:
    """The server section, pointing at `host` (the primary the keeper found)."""
    return f"""; Rendered by postdock's backup keeper: the cluster's current primary is {host}.
[{bm.server}]
description = "postdock cluster, primary {host}"
conninfo = {conninfo(bm, host, replication=False)}
streaming_conninfo = {conninfo(bm, host, replication=True)}
backup_method = postgres
streaming_archiver = on
streaming_archiver_name = {RECEIVER_NAME}
archiver = off
slot_name = {bm.slot_name}
create_slot = auto
path_prefix = {paths.PG_BIN}
backup_directory = {bm.backup_dir}/{bm.server}
retention_policy = RECOVERY WINDOW OF {bm.retention_days} DAYS
retention_policy_mode = auto
wal_retention_policy = main
minimum_redundancy = 0
; a base backup starts at once instead of waiting for a spread checkpoint
immediate_checkpoint = true
; where `barman recover` combines an incremental backup with its chain (pg_combinebackup)
local_staging_path = {bm.backup_dir}/staging
{_offsite_hook(bm)}"""


def _offsite_hook(bm: BarmanSettings) -> str:
    """CLOUD_BACKUP_URL: every WAL segment also goes to the object store before barman archives it."""
    if not bm.cloud_url:
        return ""
    return f"; the off-site copy of each WAL segment (barman-cloud-wal-archive, bounded by postdock)\n" \
           f"pre_archive_retry_script = {paths.POSTDOCK_CLI} backup offsite-wal\n"  # fmt: skip


def aws_credentials(bm: BarmanSettings) -> str:
    """boto3's shared credentials file (AWS_SHARED_CREDENTIALS_FILE): the secret never in an environment."""
    key_id, secret = bm.cloud_key_id.reveal(), bm.cloud_secret.reveal()
    return f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"


def barman_pgpass(settings: Settings) -> str:
    bm = settings.barman
    assert bm is not None
    return pgpass_lines({bm.replication_user: bm.replication_password.reveal()})
