"""The middle layer: the product's listeners under a real supervisord (the supervisor package the
image runs), against stand-in programs, so the event protocol, back-off, give-up and dispatch are
proven in seconds without Docker."""

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PY = sys.executable


def program(name: str, command: str, **options: str) -> str:
    lines = [
        f"[program:{name}]",
        f"command={command}",
        "autorestart=false",
        "stderr_logfile=%(here)s/%(program_name)s.err",
    ]
    return "\n".join([*lines, *(f"{k}={v}" for k, v in options.items())])


def listener(name: str, events: str) -> str:
    return "\n".join(
        [
            f"[eventlistener:{name}]",
            f"command={PY} {HERE / 'launch.py'} %(here)s {name}",
            f"events={events}",
            "autorestart=true",
            "stderr_logfile=%(here)s/%(program_name)s.err",
        ]
    )


class Supervised:
    def __init__(self, run_dir: Path, sections: list[str]) -> None:
        self.run_dir = run_dir
        conf = run_dir / "supervisord.conf"
        conf.write_text(
            "\n\n".join(
                [
                    f"[supervisord]\nnodaemon=true\nlogfile={run_dir}/supervisord.log\npidfile={run_dir}/supervisord.pid",
                    f"[unix_http_server]\nfile={run_dir}/supervisor.sock",
                    "[rpcinterface:supervisor]\n"
                    "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
                    f"[supervisorctl]\nserverurl=unix://{run_dir}/supervisor.sock",
                    *sections,
                ]
            )
            + "\n"
        )
        self.process = subprocess.Popen(
            [PY, "-m", "supervisor.supervisord", "-c", str(conf)], cwd=ROOT, stdout=subprocess.DEVNULL
        )

    def file(self, name: str) -> str:
        path = self.run_dir / name
        return path.read_text() if path.exists() else ""

    def wait_for(self, what: str, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(self.run_dir.glob("*.err")))
        raise AssertionError(f"{what}: not within {timeout}s\n{logs}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


class Harness:
    """A short temporary directory (a unix socket's name is limited to about 100 bytes) and the
    supervisord started in it."""

    def __init__(self) -> None:
        self.run_dir = Path(tempfile.mkdtemp(prefix="pd-sv-"))
        self.started: list[Supervised] = []

    def start(self, sections: list[str]) -> Supervised:
        self.started.append(Supervised(self.run_dir, sections))
        return self.started[-1]


@pytest.fixture
def harness() -> Iterator[Harness]:
    made = Harness()
    yield made
    for sv in made.started:
        sv.stop()
    shutil.rmtree(made.run_dir, ignore_errors=True)


def standin(role: str) -> str:
    return f"{PY} {HERE / 'standin.py'} %(here)s {role}"


def test_crash_guard_reruns_bootstrap_after_each_crash_then_gives_up(harness: Harness) -> None:
    run_dir = harness.run_dir
    (run_dir / "bootstrap.json").write_text(json.dumps({"phase": "done", "reason": "started"}))
    (run_dir / "crash").touch()
    sv = harness.start(
        [
            program("postgres", standin("postgres"), startsecs="1"),
            program("bootstrap", standin("bootstrap"), autostart="false", startsecs="0"),
            listener("crash_guard", "PROCESS_STATE_EXITED,PROCESS_STATE_FATAL,TICK_5"),
        ]
    )
    sv.wait_for("the guard gives up", lambda: json.loads(sv.file("bootstrap.json") or "{}").get("phase") == "gave-up")
    # Two crashes re-ran bootstrap (each started postgres again); the third ended in give-up.
    assert sv.file("bootstrap-runs") == "2"
    healing = json.loads(sv.file("healing-crash_guard.json"))
    assert healing["counts"] == {"rerun-bootstrap": 2, "give-up": 1}
    assert healing["last"]["reason"].startswith("postgres or repmgrd exited 3 times within 120s")
    # Every event was acknowledged: supervisord never saw the listener fail or restart.
    log = sv.file("supervisord.log")
    assert "crash_guard" in log and "exited: crash_guard" not in log


def test_a_changed_configuration_file_reloads_postgres_through_capture_mode(harness: Harness) -> None:
    watched = harness.run_dir / "conf.d"
    watched.mkdir()
    sv = harness.start(
        [
            program("postgres", standin("postgres"), startsecs="1"),
            program(
                "conf_watch",
                f"{PY} {HERE / 'launch.py'} %(here)s conf_watch {watched}",
                stdout_capture_maxbytes="1MB",
                autorestart="true",
            ),
            listener("conf_reload", "PROCESS_COMMUNICATION_STDOUT"),
        ]
    )
    sv.wait_for("the watcher watches", lambda: "watching" in sv.file("conf_watch.err"))
    sv.wait_for("postgres runs", lambda: "success: postgres entered RUNNING" in sv.file("supervisord.log"))
    (watched / "extra.conf").write_text("work_mem = '8MB'\n")
    sv.wait_for("postgres got SIGHUP", lambda: sv.file("reloads") != "")
    healing = json.loads(sv.file("healing-conf_reload.json"))
    assert healing["counts"]["reload"] >= 1
    assert healing["last"]["reason"].startswith(f"{watched}/extra.conf changed (IN_")


def test_a_program_tells_supervisords_shutdown_from_a_stop_by_hand(harness: Harness) -> None:
    """The handover program acts only when the container stops: supervisord then answers every
    request with SHUTDOWN_STATE (and refuses to stop or start anything)."""
    sv = harness.start([program("stop_probe", f"{PY} {HERE / 'launch.py'} %(here)s stop_probe", startsecs="1")])
    sv.wait_for("the probe runs", lambda: "success: stop_probe entered RUNNING" in sv.file("supervisord.log"))
    ctl = [PY, "-m", "supervisor.supervisorctl", "-s", f"unix://{sv.run_dir}/supervisor.sock"]
    subprocess.run([*ctl, "stop", "stop_probe"], check=True, capture_output=True)
    subprocess.run([*ctl, "start", "stop_probe"], check=True, capture_output=True)
    sv.stop()  # SIGTERM to supervisord, as docker stop sends it
    assert sv.file("stops") == "False\nTrue\n"
