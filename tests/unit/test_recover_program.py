"""`postdock recover` end to end against a scripted world: the SSH, barman and scp commands it runs,
in the order that keeps the cluster safe (every node held, cascades first and the primary last; the
restore; the WAL barman was still receiving; the promotion; the re-clones; barman re-pointed), and
the stop with a clear reason when a node cannot be held. Only the commands are stand-ins."""

import json
from pathlib import Path
from typing import Any

import pytest

from postdock_supervisor import proc
from postdock_supervisor.model.backup import BackupInfo, NodeProbe
from postdock_supervisor.programs import recover
from tests.unit.test_backup import settings as barman_settings
from tests.unit.test_recover import B1, B2, NOW, at

ROWS = [
    {"host": "pgmaster", "state": "unreachable"},
    {"host": "pgslave1", "state": "running"},
    {"host": "pgslave3", "state": "primary"},
    {"host": "pgslave2", "state": "streaming"},
]


class World:
    def __init__(self, tmp_path: Path, failing: str = "") -> None:
        self.commands: list[str] = []
        self.failing = failing
        bm = barman_settings(BACKUP_DIR=str(tmp_path)).barman
        assert bm is not None
        self.bm = bm
        server = tmp_path / self.bm.server
        (server / "wals" / "0000000200000000").mkdir(parents=True)
        (server / "wals" / "0000000200000000" / "00000002.history").write_text("1\t0/5000000\tfailover\n")
        (server / "streaming").mkdir()
        (server / "streaming" / "000000020000000000000009.partial").write_text("")

    def stream(self, argv: list[str], timeout: float, prefix: str = "") -> int:
        shown = " ".join(argv[2:] if argv[0] == "ssh" else argv)
        where = argv[1].removeprefix("postgres@") if argv[0] == "ssh" else argv[0]
        self.commands.append(f"{where}: {shown}")
        return 1 if self.failing and self.failing in f"{where}: {shown}" else 0

    def run(self, argv: list[str], timeout: float = 60, **_: Any) -> proc.Completed:
        if argv[-1] == "postdock config show":
            return proc.Completed(tuple(argv), 0, "NODE_ID=4\nPGDATA=/var/lib/postgresql/data/main\n")
        restored = any("finish-restore" in c for c in self.commands)
        rows = [dict(r, state="streaming") if restored and r["host"] != "pgslave3" else r for r in ROWS]
        return proc.Completed(tuple(argv), 0, json.dumps(rows))


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> World:
    made = World(tmp_path)
    monkeypatch.setattr(proc, "stream", made.stream)
    monkeypatch.setattr(proc, "run", made.run)
    monkeypatch.setattr(recover.time, "time", lambda: NOW)  # the backups are from January 2027
    monkeypatch.setattr(recover, "backups", lambda bm: (B1, B2))
    probes = (NodeProbe("pgmaster", False), NodeProbe("pgslave1", True), NodeProbe("pgslave3", True, writable=True))
    monkeypatch.setattr(recover, "probe_nodes", lambda bm: probes)
    for name in ("barman", "stop_receiver", "reset_receiver", "cron", "take_backup"):
        monkeypatch.setattr(
            recover.barman_act, name, lambda *args, _n=name, **kw: made.commands.append(f"barman: {_n}") or True
        )
    return made


def test_recover_holds_restores_promotes_and_reclones_in_a_safe_order(world: World) -> None:
    recover.run(world.bm, at(7), "", "", 600)
    pgdata = "/var/lib/postgresql/data/main"
    assert world.commands == [
        "pgslave2: postdock node hold --reason 'postdock recover'",
        "pgslave1: postdock node hold --reason 'postdock recover'",
        "pgslave3: postdock node hold --wipe --reason 'postdock recover'",
        "barman: barman",
        # The target's own arguments are checked in test_recover.py; here, where they go.
        f"barman: barman recover --remote-ssh-command ssh postgres@pgslave3 {' '.join(at(7).barman_args())} "
        f"--target-tli 2 pg_cluster {B2.backup_id} {pgdata}",
        f"scp: scp -O -q {world.bm.backup_dir}/pg_cluster/streaming/000000020000000000000009.partial "
        f"postgres@pgslave3:{pgdata}/barman_wal/000000020000000000000009",
        "pgslave3: postdock node finish-restore --timeout 600",
        "pgslave1: postdock node reclone",
        "pgslave2: postdock node reclone",
        "barman: stop_receiver",
        "barman: reset_receiver",
        "barman: cron",
        "barman: take_backup",
    ]


def test_a_node_that_cannot_be_held_stops_the_recovery_before_anything_is_restored(world: World) -> None:
    world.failing = "pgslave1: postdock node hold"
    with pytest.raises(recover.RecoverError, match="could not hold pgslave1"):
        recover.run(world.bm, at(7), "", "", 600)
    assert not any("recover" in c and "barman" in c for c in world.commands)


def test_a_node_outside_replication_host_is_refused(world: World) -> None:
    with pytest.raises(recover.RecoverError, match="--node: found 'pgslave2'; expected one of REPLICATION_HOST"):
        recover.run(world.bm, at(7), "", "pgslave2", 600)
    assert world.commands == []
    assert isinstance(B2, BackupInfo)
