"""Snapshots: frozen dataclasses that probes fill and decisions read. No I/O is imported here."""
