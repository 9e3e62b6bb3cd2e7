"""postdock-supervisor: a PostgreSQL HA cluster from one container image."""

__version__ = "0.1.0"
