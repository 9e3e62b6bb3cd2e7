"""The control channel's keys: CONTROL_KEY, a secret of its own, and CONTROL_KEY_ACCEPTED for a rotation.

Every role that signs or verifies control requests and status answers declares both fields; without
CONTROL_KEY the role's REPLICATION_PASSWORD keys the channel, as before (so a container that must sign a
control request had to hold the replication password, and with it a database login)."""

from dataclasses import dataclass
from typing import Any

from postdock_supervisor.config import parse as p
from postdock_supervisor.config.fields import Secret, env, parse_secret

MIN_KEY_LENGTH = 16


def parse_control_key(raw: str) -> Secret:
    text = p.parse_secret_text(raw)
    if text and len(text) < MIN_KEY_LENGTH:
        raise ValueError(f"at least {MIN_KEY_LENGTH} characters (for example `openssl rand -hex 32`), or empty")
    return Secret(text)


def control_key_field() -> Any:
    return env(
        "CONTROL_KEY",
        "The cluster's key for the control channel (the agents' signed requests and status answers), the same "
        f"on every node, pgpool and barman; at least {MIN_KEY_LENGTH} characters (`openssl rand -hex 32`). Empty: "
        "REPLICATION_PASSWORD keys it, as before this release (pgpool and barman then hold the replication "
        "password only to sign). Changing it on a running cluster: see CONTROL_KEY_ACCEPTED.",
        parse_control_key,
        "",
        secret=True,
    )


def control_key_accepted_field() -> Any:
    return env(
        "CONTROL_KEY_ACCEPTED",
        "Another key whose signatures are also accepted, for a rotation without a failed request: first every "
        "container gets the new key here, then (one by one) the new key as CONTROL_KEY and the old one here "
        "(REPLICATION_PASSWORD if it had none), then this is emptied. Empty: only CONTROL_KEY's signatures.",
        parse_secret,  # it may be the replication password, of any length
        "",
        secret=True,
    )


@dataclass(frozen=True)
class ControlKeys:
    """`sign` signs what this container sends; a signature under any of `accepted` is taken.
    accept_unsigned: an agent's answer without a signature is taken too (agents of 0.1.0 sign none:
    CONTROL_ACCEPT_LEGACY during a rolling upgrade only)."""

    sign: str
    accepted: tuple[str, ...]
    accept_unsigned: bool = False

    @classmethod
    def of(cls, key: Secret, accepted: Secret, fallback: Secret, accept_unsigned: bool = False) -> "ControlKeys":
        sign = key.reveal() or fallback.reveal()
        also = accepted.reveal()
        return cls(sign, (sign, also) if also and also != sign else (sign,), accept_unsigned)
