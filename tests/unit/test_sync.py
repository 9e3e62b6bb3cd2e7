"""The synchronous standby set each consistency mode asks for."""

from postdock_supervisor.decide.sync import Mode, decide_sync, standby_names, synchronous_commit


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
