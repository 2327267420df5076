"""Typed wrapper over the ``JobMarket`` contract: the life of a job, disputes, accounts, events.

Each transaction method returns the typed event it logged (``JobPosted``, ``JobAssigned``,
``JobSettled``…); each event's ``reason.sentence`` says what happened in plain words, and
``why(job_id)`` answers "why is my job where it is". Amounts are ``TokenAmount``; CIDs go
in and come out as strings. Money the market holds for an address (refunds, earnings,
deposits) is in its market account until ``withdraw``.
"""

from __future__ import annotations

from collections.abc import Iterable

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from deai.chain.cids import cid_to_bytes
from deai.chain.contract import ContractWrapper
from deai.chain.events import (
    BidPlaced,
    ChainLog,
    FeesCollected,
    JobAssigned,
    JobChallenged,
    JobEvent,
    JobPosted,
    JobSettled,
    MarketDeposited,
    MarketWithdrawn,
    ReputationOracleSet,
    ReputationSet,
    ResultCommitted,
    VoteCast,
    explain,
)
from deai.chain.token import Token
from deai.chain.types import (
    Ballot,
    Dispute,
    Job,
    JobStatus,
    MarketAccount,
    MarketSettings,
    Verification,
    VerificationMode,
)
from deai.errors import ChainError
from deai.units import Address, JobId, TokenAmount


def _topic(job_id: int) -> str:
    return "0x" + int(job_id).to_bytes(32, "big").hex()


