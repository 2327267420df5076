"""Typed wrapper over the ``ValidatorPool`` contract: validators' score reports and fee dividends.

The pool is the JobMarket's fee recipient. A validator ``report``s its reputation scores
for the epoch that just ended (during the next one), ``sync`` moves the validator fees the
JobMarket parked under provider ids into the pot of the epoch in progress, and after an
epoch's reporting period each reporter ``claim``s pot × its stake ÷ the reporters' stake;
``sweep`` sends an unclaimable pot (no reports) or the rounding dust to the treasury.
Each transaction returns its typed event (``ScoresReported``, ``FeesSynced``,
``ShareClaimed``, ``PotSwept``); reverts raise ``ContractRevert`` with the reason
(``"pool: already reported for that epoch"``, …). The rule and its limits:
docs/verification.md, "Validator fees".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from deai.chain.contract import ContractWrapper
from deai.chain.events import FeesSynced, PoolMarketSet, PotSwept, ScoresReported, ShareClaimed
from deai.errors import ChainError
from deai.units import Address, TokenAmount

MAX_URI_LENGTH = 256
MAX_PIDS = 256
"""Bounds in ValidatorPool.vy; checked here first so the caller gets a reason, not a bare revert."""


class ReportState:
    """``stateOf(epoch, validator)`` values."""

    NOT_REPORTED = 0
    REPORTED = 1
    CLAIMED = 2


@dataclass(frozen=True)
class PoolEpoch:
    """One epoch's books in the pool."""

    epoch: int
    pot: TokenAmount
    """Fees synced while the epoch was in progress."""
    paid: TokenAmount
    """Claimed or swept so far."""
    total_weight: TokenAmount
    reports: int
    claims: int


def _topic(value: int) -> str:
    return "0x" + int(value).to_bytes(32, "big").hex()


class ValidatorPool(ContractWrapper):
    name = "ValidatorPool"

    # --- reading ----------------------------------------------------------------------------

    def epoch_length(self) -> int:
        return int(self._call(self.contract.functions.epochLength()))

    def current_epoch(self) -> int:
        """The epoch of the latest block (the next block may already be in a later one)."""
        return int(self._call(self.contract.functions.currentEpoch()))

    def market(self) -> Address:
        return Address(self._call(self.contract.functions.market()))

    def treasury(self) -> Address:
        return Address(self._call(self.contract.functions.treasury()))

    def owed(self) -> TokenAmount:
        """Tokens the pool owes: pots not yet claimed or swept (its token balance)."""
        return TokenAmount(self._call(self.contract.functions.owed()))

    def epoch(self, epoch: int) -> PoolEpoch:
        f = self.contract.functions
        return PoolEpoch(
            epoch, TokenAmount(self._call(f.potOf(epoch))), TokenAmount(self._call(f.paidOf(epoch))),
            TokenAmount(self._call(f.totalWeightOf(epoch))), int(self._call(f.reportCountOf(epoch))),
            int(self._call(f.claimCountOf(epoch))),
        )

    def weight_of(self, epoch: int, validator: str) -> TokenAmount:
        return TokenAmount(self._call(self.contract.functions.weightOf(epoch, to_checksum_address(validator))))

    def state_of(self, epoch: int, validator: str) -> int:
        """``ReportState``: not reported, reported, or claimed."""
        return int(self._call(self.contract.functions.stateOf(epoch, to_checksum_address(validator))))

    def claimable(self, epoch: int, validator: str) -> TokenAmount:
        """What ``validator`` can claim for ``epoch`` now (0: nothing, not yet, or claimed)."""
        return TokenAmount(self._call(self.contract.functions.claimable(epoch, to_checksum_address(validator))))

    # --- transactions -----------------------------------------------------------------------

    def set_market(self, owner: LocalAccount, market: str) -> PoolMarketSet:
        receipt = self._send(owner, self.contract.functions.setMarket(to_checksum_address(market)))
        return self._one(receipt, PoolMarketSet)

    def report(self, validator: LocalAccount, epoch: int, root: bytes, uri: str) -> ScoresReported:
        """Report ``validator``'s scores for the finished ``epoch`` (during the next epoch only)."""
        if len(root) != 32:
            raise ChainError(f"a scores root is 32 bytes, got {len(root)}")
        if len(uri.encode()) > MAX_URI_LENGTH:
            raise ChainError(f"the scores URI is {len(uri.encode())} bytes; the pool takes at most {MAX_URI_LENGTH}",
                             hint="encode the scores with deai.verify.reputation.encode_scores, which stops in time")
        receipt = self._send(validator, self.contract.functions.report(epoch, bytes(root), uri))
        return self._one(receipt, ScoresReported)

    def sync(self, account: LocalAccount, provider_ids: Iterable[int]) -> FeesSynced:
        """Collect the fees parked under ``provider_ids`` into the current epoch's pot (anyone may)."""
        pids = list(provider_ids)
        if len(pids) > MAX_PIDS:
            raise ChainError(f"{len(pids)} provider ids; one sync takes at most {MAX_PIDS}",
                             hint="sync in batches, or only the ids with fees owed (JobMarket.fees_owed_at)")
        return self._one(self._send(account, self.contract.functions.sync(pids)), FeesSynced)

    def claim(self, validator: LocalAccount, epoch: int) -> ShareClaimed:
        """Take ``validator``'s share of ``epoch``'s pot (once its reporting period is over)."""
        return self._one(self._send(validator, self.contract.functions.claim(epoch)), ShareClaimed)

    def sweep(self, account: LocalAccount, epoch: int) -> PotSwept:
        """Send ``epoch``'s unclaimable pot (no reports) or its rounding dust to the treasury."""
        return self._one(self._send(account, self.contract.functions.sweep(epoch)), PotSwept)

    # --- events -----------------------------------------------------------------------------

    def reports(
        self, *, epoch: int | None = None, validator: str | None = None, from_block: int = 0,
    ) -> list[ScoresReported]:
        """Score reports, oldest first; of one epoch and/or one validator."""
        topics: list[str | None] = [str(self.contract.events.ScoresReported().topic)]
        topics.append(None if validator is None else "0x" + bytes(12).hex() + to_checksum_address(validator)[2:].lower())
        topics.append(None if epoch is None else _topic(epoch))
        return [e for e in self.events(from_block=from_block, topics=list(topics))
                if isinstance(e, ScoresReported)]

    def claims(self, *, validator: str | None = None, from_block: int = 0) -> list[ShareClaimed]:
        """Claims paid, oldest first; optionally of one validator."""
        topics: list[str | None] = [str(self.contract.events.ShareClaimed().topic)]
        if validator is not None:
            topics.append("0x" + bytes(12).hex() + to_checksum_address(validator)[2:].lower())
        return [e for e in self.events(from_block=from_block, topics=list(topics))
                if isinstance(e, ShareClaimed)]
