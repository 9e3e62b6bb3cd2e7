"""Stand-ins for postgres and bootstrap under the test supervisord (argv: RUN_DIR ROLE).

postgres: runs until told otherwise; exits with 1 after a moment when RUN_DIR/crash exists (a crash);
  on SIGHUP appends a line to RUN_DIR/reloads.
bootstrap: counts its runs in RUN_DIR/bootstrap-runs, says phase done, starts postgres again."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

run_dir = Path(sys.argv[1])
role = sys.argv[2]

if role == "postgres":
    signal.signal(signal.SIGHUP, lambda *_: (run_dir / "reloads").open("a").write("reload\n"))
    began = time.monotonic()
    while True:
        if (run_dir / "crash").exists() and time.monotonic() - began > 1.5:
            sys.exit(1)
        time.sleep(0.1)
elif role == "bootstrap":
    runs = run_dir / "bootstrap-runs"
    runs.write_text(str(int(runs.read_text() or "0") + 1) if runs.exists() else "1")
    (run_dir / "bootstrap.json").write_text(json.dumps({"phase": "done", "reason": "stand-in"}))
    ctl = [sys.executable, "-m", "supervisor.supervisorctl", "-s", f"unix://{run_dir}/supervisor.sock"]
    subprocess.run([*ctl, "start", "postgres"], check=False, capture_output=True)
