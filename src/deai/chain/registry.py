"""Typed wrapper over the ``Registry`` contract: providers, validators, models and datasets.

CIDs go in as strings (``bafy…``) and are sent as binary CIDs; the registry stores their
digests, so reads return digests and the events return the full CIDs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from deai.chain.cids import cid_digest, cid_to_bytes
from deai.chain.contract import ContractWrapper
from deai.chain.events import (
    AssetRegistered,
    AssetTransferred,
    ProviderActiveSet,
    ProviderRegistered,
    ProviderUpdated,
    ValidatorActiveSet,
    ValidatorEndpointSet,
    ValidatorRegistered,
)
from deai.chain.types import Asset, AssetKind, ProviderInfo, ProviderState, WorkloadKind
from deai.errors import ChainError
from deai.identity.did import did_pkh
from deai.units import Address, TokenAmount

MAX_KINDS = 16
"""Length of a provider's price list on chain (MAX_KINDS in Registry.vy)."""


def price_list(prices: Mapping[WorkloadKind, int]) -> list[int]:
    """A kind → price mapping as the contract takes it: a list indexed by kind, 0 = not offered."""
    if not prices:
        return []
    out = [0] * (max(int(kind) for kind in prices) + 1)
    for kind, price in prices.items():
        if price < 0:
            raise ChainError(f"negative price for {WorkloadKind(kind).name}")
        out[int(kind)] = int(price)
    return out


class Registry(ContractWrapper):
    name = "Registry"

    # --- reading ----------------------------------------------------------------------------

    def min_provider_stake(self) -> TokenAmount:
        return TokenAmount(self._call(self.contract.functions.minProviderStake()))

    def min_validator_stake(self) -> TokenAmount:
        return TokenAmount(self._call(self.contract.functions.minValidatorStake()))

    def did(self, who: str) -> str:
        """The address's ``did:pkh`` on this chain."""
        return did_pkh(who, int(self.w3.eth.chain_id))

    def provider_state(self, who: str) -> ProviderState:
        return ProviderState(self._call(self.contract.functions.providerStateOf(to_checksum_address(who))))

    def provider(self, who: str) -> ProviderInfo:
        address = to_checksum_address(who)
        state, capability, endpoint = self._call(self.contract.functions.providers(address))
        prices = {
            kind: TokenAmount(price) for kind in WorkloadKind
            if (price := self._call(self.contract.functions.prices(address, int(kind)))) > 0
        }
        return ProviderInfo(Address(address), ProviderState(state), str(endpoint), bytes(capability), prices)

    def provider_count(self) -> int:
        return int(self._call(self.contract.functions.providerCount()))

    def is_active_provider(self, who: str) -> bool:
        return bool(self._call(self.contract.functions.isActiveProvider(to_checksum_address(who))))

    def is_active_validator(self, who: str) -> bool:
        return bool(self._call(self.contract.functions.isActiveValidator(to_checksum_address(who))))

    def validators(self) -> list[Address]:
        """Every validator ever registered, in registration order (active or not)."""
        count = int(self._call(self.contract.functions.validatorCount()))
        return [Address(self._call(self.contract.functions.validatorAt(i))) for i in range(count)]

    def asset(self, cid_or_digest: str | bytes) -> Asset:
        """A model or dataset by CID string or 32-byte digest; ``exists`` is False if unknown."""
        digest = cid_or_digest if isinstance(cid_or_digest, bytes) and len(cid_or_digest) == 32 \
            else cid_digest(cid_or_digest)
        owner, kind, licence, registered_at = self._call(self.contract.functions.assets(digest))
        parents = tuple(bytes(p) for p in self._call(self.contract.functions.parentsOf(digest)))
        return Asset(digest, Address(owner), AssetKind(kind),
                     bytes(licence), int(registered_at), parents)

    # --- providers --------------------------------------------------------------------------

    def register_provider(
        self, provider: LocalAccount, endpoint: str, capability_cid: str,
        prices: Mapping[WorkloadKind, int],
    ) -> ProviderRegistered:
        """Register ``provider`` (it must have staked the minimum first)."""
        receipt = self._send(provider, self.contract.functions.registerProvider(
            endpoint, cid_to_bytes(capability_cid), price_list(prices)
        ))
        return self._one(receipt, ProviderRegistered)

    def update_provider(
        self, provider: LocalAccount, endpoint: str, capability_cid: str,
        prices: Mapping[WorkloadKind, int],
    ) -> ProviderUpdated:
        receipt = self._send(provider, self.contract.functions.updateProvider(
            endpoint, cid_to_bytes(capability_cid), price_list(prices)
        ))
        return self._one(receipt, ProviderUpdated)

    def set_provider_active(self, provider: LocalAccount, active: bool) -> ProviderActiveSet:
        receipt = self._send(provider, self.contract.functions.setProviderActive(active))
        return self._one(receipt, ProviderActiveSet)

    # --- validators -------------------------------------------------------------------------

    def register_validator(self, validator: LocalAccount) -> ValidatorRegistered:
        return self._one(self._send(validator, self.contract.functions.registerValidator()),
                         ValidatorRegistered)

    def set_validator_active(self, validator: LocalAccount, active: bool) -> ValidatorActiveSet:
        receipt = self._send(validator, self.contract.functions.setValidatorActive(active))
        return self._one(receipt, ValidatorActiveSet)

    def set_validator_endpoint(self, validator: LocalAccount, endpoint: str) -> ValidatorEndpointSet:
        """Publish the URL ``validator``'s API and evidence gateway are served at (registered validators)."""
        if len(endpoint.encode()) > 256:
            raise ChainError(f"the endpoint is {len(endpoint.encode())} bytes; the Registry takes at most 256",
                             hint="publish a shorter URL (a host name and port)")
        receipt = self._send(validator, self.contract.functions.setValidatorEndpoint(endpoint))
        return self._one(receipt, ValidatorEndpointSet)

    def validator_endpoint(self, who: str, *, from_block: int = 0) -> str:
        """``who``'s latest published endpoint ("" if none), from its ``ValidatorEndpointSet`` events."""
        topics: list[str | None] = [str(self.contract.events.ValidatorEndpointSet().topic),
                                    "0x" + bytes(12).hex() + to_checksum_address(who)[2:].lower()]
        found = [e for e in self.events(from_block=from_block, topics=list(topics))
                 if isinstance(e, ValidatorEndpointSet)]
        return found[-1].endpoint if found else ""

    # --- models and datasets ----------------------------------------------------------------

    def register_asset(
        self, owner: LocalAccount, kind: AssetKind, cid: str, licence_cid: str,
        parents: Iterable[str] = (),
    ) -> AssetRegistered:
        receipt = self._send(owner, self.contract.functions.registerAsset(
            int(kind), cid_to_bytes(cid), cid_to_bytes(licence_cid), [cid_to_bytes(p) for p in parents]
        ))
        return self._one(receipt, AssetRegistered)

    def transfer_asset(self, owner: LocalAccount, cid: str, new_owner: str) -> AssetTransferred:
        receipt = self._send(owner, self.contract.functions.transferAsset(
            cid_digest(cid), to_checksum_address(new_owner)
        ))
        return self._one(receipt, AssetTransferred)
