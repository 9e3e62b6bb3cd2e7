"""`postdock switchover`: a planned change of primary through the agents' signed control channel.

Steps: hold repmgrd on every standby (no election while the primary is down on purpose), stop the
primary cleanly (its standbys receive every WAL record first), promote the target once it has the
old primary's last record, then the old primary and the other standbys follow the target. A step
that fails before the promotion puts everything back as it was; no acknowledged commit is lost in
either case, because nothing is promoted that lacks the old primary's last record."""

import secrets
import time
from collections.abc import Callable
from typing import Any

from postdock_supervisor import control
from postdock_supervisor.config.control import ControlKeys
from postdock_supervisor.decide.switchover import decide_switchover
from postdock_supervisor.observe.peers import fetch_reports

MAX_LAG = 16 * 1024 * 1024
STEP_TIMEOUT_S = 180.0


def delegate(hosts: tuple[str, ...], key: ControlKeys, port: int, target: str | None, out: Callable[[str], None],
             timeout: float = 300) -> int:  # fmt: skip
    """From a container without the partners' list (pgpool, barman): the first node that answers runs it."""
    for host in hosts:
        try:
            answer = control.call(host, port, key, "switchover", {"target": target, "timeout": timeout},
                                  timeout=timeout + 3 * STEP_TIMEOUT_S)  # fmt: skip
        except control.ControlError as exc:
            out(f"({exc}; asking the next node)")
            continue
        for line in answer.get("output", []):
            out(str(line))
        return int(answer.get("code", 1))
    out("switchover refused: no node carried it out (see above)")
    return 1


def run(
    partners: tuple[str, ...],
    keys: ControlKeys,
    port: int,
    target: str | None,
    out: Callable[[str], None],
    timeout: float = 300,
    stop_primary: Callable[[str], dict[str, Any]] | None = None,
) -> int:
    """stop_primary: the primary's own clean stop, when this runs on the primary as it shuts down (a
    hand-over): it is then not asked to follow, and nobody is waited for."""

    switchover_id = secrets.token_hex(8)  # the nodes it holds answer only its own steps

    def step(host: str, action: str, **args: Any) -> dict[str, Any]:
        if action == "stop" and stop_primary is not None:
            return stop_primary(str(args.get("target", "")))
        return control.call(host, port, keys, action, {**args, "id": switchover_id}, timeout=STEP_TIMEOUT_S)

    def release(hosts: list[str], why: str) -> None:
        for host in hosts:
            try:
                step(host, "rejoin", target=why)
            except control.ControlError as exc:
                out(f"  {host}: could not be released ({exc}); its hold expires by itself")

    plan = decide_switchover(fetch_reports(partners, port, keys=keys.accepted), partners, target, MAX_LAG)
    if not plan.ok:
        out(f"switchover refused: {plan.reason}")
        return 1
    out(plan.reason)
    held: list[str] = []
    try:
        for host in (plan.target, *plan.others):
            step(host, "hold", target=plan.target)
            held.append(host)
            out(f"  {host}: repmgrd held")
        stopped = step(plan.primary, "stop", target=plan.target)
        out(f"  {plan.primary}: stopped cleanly at {stopped['lsn']}")
    except control.ControlError as exc:
        out(f"switchover failed before the primary stopped: {exc}")
        release(held, plan.primary)
        return 1
    try:
        step(plan.target, "promote", lsn=stopped["lsn"])
        out(f"  {plan.target}: promoted")
    except control.ControlError as exc:
        out(f"switchover failed: {exc}; {plan.primary} takes its place back")
        release([plan.primary, *held], plan.primary)
        return 1
    followers = [*([] if stop_primary is not None else [plan.primary]), *plan.others]
    for host in followers:
        try:
            step(host, "rejoin", target=plan.target)
            out(f"  {host}: following {plan.target}")
        except control.ControlError as exc:
            out(f"  {host}: {exc}; its hold expires and it follows by itself")
    if stop_primary is not None:
        out(f"hand-over done: {plan.target} is the primary")
        return 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reports = fetch_reports(followers, port, keys=keys.accepted)
        lagging = [
            h
            for h, r in reports.items()
            if r is None or r.phase != "done" or r.postgres.upstream != plan.target or not r.postgres.streaming
        ]
        if not lagging:
            out(f"switchover done: {plan.target} is the primary, {', '.join(followers)} stream from it")
            return 0
        time.sleep(1)
    out(f"{plan.target} is the primary; still not streaming from it after {timeout:.0f}s: {', '.join(lagging)}")
    return 1
