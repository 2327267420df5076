"""Find providers: the Registry's events name every provider's endpoint and capability CID.

The Registry stores providers by address without a list (enumeration on chain would cost
every registration gas); the events carry everything, so discovery reads them once and
asks the contract which of them are still active.
"""

from __future__ import annotations

from dataclasses import dataclass

from deai.chain.events import ProviderRegistered, ProviderUpdated
from deai.chain.registry import Registry
from deai.units import Address, Cid


@dataclass(frozen=True)
class ProviderListing:
    address: Address
    endpoint: str
    capability_cid: Cid


def list_providers(
    registry: Registry, *, from_block: int = 0, active_only: bool = True
) -> list[ProviderListing]:
    """Every registered provider's latest endpoint and capability CID, in registration order."""
    latest: dict[str, ProviderListing] = {}
    for event in registry.events(from_block=from_block):
        if isinstance(event, (ProviderRegistered, ProviderUpdated)):
            latest[event.provider] = ProviderListing(
                event.provider, event.endpoint, event.capability_cid
            )
    listings = list(latest.values())
    if active_only:
        listings = [p for p in listings if registry.is_active_provider(p.address)]
    return listings
