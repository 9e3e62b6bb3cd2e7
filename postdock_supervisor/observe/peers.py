"""Ask partners' status agents what they are; an unreachable partner is None."""

import json
import logging
import secrets
import socket
import ssl
import struct
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from postdock_supervisor import control, wire
from postdock_supervisor.config import PostgresSettings
from postdock_supervisor.model.node import NodeReport
from postdock_supervisor.observe.local import repmgr_hosts

logger = logging.getLogger(__name__)


def fetch_report(
    host: str, port: int, timeout: float = 2.0, keys: tuple[str, ...] | None = None, accept_unsigned: bool = False
) -> NodeReport | None:
    """The partner's report, or None when it does not answer in time or answers something that is
    not a well-formed report (then it counts as unreachable, and the refusal is logged). With keys
    (the cluster's accepted control keys), the answer must be signed for this request's nonce and describe host:
    decisions act on nothing else. accept_unsigned: also take an answer without a signature (an agent
    of 0.1.0 during a rolling upgrade, CONTROL_ACCEPT_LEGACY)."""
    nonce = secrets.token_hex(16)
    try:
        status, body, headers = wire.exchange(host, port, "GET", f"/status?nonce={nonce}", timeout=timeout)
    except OSError as exc:
        logger.debug("no report from %s: %s", host, exc)
        return None
    try:
        if status != 200:
            raise ValueError(f"HTTP status {status}")
        report = NodeReport.from_json(json.loads(body.decode("utf-8")))
        signature = headers.get(control.HEADER.lower(), "")
        if keys is None or (accept_unsigned and not signature):
            return report
        if not control.signed_by_one_of(keys, signature, lambda key: control.sign_status(key, nonce, body)):
            raise ValueError("not signed with the cluster's key for this request")
        if not control.names_match(host, [report.host]):
            raise ValueError(f"it describes {report.host!r}")
        return report
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        logger.warning("refused the report of %s: %s", host, exc)
        return None


def fetch_reports(
    hosts: Iterable[str], port: int, timeout: float = 2.0, keys: tuple[str, ...] | None = None,
    accept_unsigned: bool = False,
) -> dict[str, NodeReport | None]:  # fmt: skip
    hosts = list(dict.fromkeys(hosts))
    if not hosts:
        return {}
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        results = pool.map(lambda host: fetch_report(host, port, timeout, keys, accept_unsigned), hosts)
        return dict(zip(hosts, results, strict=True))


def verified_reports(
    pg: PostgresSettings, hosts: Iterable[str], port: int, timeout: float = 2.0
) -> dict[str, NodeReport | None]:
    """Reports a decision may act on: signed by agents that hold this cluster's key."""
    return fetch_reports(hosts, port, timeout, pg.control.accepted, pg.control_accept_legacy)


PROBE_S = 0.3  # a postgres on the same network answers in milliseconds
SSL_REQUEST = struct.pack("!ii", 8, 80877103)  # the protocol's SSLRequest: any postgres answers one byte


def postgres_answers(host: str, port: int, timeout: float = PROBE_S) -> bool:
    """Whether a postgres process answers there now. A TCP connect alone is not enough: the kernel of a
    frozen container (a stalled VM, `docker pause`) still completes the handshake."""
    return postgres_state(host, port, timeout) == "answers"


def postgres_state(host: str, port: int, timeout: float = PROBE_S) -> str:
    """'answers'; 'silent' when the connection is taken but nothing answers (a frozen node: its kernel
    completes the handshake); 'unreachable' when no connection is made."""
    try:
        conn = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return "unreachable"
    with conn:
        try:
            conn.settimeout(timeout)
            conn.sendall(SSL_REQUEST)
            answer = conn.recv(1)
        except OSError:
            return "silent"
        if answer == b"S":
            _part_politely(conn)
        return "answers" if answer in (b"S", b"N") else "silent"


def _part_politely(conn: socket.socket) -> None:
    """A server with TLS (TLS=1) said yes: complete the handshake and close it cleanly. Dropping the
    connection instead makes postgres log 'could not accept SSL connection' at every probe; after a
    clean close it logs nothing. Nothing is sent or trusted over this channel."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with context.wrap_socket(conn) as secured:
            secured.unwrap()
    except (OSError, ValueError):
        pass  # it answered: alive, however the goodbye went


def unreachable_nodes(pg: PostgresSettings) -> list[str]:
    """Registered nodes (partners and repmgr's records) whose postgres does not answer within PROBE_S
    now, probed in parallel: cut off, frozen or down."""
    hosts = sorted({*pg.partner_nodes, *repmgr_hosts(pg)} - {pg.network_name})
    if not hosts:
        return []
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        reached = list(pool.map(lambda host: postgres_answers(host, pg.port), hosts))
    return [host for host, ok in zip(hosts, reached, strict=True) if not ok]
