"""Run one of the product's listeners or watchers under a test supervisord, with the fixed paths
of the image moved into a temporary directory (argv: RUN_DIR PROGRAM [ARG])."""

import logging
import sys
from pathlib import Path

from postdock_supervisor import paths

run_dir = Path(sys.argv[1])
# Before anything else is imported: some modules take these as default arguments.
paths.RUN = run_dir
paths.BOOTSTRAP_STATE = run_dir / "bootstrap.json"
paths.SUPERVISOR_SOCKET = run_dir / "supervisor.sock"

from postdock_supervisor.act.supervisor import Supervisor  # noqa: E402
from postdock_supervisor.decide.crash import CrashPolicy  # noqa: E402
from postdock_supervisor.programs import conf_reload, conf_watch, crash_guard  # noqa: E402
from postdock_supervisor.programs.runner import run_events  # noqa: E402

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
supervisor = Supervisor(str(paths.SUPERVISOR_SOCKET))
program = sys.argv[2]
if program == "crash_guard":
    # The real policy's shape with short waits: two re-runs within the window, then give up.
    policy = CrashPolicy(window_s=120.0, max_restarts=2, backoff_s=(0.0, 1.0))
    run_events(crash_guard.CrashGuard(supervisor, policy, pgdata=str(run_dir / "pgdata")).handle)
elif program == "conf_reload":
    run_events(conf_reload.handler(supervisor))
elif program == "conf_watch":
    conf_watch.watch(sys.argv[3])
elif program == "stop_probe":
    # What the handover program sees when SIGTERM comes: a stop by hand, or supervisord's shutdown.
    import signal

    from postdock_supervisor.observe.supervisor import proxy, shutting_down

    def on_term(signum: int, frame: object) -> None:
        with (run_dir / "stops").open("a") as out:
            out.write(f"{shutting_down(proxy(str(paths.SUPERVISOR_SOCKET)))}\n")
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    while True:
        signal.pause()
