"""Ask partners' status agents what they are; an unreachable partner is None."""

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from postdock_supervisor.config import PostgresSettings
from postdock_supervisor.model.node import NodeReport
from postdock_supervisor.observe.fence import answers
from postdock_supervisor.observe.local import repmgr_hosts

logger = logging.getLogger(__name__)


def fetch_report(host: str, port: int, timeout: float = 2.0) -> NodeReport | None:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/status", timeout=timeout) as response:
            return NodeReport.from_json(json.loads(response.read().decode("utf-8")))
    except (OSError, ValueError, TypeError, urllib.error.URLError) as exc:
        logger.debug("no report from %s: %s", host, exc)
        return None


def fetch_reports(hosts: Iterable[str], port: int, timeout: float = 2.0) -> dict[str, NodeReport | None]:
    hosts = list(dict.fromkeys(hosts))
    if not hosts:
        return {}
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        results = pool.map(lambda host: fetch_report(host, port, timeout), hosts)
        return dict(zip(hosts, results, strict=True))


PROBE_S = 0.3  # a node on the same network answers a TCP connect in milliseconds


def unreachable_nodes(pg: PostgresSettings) -> list[str]:
    """Registered nodes (partners and repmgr's records) whose postgres port takes no TCP connection
    within PROBE_S now, probed in parallel: cut off, or down."""
    hosts = sorted({*pg.partner_nodes, *repmgr_hosts(pg)} - {pg.network_name})
    if not hosts:
        return []
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        reached = list(pool.map(lambda host: answers(host, (pg.port,), PROBE_S), hosts))
    return [host for host, ok in zip(hosts, reached, strict=True) if not ok]
