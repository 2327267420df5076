"""Follow contract events from a block cursor: in order, in bounded ranges, reorg-safe.

``EventFollower`` reads logs of a set of contracts with ``eth_getLogs`` over block ranges
up to the chain head minus ``confirmations``, decodes each with its contract's ABI and
returns ``ChainEvent`` records in (block, log index) order. The caller keeps the cursor
(a node in its SQLite state, the indexer in DuckDB), so following resumes exactly where it
stopped after a restart. ``rewind`` re-reads the last blocks, which is how a consumer that
keys events by (block hash, log index) survives a reorg. ``EventAbis`` (address → contract
name and topic → event ABI) is the table it decodes with; ``deai.chain.events.EventDecoder``
decodes with the same one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from eth_typing import ABIEvent
from eth_utils.abi import event_abi_to_log_topic
from web3 import Web3
from web3._utils.events import get_event_data
from web3.contract import Contract
from web3.types import EventData, FilterParams, LogReceipt


@dataclass(frozen=True)
class ChainEvent:
    """One decoded log."""

    contract: str  # the contract's name in the deployment ("JobMarket", …)
    name: str  # the event's name
    args: dict[str, Any]
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


class EventAbis:
    """The event ABIs of some contracts, by address and topic: what decodes any of their logs."""

    def __init__(self) -> None:
        self._by_address: dict[str, tuple[str, dict[bytes, ABIEvent]]] = {}

    def add(self, name: str, address: str, abi: Iterable[Mapping[str, object]]) -> None:
        events = [cast(ABIEvent, item) for item in abi if item.get("type") == "event"]
        self._by_address[address.lower()] = (name, {bytes(event_abi_to_log_topic(e)): e for e in events})

    def addresses(self) -> list[str]:
        """The contracts' addresses, lowercase."""
        return list(self._by_address)

    def decode(self, w3: Web3, log: LogReceipt) -> tuple[str, EventData] | None:
        """The contract's name and the decoded event; None for a log none of them emitted."""
        entry = self._by_address.get(str(log["address"]).lower())
        if entry is None or not log["topics"]:
            return None
        name, topics = entry
        abi = topics.get(bytes(log["topics"][0]))
        if abi is None:
            return None
        return name, get_event_data(w3.codec, abi, log)


class EventFollower:
    """Decode the events of ``contracts`` (name → web3 Contract) block range by block range."""

    def __init__(
        self,
        w3: Web3,
        contracts: dict[str, Contract],
        *,
        max_range: int = 2_000,
        confirmations: int = 0,
    ) -> None:
        self.w3 = w3
        self.max_range = max_range
        self.confirmations = confirmations
        self._abis = EventAbis()
        for name, contract in contracts.items():
            self._abis.add(name, contract.address, contract.abi)

    def head(self) -> int:
        return max(0, int(self.w3.eth.block_number) - self.confirmations)

    def poll(self, from_block: int, *, to_block: int | None = None) -> tuple[list[ChainEvent], int]:
        """Events in blocks [from_block, min(head, to_block)] and the next cursor.

        Reads at most ``max_range`` blocks per request and stops at the head, so a cursor
        far behind catches up over several calls without a huge response.
        """
        last = self.head() if to_block is None else min(to_block, self.head())
        if from_block > last:
            return [], from_block
        events: list[ChainEvent] = []
        start = from_block
        while start <= last:
            end = min(start + self.max_range - 1, last)
            params: FilterParams = {
                "fromBlock": start,
                "toBlock": end,
                "address": [Web3.to_checksum_address(a) for a in self._abis.addresses()],
            }
            for log in self.w3.eth.get_logs(params):
                event = self._decode(log)
                if event is not None:
                    events.append(event)
            start = end + 1
        events.sort(key=lambda e: (e.block_number, e.log_index))
        return events, last + 1

    def _decode(self, log: LogReceipt) -> ChainEvent | None:
        decoded = self._abis.decode(self.w3, log)
        if decoded is None:
            return None
        name, data = decoded
        return ChainEvent(
            contract=name,
            name=str(data["event"]),
            args=dict(data["args"]),
            block_number=int(log["blockNumber"]),
            block_hash=log["blockHash"].to_0x_hex(),
            tx_hash=log["transactionHash"].to_0x_hex(),
            log_index=int(log["logIndex"]),
        )


def rewind(cursor: int, depth: int) -> int:
    """The block to re-read from after a possible reorg of the last ``depth`` blocks."""
    return max(0, cursor - depth)
