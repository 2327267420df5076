"""One contract for every NodeState implementation (memory and SQLite run the same tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deai.node.state import (
    JobStage,
    MemoryNodeState,
    NodeState,
    NodeStateError,
    SqliteNodeState,
)


class NodeStateContract:
    """Every implementation must pass these; subclasses provide ``make``."""

    __test__ = False

    def make(self, tmp_path: Path) -> NodeState:
        raise NotImplementedError

    def test_a_job_walks_the_happy_path(self, tmp_path: Path) -> None:
        state = self.make(tmp_path)
        state.add_job(1, spec_cid="bafyspec", client="0xC", max_price=10**30)
        for stage in (
            JobStage.BID,
            JobStage.ASSIGNED,
            JobStage.RUNNING,
            JobStage.RESULT_READY,
            JobStage.COMMITTING,
            JobStage.COMMITTED,
            JobStage.FINALIZED,
        ):
            state.advance(1, stage)
        record = state.get_job(1)
        assert record is not None and record.stage is JobStage.FINALIZED
        assert record.max_price == 10**30  # above SQLite's 64-bit integers

    def test_seeing_a_job_twice_keeps_the_first_record(self, tmp_path: Path) -> None:
        state = self.make(tmp_path)
        state.add_job(7, spec_cid="a", client="0xC", max_price=5)
        state.advance(7, JobStage.BID, bid_price=4)
        again = state.add_job(7, spec_cid="b", client="0xD", max_price=9)
        assert (again.stage, again.spec_cid, again.bid_price) == (JobStage.BID, "a", 4)

    def test_a_result_is_never_committed_twice(self, tmp_path: Path) -> None:
        state = self.make(tmp_path)
        state.add_job(2, spec_cid="s", client="0xC", max_price=1)
        for stage in (
            JobStage.BID,
            JobStage.ASSIGNED,
            JobStage.RUNNING,
            JobStage.RESULT_READY,
            JobStage.COMMITTING,
            JobStage.COMMITTED,
        ):
            state.advance(2, stage)
        with pytest.raises(NodeStateError, match="committed to committing"):
            state.advance(2, JobStage.COMMITTING)
        record = state.get_job(2)
        assert record is not None and record.stage is JobStage.COMMITTED

    def test_illegal_moves_and_fields_change_nothing(self, tmp_path: Path) -> None:
        state = self.make(tmp_path)
        with pytest.raises(NodeStateError, match="not known"):
            state.advance(3, JobStage.BID)
        state.add_job(3, spec_cid="s", client="0xC", max_price=1)
        with pytest.raises(NodeStateError):
            state.advance(3, JobStage.FINALIZED)
        with pytest.raises(NodeStateError, match="unknown job fields"):
            state.advance(3, JobStage.BID, colour="red")
        record = state.get_job(3)
        assert record is not None and record.stage is JobStage.SEEN and record.bid_price == 0

    def test_listing_by_stage_and_cursors(self, tmp_path: Path) -> None:
        state = self.make(tmp_path)
        for job_id in (5, 4, 6):
            state.add_job(job_id, spec_cid="s", client="0xC", max_price=1)
        state.advance(5, JobStage.SKIPPED, reason="no such model")
        assert [r.job_id for r in state.jobs()] == [4, 5, 6]
        assert [r.job_id for r in state.jobs(frozenset({JobStage.SEEN}))] == [4, 6]
        assert state.get_cursor("jobmarket") == 0
        state.set_cursor("jobmarket", 42)
        state.set_cursor("jobmarket", 43)
        assert state.get_cursor("jobmarket") == 43

    def test_nonces_are_single_use_per_signer(self, tmp_path: Path) -> None:
        state = self.make(tmp_path)
        assert state.use_nonce("0xAbC", 1)
        assert not state.use_nonce("0xabc", 1)
        assert state.use_nonce("0xabc", 2**127 + 1)
        assert not state.use_nonce("0xabc", 2**127 + 1)
        assert state.use_nonce("0xdef", 1)


class TestMemoryNodeState(NodeStateContract):
    __test__ = True

    def make(self, tmp_path: Path) -> NodeState:
        return MemoryNodeState()


class TestSqliteNodeState(NodeStateContract):
    __test__ = True

    def make(self, tmp_path: Path) -> NodeState:
        return SqliteNodeState(tmp_path / "node.sqlite")

    def test_state_survives_reopening(self, tmp_path: Path) -> None:
        first = SqliteNodeState(tmp_path / "node.sqlite")
        first.add_job(9, spec_cid="s", client="0xC", max_price=3)
        first.advance(9, JobStage.BID, bid_price=2)
        first.set_cursor("jobmarket", 17)
        first.use_nonce("0xA", 5)
        first.close()
        second = SqliteNodeState(tmp_path / "node.sqlite")
        record = second.get_job(9)
        assert record is not None and (record.stage, record.bid_price) == (JobStage.BID, 2)
        assert second.get_cursor("jobmarket") == 17
        assert not second.use_nonce("0xa", 5)
