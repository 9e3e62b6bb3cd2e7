"""Fixed locations inside the image. Rendered files live outside the data volume."""

from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
ETC = Path("/etc/postdock")
SECRETS = ETC / "secrets"
RUN = Path("/run/postdock")
SUPERVISOR_CONF = Path("/etc/supervisor/supervisord.conf")
SUPERVISOR_SOCKET = RUN / "supervisor.sock"
POSTGRESQL_CONF = ETC / "postgresql.conf"
PG_HBA = ETC / "pg_hba.conf"
PG_IDENT = ETC / "pg_ident.conf"
REPMGR_CONF = ETC / "repmgr.conf"
PGPASS = Path("/var/lib/postgresql/.pgpass")
PG_SOCKET_DIR = Path("/var/run/postgresql")
BOOTSTRAP_STATE = RUN / "bootstrap.json"
SUPERVISORCTL = "/usr/bin/supervisorctl"
SSHD_CONF = ETC / "sshd_config"
SSH_CLIENT_CONF = Path("/etc/ssh/ssh_config.d/postdock.conf")
SSH_KNOWN_HOSTS = ETC / "ssh_known_hosts"
SSH_AUTHORIZED_DIR = ETC / "ssh-authorized"
POSTGRES_SSH_DIR = Path("/var/lib/postgresql/.ssh")
