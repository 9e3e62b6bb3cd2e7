"""Fixed locations inside the image. Rendered files live outside the data volume."""

from pathlib import Path

PG_MAJOR = 17  # the PostgreSQL major version this image runs (PG_VERSION of a data directory)
# The CLI: repmgr.conf names it for its validation and promote commands, role_check reruns them.
POSTDOCK_CLI = Path("/usr/local/bin/postdock")
PG_BIN = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
ETC = Path("/etc/postdock")
SECRETS = ETC / "secrets"
RUN = Path("/run/postdock")  # owned by postgres: its programs' state
# Root's own files (supervisord's pid file and socket, sshd's pid file): a directory postgres may read
# but not write, so no planted symlink can make root overwrite a file.
ROOT_RUN = Path("/run/postdock-root")
SUPERVISOR_CONF = Path("/etc/supervisor/supervisord.conf")
SUPERVISOR_SOCKET = ROOT_RUN / "supervisor.sock"
POSTGRESQL_CONF = ETC / "postgresql.conf"
PG_HBA = ETC / "pg_hba.conf"
PG_IDENT = ETC / "pg_ident.conf"
REPMGR_CONF = ETC / "repmgr.conf"
PGPASS = Path("/var/lib/postgresql/.pgpass")
PG_SOCKET_DIR = Path("/var/run/postgresql")
BOOTSTRAP_STATE = RUN / "bootstrap.json"
PROMOTE_ALIASES = RUN / "promote-hostaliases"  # nodes repmgr's promotion need not wait for
# role_check found this standby stuck behind its upstream's timeline: the next start re-clones it
# (kept outside the data directory, so a clone taken from this node never carries it)
STANDBY_DIVERGED = RUN / "standby-diverged"
LEASE_STATE = RUN / "lease.json"  # the lease keeper's last round, for status and metrics
SUPERVISORCTL = "/usr/bin/supervisorctl"
# TLS=1: the certificate this node issued itself at start, its key and the cluster CA's certificate
# (copied from the mount, which may be readable by root alone)
NODE_TLS = ETC / "tls-node"
TLS_CERT = NODE_TLS / "server.crt"
TLS_KEY = NODE_TLS / "server.key"
TLS_CA = NODE_TLS / "ca.crt"
# A certificate and key the user issued for this node, mounted in TLS_DIR beside ca.crt (the names of a
# Kubernetes TLS Secret, as cert-manager writes it): served as they are, so no CA key is needed here.
GIVEN_CERT_NAME = "tls.crt"
GIVEN_KEY_NAME = "tls.key"
SSHD_CONF = ETC / "sshd_config"
SSH_CLIENT_CONF = Path("/etc/ssh/ssh_config.d/postdock.conf")
SSH_KNOWN_HOSTS = ETC / "ssh_known_hosts"
SSH_AUTHORIZED_DIR = ETC / "ssh-authorized"
POSTGRES_SSH_DIR = Path("/var/lib/postgresql/.ssh")
PGPOOL_PORT = 5432  # where pgpool takes SQL sessions
PCP_PORT = 9898  # pgpool's control port
PGPOOL_CONF = RUN / "pgpool.conf"  # the pool keeper (postgres) rewrites it
POOL_HBA = ETC / "pool_hba.conf"
PCP_CONF = ETC / "pcp.conf"
# pg_enc 4.3 writes pool_passwd next to the pgpool.conf it is given, whatever the file names.
POOL_PASSWD = RUN / "pool_passwd"
PGPOOL_KEY = Path("/var/lib/postgresql/.pgpoolkey")
PCPPASS = Path("/var/lib/postgresql/.pcppass")
POOL_KEEPER_STATE = RUN / "pool-keeper.json"
AWS_CREDENTIALS = SECRETS / "aws-credentials"  # CLOUD_BACKUP_URL with an access key: boto3 reads it
BARMAN_CONF = Path("/etc/barman.conf")  # where every barman command looks, so `barman ...` works by hand too
BARMAN_SERVERS = RUN / "barman.d"  # the backup keeper (postgres) re-points the server at a new primary
BARMAN_LOG = Path("/var/log/barman/barman.log")
BACKUP_KEEPER_STATE = RUN / "backup-keeper.json"
# The container's environment minus secrets (they are *_FILE paths), for commands run over SSH,
# whose sessions do not inherit it.
SAVED_ENV = ETC / "environment.json"
