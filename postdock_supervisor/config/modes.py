"""Words every layer shares: the consistency modes and barman's receiver name (a leaf: stdlib only)."""

import enum


class Mode(enum.Enum):
    EVENTUAL = "eventual"  # asynchronous
    PARTIAL = "partial"  # at least one first-level standby has every acknowledged commit
    STRICT = "strict"  # every first-level standby has applied every acknowledged commit


# The application name of barman's WAL receiver (BARMAN_SYNCHRONOUS=1 makes it synchronous).
BARMAN_RECEIVER = "barman_receive_wal"
