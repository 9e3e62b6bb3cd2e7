"""The only module that opens database connections."""

from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from postdock_supervisor import paths


def connect(
    host: str = "",
    port: int = 5432,
    user: str = "postgres",
    dbname: str = "postgres",
    password: str | None = None,
    timeout: int = 2,
    autocommit: bool = True,
    options: str | None = None,
) -> psycopg.Connection[Any]:
    """host '' means the local unix socket (peer authentication as the OS user)."""
    conninfo = make_conninfo(
        host=host or str(paths.PG_SOCKET_DIR),
        port=port,
        user=user,
        dbname=dbname,
        connect_timeout=max(2, timeout),
        application_name="postdock",
        options=options,
        passfile=str(paths.PGPASS),
    )
    kwargs: dict[str, Any] = {"autocommit": autocommit}
    if password is not None:
        kwargs["password"] = password
    return psycopg.connect(conninfo, **kwargs)