class JobMarket(ContractWrapper):
    name = "JobMarket"

    # --- reading ----------------------------------------------------------------------------

    def token(self) -> Token:
        return Token(self.w3, str(self._call(self.contract.functions.token())))

    def settings(self) -> MarketSettings:
        f = self.contract.functions
        return MarketSettings(
            token=Address(self._call(f.token())), staking=Address(self._call(f.staking())),
            registry=Address(self._call(f.registry())), treasury=Address(self._call(f.treasury())),
            fee_recipient=Address(self._call(f.feeRecipient())), fee_bps=int(self._call(f.feeBps())),
            collateral_bps=int(self._call(f.collateralBps())),
            challenge_window=int(self._call(f.challengeWindow())),
            vote_window=int(self._call(f.voteWindow())),
            challenge_bond=TokenAmount(self._call(f.challengeBond())),
            committee_size=int(self._call(f.committeeSize())),
        )

    def job_count(self) -> int:
        return int(self._call(self.contract.functions.jobCount()))

    def job(self, job_id: int) -> Job:
        """The job's stored state; ``exists`` is False for an unknown id."""
        (client, provider, max_price, price, status, mode, param, window_end,
         deadline) = self._call(self.contract.functions.getJob(job_id))
        verification = (
            Verification(VerificationMode(mode), int(param)) if status else Verification.none()
        )
        return Job(JobId(job_id), Address(client), Address(provider), TokenAmount(max_price),
                   TokenAmount(price), JobStatus(status), verification, int(window_end), int(deadline))

    def account(self, who: str) -> MarketAccount:
        address = to_checksum_address(who)
        balance, locked, reputation, pid = self._call(self.contract.functions.getAccount(address))
        return MarketAccount(Address(address), TokenAmount(balance), TokenAmount(locked),
                             int(reputation), int(pid))

    def balance_of(self, who: str) -> TokenAmount:
        """Tokens the market holds for ``who`` (withdrawable)."""
        return TokenAmount(self._call(self.contract.functions.balanceOf(to_checksum_address(who))))

    def locked_stake_of(self, who: str) -> TokenAmount:
        return TokenAmount(self._call(self.contract.functions.lockedStakeOf(to_checksum_address(who))))

    def bid_of(self, job_id: int, provider: str) -> TokenAmount:
        """``provider``'s current bid on an open job (0 = none)."""
        return TokenAmount(self._call(self.contract.functions.bidOf(job_id, to_checksum_address(provider))))

    def fee_for(self, price: int) -> TokenAmount:
        return TokenAmount(self._call(self.contract.functions.feeFor(price)))

    def collateral_for(self, price: int, verification: Verification) -> TokenAmount:
        """Free stake a provider needs to be assigned a job at ``price``."""
        return TokenAmount(self._call(self.contract.functions.collateralFor(
            price, int(verification.mode), verification.param
        )))

    def max_bid(self, max_price: int) -> TokenAmount:
        """The highest price a bid may ask under ``max_price`` (room is left for the fee)."""
        fee_bps = int(self._call(self.contract.functions.feeBps()))
        def cost(price: int) -> int:
            return price + price * fee_bps // 10_000

        price = max_price * 10_000 // (10_000 + fee_bps)
        while cost(price + 1) <= max_price:  # the fee rounds down, so a little more may fit
            price += 1
        while price > 0 and cost(price) > max_price:
            price -= 1
        return TokenAmount(price)

    def dispute(self, job_id: int) -> Dispute:
        challenger, bond, fraud, valid, committee = self._call(self.contract.functions.getDispute(job_id))
        return Dispute(JobId(job_id), Address(challenger), TokenAmount(bond), int(fraud), int(valid),
                       tuple(Address(m) for m in committee))

    def ballot(self, job_id: int, validator: str) -> Ballot:
        return Ballot(self._call(self.contract.functions.ballotOf(job_id, to_checksum_address(validator))))

    def provider_count(self) -> int:
        return int(self._call(self.contract.functions.providerCount()))

    def provider_at(self, provider_id: int) -> Address:
        return Address(self._call(self.contract.functions.providerAt(provider_id)))

    def fees_owed_at(self, provider_id: int) -> TokenAmount:
        return TokenAmount(self._call(self.contract.functions.feesOwedAt(provider_id)))

    def reputation_oracle(self) -> Address:
        return Address(self._call(self.contract.functions.reputationOracle()))

    # --- accounts ---------------------------------------------------------------------------

    def deposit(self, account: LocalAccount, amount: TokenAmount, *, approve: bool = True) -> MarketDeposited:
        """Move tokens into ``account``'s market account; later escrows come from it."""
        if approve:
            self.token().ensure_allowance(account, self.address, amount)
        return self._one(self._send(account, self.contract.functions.deposit(amount)), MarketDeposited)

    def withdraw(self, account: LocalAccount, amount: TokenAmount | None = None) -> MarketWithdrawn:
        """Pay out ``amount`` (default: everything) from ``account``'s market account."""
        if amount is None:
            amount = self.balance_of(account.address)
        return self._one(self._send(account, self.contract.functions.withdraw(amount)), MarketWithdrawn)

    # --- client -----------------------------------------------------------------------------

    def post_job(
        self,
        client: LocalAccount,
        spec_cid: str,
        max_price: TokenAmount,
        *,
        bid_window: int,
        deadline: int,
        verification: Verification | None = None,
        approve: bool = True,
    ) -> JobPosted:
        """Post a job escrowing ``max_price``: bids for ``bid_window`` seconds, result due by
        ``deadline`` (unix time, see ``chain_time``). The escrow comes from the client's
        market account if it covers it, else from the wallet by transferFrom (approved here
        unless ``approve=False``).
        """
        v = verification or Verification()
        # an account that cannot cover the escrow is left alone: it all comes from the wallet
        if approve and self.balance_of(client.address) < max_price:
            self.token().ensure_allowance(client, self.address, max_price)
        receipt = self._send(client, self.contract.functions.postJob(
            cid_to_bytes(spec_cid), max_price, bid_window, deadline, int(v.mode), v.param
        ))
        return self._one(receipt, JobPosted)

    def accept_bid(self, client: LocalAccount, job_id: int, provider: str) -> JobAssigned:
        receipt = self._send(client, self.contract.functions.acceptBid(job_id, to_checksum_address(provider)))
        return self._one(receipt, JobAssigned)

    def assign(self, account: LocalAccount, job_id: int) -> JobAssigned:
        """Give the job to the best bid once the bid window is over (anyone may)."""
        return self._one(self._send(account, self.contract.functions.assign(job_id)), JobAssigned)

    def expire(self, account: LocalAccount, job_id: int) -> JobSettled:
        """End a job without a result after its deadline (anyone may): full refund."""
        return self._one(self._send(account, self.contract.functions.expire(job_id)), JobSettled)

    # --- provider ---------------------------------------------------------------------------

    def bid(self, provider: LocalAccount, job_id: int, price: TokenAmount) -> BidPlaced:
        return self._one(self._send(provider, self.contract.functions.bid(job_id, price)), BidPlaced)

    def commit_result(
        self, provider: LocalAccount, job_id: int, output_cid: str, result_hash: bytes
    ) -> ResultCommitted:
        if len(result_hash) != 32:
            raise ChainError(f"a result hash is 32 bytes, not {len(result_hash)}")
        receipt = self._send(provider, self.contract.functions.commitResult(
            job_id, cid_to_bytes(output_cid), result_hash
        ))
        return self._one(receipt, ResultCommitted)

    # --- settlement and disputes ------------------------------------------------------------

    def finalize(self, account: LocalAccount, job_id: int) -> JobSettled:
        """Pay out a job whose challenge window passed (anyone may)."""
        return self._one(self._send(account, self.contract.functions.finalize(job_id)), JobSettled)

    def challenge(self, validator: LocalAccount, job_id: int, *, approve: bool = True) -> JobChallenged:
        """Dispute a committed result, posting the challenge bond."""
        bond = int(self._call(self.contract.functions.challengeBond()))
        if approve and self.balance_of(validator.address) < bond:
            self.token().ensure_allowance(validator, self.address, bond)
        return self._one(self._send(validator, self.contract.functions.challenge(job_id)), JobChallenged)

    def vote(self, validator: LocalAccount, job_id: int, *, fraud: bool) -> VoteCast:
        return self._one(self._send(validator, self.contract.functions.vote(job_id, fraud)), VoteCast)

    def resolve(self, account: LocalAccount, job_id: int) -> JobSettled:
        """End a dispute once all voted or the vote closed (anyone may)."""
        return self._one(self._send(account, self.contract.functions.resolve(job_id)), JobSettled)

    def collect_fees(self, account: LocalAccount, provider_ids: Iterable[int] | None = None) -> FeesCollected:
        """Sweep parked validator fees to the fee recipient (default: every provider id)."""
        pids = list(provider_ids) if provider_ids is not None else list(range(1, self.provider_count() + 1))
        return self._one(self._send(account, self.contract.functions.collectFees(pids)), FeesCollected)

    # --- reputation -------------------------------------------------------------------------

    def set_reputation(self, setter: LocalAccount, provider: str, score: int) -> ReputationSet:
        receipt = self._send(setter, self.contract.functions.setReputation(to_checksum_address(provider), score))
        return self._one(receipt, ReputationSet)

    def set_reputation_oracle(self, owner: LocalAccount, oracle: str) -> ReputationOracleSet:
        receipt = self._send(owner, self.contract.functions.setReputationOracle(to_checksum_address(oracle)))
        return self._one(receipt, ReputationOracleSet)

    # --- events -----------------------------------------------------------------------------

    def job_events(self, job_id: int, *, from_block: int = 0) -> list[JobEvent]:
        """Every event of one job, oldest first."""
        events = self.events(from_block=from_block, topics=[None, _topic(job_id)])
        return [e for e in events if isinstance(e, JobEvent) and e.job_id == job_id]

    def spec_cid(self, job_id: int, *, from_block: int = 0) -> str:
        """The job's spec CID, from its JobPosted event (not kept in storage)."""
        for event in self.job_events(job_id, from_block=from_block):
            if isinstance(event, JobPosted):
                return event.spec_cid
        raise ChainError(f"no job {job_id} was posted", hint="check the id with `deai job list`")

    def result(self, job_id: int, *, from_block: int = 0) -> ResultCommitted | None:
        """The committed result (output CID and result hash), if there is one."""
        found = [e for e in self.job_events(job_id, from_block=from_block) if isinstance(e, ResultCommitted)]
        return found[-1] if found else None

    def why(self, job_id: int, *, from_block: int = 0) -> str:
        """Why the job is where it is, as a sentence for the client."""
        events: list[ChainLog] = list(self.job_events(job_id, from_block=from_block))
        return explain(events)
