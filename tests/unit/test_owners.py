"""Which earlier owners of a partition a new owner must wait out (``owners.py``)."""

from __future__ import annotations

from wawp_gateway.worker.state.idempotency import PartitionState
from wawp_gateway.worker.state.owners import OWNER_HEADER, Owners, owner_of


def test_an_owner_is_open_from_its_marker_until_its_release() -> None:
    owners = Owners()
    owners.marked("a", 10)
    assert owners.open_besides("me") == ["a"]
    owners.released("a")
    assert owners.open_besides("me") == []


def test_a_late_release_of_an_older_owner_leaves_the_newer_one_open() -> None:
    """A marked, B marked, A released: B may still be calling."""
    owners = Owners()
    owners.marked("a", 10)
    owners.marked("b", 20)
    owners.released("a")
    assert owners.open_besides("me") == ["b"]


def test_a_release_closes_the_owners_marked_before_the_releasing_one() -> None:
    """A crashed, B took over (waiting A out) and released: nobody is left to wait for."""
    owners = Owners()
    owners.marked("a", 10)
    owners.marked("b", 20)
    owners.marked("c", 30)
    owners.released("b")
    assert owners.open_besides("me") == ["c"]


def test_a_release_from_an_unknown_owner_closes_only_itself() -> None:
    owners = Owners()
    owners.marked("a", 10)
    owners.released("z")
    assert owners.open_besides("me") == ["a"]


def test_a_new_marker_of_the_same_owner_moves_it() -> None:
    owners = Owners()
    owners.marked("a", 10)
    owners.marked("b", 20)
    owners.marked("a", 30)  # a got the partition back
    owners.released("b")
    assert owners.open_besides("me") == ["a"]


def test_the_reader_itself_is_never_waited_for() -> None:
    owners = Owners()
    owners.marked("me", 10)
    assert owners.open_besides("me") == []


def test_taking_over_fences_everyone_marked_before() -> None:
    owners = Owners()
    owners.marked("a", 10)
    owners.marked("b", 20)
    owners.marked("later", 40)
    owners.took_over("me", 30)
    assert owners.open_besides("x") == ["later", "me"]
    owners.released("me")
    assert owners.open_besides("x") == ["later"]


def test_records_without_the_header_are_one_anonymous_owner() -> None:
    """The history of earlier versions reads as before: the last release closes it."""
    owners = Owners()
    owners.marked(owner_of(None), 10)
    owners.marked(owner_of([]), 20)
    assert owners.open_besides("me") == [""]
    owners.released(owner_of([("traceparent", b"00-x")]))
    assert owners.open_besides("me") == []
    assert owner_of([(OWNER_HEADER, b"abc")]) == "abc"


def test_open_owners_survive_a_checkpoint() -> None:
    state = PartitionState(3600.0)
    state.owners.marked("a", 10)
    state.checkpoint(11)
    again = PartitionState(3600.0, kv=state._kv)
    assert again.resume() == 11
    assert again.owners.open_besides("me") == ["a"]
    again.forget()
    assert again.owners.open_besides("me") == []
