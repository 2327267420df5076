"""Typed wrapper over the ``Token`` contract (the devnet's ERC-20; any ERC-20 by address)."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from deai.chain.contract import ContractWrapper
from deai.chain.events import Approval, Transfer
from deai.units import Address, TokenAmount


class Token(ContractWrapper):
    """ERC-20 reads and writes; ``mint`` works for the minter (the deployer) only."""

    name = "Token"

    def symbol(self) -> str:
        return str(self._call(self.contract.functions.symbol()))

    def decimals(self) -> int:
        return int(self._call(self.contract.functions.decimals()))

    def total_supply(self) -> TokenAmount:
        return TokenAmount(self._call(self.contract.functions.totalSupply()))

    def balance_of(self, who: str) -> TokenAmount:
        return TokenAmount(self._call(self.contract.functions.balanceOf(to_checksum_address(who))))

    def allowance(self, owner: str, spender: str) -> TokenAmount:
        return TokenAmount(self._call(self.contract.functions.allowance(
            to_checksum_address(owner), to_checksum_address(spender)
        )))

    def minter(self) -> Address:
        return Address(self._call(self.contract.functions.minter()))

    def transfer(self, sender: LocalAccount, to: str, amount: TokenAmount) -> Transfer:
        receipt = self._send(sender, self.contract.functions.transfer(to_checksum_address(to), amount))
        return self._one(receipt, Transfer)

    def approve(self, owner: LocalAccount, spender: str, amount: int) -> Approval:
        receipt = self._send(owner, self.contract.functions.approve(to_checksum_address(spender), amount))
        return self._one(receipt, Approval)

    def ensure_allowance(self, owner: LocalAccount, spender: str, amount: int) -> None:
        """Approve ``spender`` for ``amount`` unless it may already take that much."""
        if self.allowance(owner.address, spender) < amount:
            self.approve(owner, spender, amount)

    def mint(self, minter: LocalAccount, to: str, amount: TokenAmount) -> Transfer:
        receipt = self._send(minter, self.contract.functions.mint(to_checksum_address(to), amount))
        return self._one(receipt, Transfer)

    def burn(self, holder: LocalAccount, amount: TokenAmount) -> Transfer:
        receipt = self._send(holder, self.contract.functions.burn(amount))
        return self._one(receipt, Transfer)
