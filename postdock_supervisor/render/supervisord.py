"""supervisord.conf from the role's program table."""

from collections.abc import Iterable, Mapping

from postdock_supervisor import paths
from postdock_supervisor.roles import ProgramSpec

_HEADER = f"""; Rendered by postdock at every container start; edits are lost.
[unix_http_server]
file={paths.SUPERVISOR_SOCKET}
chmod=0770
chown=root:postgres

[supervisord]
nodaemon=true
user=root
logfile=/dev/null
logfile_maxbytes=0
pidfile={paths.ROOT_RUN}/supervisord.pid
childlogdir=/tmp

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{paths.SUPERVISOR_SOCKET}
"""


def _environment(spec: ProgramSpec) -> str:
    # supervisord's user= does not reset HOME; libpq and repmgr look for the passfile there.
    if spec.user != "postgres":
        return ""
    return f'environment=HOME="/var/lib/postgresql",PGPASSFILE="{paths.PGPASS}"\n'


def _program(spec: ProgramSpec, context: Mapping[str, str]) -> str:
    if spec.events:
        return _listener(spec)
    return f"""
[program:{spec.name}]
command={spec.command.format(**context)}
user={spec.user}
priority={spec.priority}
autostart={str(spec.autostart).lower()}
autorestart={spec.autorestart}
startsecs={spec.startsecs}
startretries={spec.startretries}
stopsignal={spec.stopsignal}
stopwaitsecs={spec.stopwaitsecs}
stopasgroup={str(spec.stopasgroup).lower()}
killasgroup=true
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
redirect_stderr=true
{"stdout_capture_maxbytes=64KB" + chr(10) if spec.capture else ""}{_environment(spec)}"""


def _listener(spec: ProgramSpec) -> str:
    # stdout is the protocol: never logged, never merged with stderr.
    return f"""
[eventlistener:{spec.name}]
command={spec.command}
user={spec.user}
priority={spec.priority}
events={",".join(spec.events)}
autorestart={spec.autorestart}
buffer_size=50
stdout_logfile=NONE
stderr_logfile=/dev/stderr
stderr_logfile_maxbytes=0
{_environment(spec)}"""


def supervisord_conf(programs: Iterable[ProgramSpec], context: Mapping[str, str]) -> str:
    """context fills the {placeholders} of program commands (pgdata, ...)."""
    return _HEADER + "".join(_program(spec, context) for spec in programs)
