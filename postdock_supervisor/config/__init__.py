"""The only package that reads the environment."""

import os
import socket

from postdock_supervisor.config.loader import describe, load_settings, secret_names
from postdock_supervisor.config.model import Backend, PgpoolSettings, PostgresSettings, Role, Secret, Settings

__all__ = [
    "Backend",
    "PgpoolSettings",
    "PostgresSettings",
    "Role",
    "Secret",
    "Settings",
    "describe",
    "from_process",
    "load_settings",
    "process_env",
    "secret_names",
]


def process_env() -> dict[str, str]:
    return dict(os.environ)


def from_process(read_ssh_key: bool = False) -> Settings:
    """Settings of this container, from the process environment."""
    return load_settings(process_env(), socket.gethostname(), read_ssh_key)
