"""Typed wrapper over the ``Staking`` contract: stake, unbond, withdraw, and (for markets) slash."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from deai.chain.contract import ContractWrapper
from deai.chain.events import (
    LockerAdded,
    Slashed,
    SlasherAdded,
    Staked,
    StakeWithdrawn,
    StakeWithdrawRequested,
)
from deai.chain.token import Token
from deai.chain.types import StakeAccount
from deai.units import Address, TokenAmount


class Staking(ContractWrapper):
    name = "Staking"

    # --- reading ----------------------------------------------------------------------------

    def token(self) -> Token:
        return Token(self.w3, str(self._call(self.contract.functions.token())))

    def treasury(self) -> Address:
        return Address(self._call(self.contract.functions.treasury()))

    def unbonding_delay(self) -> int:
        return int(self._call(self.contract.functions.unbondingDelay()))

    def beneficiary_bps(self) -> int:
        return int(self._call(self.contract.functions.beneficiaryBps()))

    def stake_of(self, who: str) -> TokenAmount:
        return TokenAmount(self._call(self.contract.functions.stakeOf(to_checksum_address(who))))

    def free_stake_of(self, who: str) -> TokenAmount:
        return TokenAmount(self._call(self.contract.functions.freeStakeOf(to_checksum_address(who))))

    def total_staked(self) -> TokenAmount:
        return TokenAmount(self._call(self.contract.functions.totalStaked()))

    def account(self, who: str) -> StakeAccount:
        address = to_checksum_address(who)
        staked, unbonding, unlock_at = self._call(self.contract.functions.accounts(address))
        locked = self._call(self.contract.functions.lockedOf(address))
        return StakeAccount(Address(address), TokenAmount(staked), TokenAmount(unbonding),
                            int(unlock_at), TokenAmount(locked))

    def is_slasher(self, who: str) -> bool:
        return bool(self._call(self.contract.functions.isSlasher(to_checksum_address(who))))

    def lockers(self) -> list[Address]:
        out: list[Address] = []
        for index in range(8):  # MAX_LOCKERS in Staking.vy
            try:
                out.append(Address(self.contract.functions.lockers(index).call()))
            except Exception:  # past the end of the DynArray the getter reverts
                break
        return out

    # --- stakers ----------------------------------------------------------------------------

    def deposit(self, staker: LocalAccount, amount: TokenAmount, *, approve: bool = True) -> Staked:
        """Stake ``amount`` (approving the contract for it first unless ``approve=False``)."""
        if approve:
            self.token().ensure_allowance(staker, self.address, amount)
        return self._one(self._send(staker, self.contract.functions.deposit(amount)), Staked)

    def request_withdraw(self, staker: LocalAccount, amount: TokenAmount) -> StakeWithdrawRequested:
        receipt = self._send(staker, self.contract.functions.requestWithdraw(amount))
        return self._one(receipt, StakeWithdrawRequested)

    def withdraw(self, staker: LocalAccount) -> StakeWithdrawn:
        return self._one(self._send(staker, self.contract.functions.withdraw()), StakeWithdrawn)

    # --- market contracts and the owner -----------------------------------------------------

    def slash(self, slasher: LocalAccount, who: str, amount: TokenAmount, beneficiary: str) -> Slashed:
        """Only an authorised slasher (a market contract) succeeds; anyone else gets a revert."""
        receipt = self._send(slasher, self.contract.functions.slash(
            to_checksum_address(who), amount, to_checksum_address(beneficiary)
        ))
        return self._one(receipt, Slashed)

    def add_slasher(self, owner: LocalAccount, slasher: str) -> SlasherAdded:
        receipt = self._send(owner, self.contract.functions.addSlasher(to_checksum_address(slasher)))
        return self._one(receipt, SlasherAdded)

    def add_locker(self, owner: LocalAccount, locker: str) -> LockerAdded:
        receipt = self._send(owner, self.contract.functions.addLocker(to_checksum_address(locker)))
        return self._one(receipt, LockerAdded)
