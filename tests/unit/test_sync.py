"""The synchronous standby set each consistency mode asks for."""

from psycopg.conninfo import conninfo_to_dict

from postdock_supervisor.config.modes import Mode
from postdock_supervisor.decide.sync import (
    decide_conninfo,
    decide_slots,
    decide_sync,
    standby_names,
    synchronous_commit,
)


def test_modes_name_their_synchronous_set() -> None:
    members = ["node4", "node2"]
    assert standby_names(Mode.EVENTUAL, members) == ""
    assert standby_names(Mode.PARTIAL, members) == 'ANY 1 ("node2", "node4")'
    assert standby_names(Mode.STRICT, members) == 'ANY 2 ("node2", "node4")'
    assert standby_names(Mode.STRICT, []) == ""
    assert (synchronous_commit(Mode.STRICT), synchronous_commit(Mode.PARTIAL)) == ("remote_apply", "on")


def test_only_the_primary_changes_its_set_and_only_when_it_differs() -> None:
    assert not decide_sync(Mode.PARTIAL, False, "", ["node2"]).change
    same = decide_sync(Mode.PARTIAL, True, 'ANY 1 ("node2")', ["node2"])
    assert (same.change, same.reason) == (False, 'synchronous set already ANY 1 ("node2")')
    grow = decide_sync(Mode.PARTIAL, True, 'ANY 1 ("node2")', ["node2", "node1"])
    assert grow.change and grow.value == 'ANY 1 ("node1", "node2")'
    assert grow.reason == 'partial mode: synchronous_standby_names ANY 1 ("node2") -> ANY 1 ("node1", "node2")'


def test_barman_synchronous_puts_barman_first_in_every_allowed_mode() -> None:
    members = ["node4", "node2"]
    assert standby_names(Mode.EVENTUAL, members, barman=True) == 'FIRST 1 ("barman_receive_wal", "node2", "node4")'
    assert standby_names(Mode.PARTIAL, members, barman=True) == 'FIRST 2 ("barman_receive_wal", "node2", "node4")'
    assert standby_names(Mode.PARTIAL, [], barman=True) == 'FIRST 1 ("barman_receive_wal")'
    decision = decide_sync(Mode.EVENTUAL, True, "", members, barman=True)
    assert decision.reason == (
        "eventual mode with barman synchronous: synchronous_standby_names empty -> "
        'FIRST 1 ("barman_receive_wal", "node2", "node4")'
    )


def test_logical_decoding_waits_for_the_slots_of_the_streaming_first_level_standbys() -> None:
    assert not decide_slots(False, "", ["repmgr_slot_2"]).change  # a standby keeps what it has
    d = decide_slots(True, "", ["repmgr_slot_4", "repmgr_slot_2"])
    assert (d.change, d.value) == (True, "repmgr_slot_2, repmgr_slot_4")
    assert d.reason == (
        "logical decoding waits for the streaming first-level standbys: "
        "synchronized_standby_slots empty -> repmgr_slot_2, repmgr_slot_4"
    )
    # A standby that stops streaming no longer holds every logical consumer back.
    gone = decide_slots(True, "repmgr_slot_2, repmgr_slot_4", ["repmgr_slot_2"])
    assert (gone.change, gone.value) == (True, "repmgr_slot_2")
    assert not decide_slots(True, "repmgr_slot_2", ["repmgr_slot_2"]).change


def test_a_standby_syncing_slots_gets_a_database_in_its_primary_conninfo() -> None:
    written = "host=pgmaster port=5432 user=replication_user application_name=node2 passfile='/x y/.pgpass'"
    d = decide_conninfo(False, True, written, "pgmaster", "replication_db")
    assert d.change and d.reason.endswith("adding dbname=replication_db")
    assert conninfo_to_dict(d.value) == {**conninfo_to_dict(written), "dbname": "replication_db"}
    assert not decide_conninfo(False, True, d.value, "pgmaster", "replication_db").change
    assert not decide_conninfo(False, False, written, "pgmaster", "replication_db").change  # no slots
    assert not decide_conninfo(True, True, written, "pgmaster", "replication_db").change


def test_a_standby_that_repmgr_is_moving_to_another_upstream_is_left_alone() -> None:
    # Seen in the ten-kill strict scenario: the keeper read the old upstream's string just before
    # repmgr's follow rewrote it, then wrote the old one back; the node streamed from a standby.
    written = "host=pgslave3 port=5432 user=replication_user application_name=node1"
    for receiving in ("", "pgslave1"):  # the old upstream is dead, or the follow already took effect
        d = decide_conninfo(False, True, written, receiving, "replication_db")
        assert not d.change
        assert d.reason == "not streaming from the upstream primary_conninfo names: left to repmgr"
