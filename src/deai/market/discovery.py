"""Find providers and validators: the Registry's events name their endpoints.

The Registry stores providers by address without a list (enumeration on chain would cost
every registration gas); the events carry everything, so discovery reads them once and
asks the contract which of them are still active. Validators publish their API's URL the
same way (``ValidatorEndpointSet``, an event only): committee members fetch a challenger's
evidence from it (``deai.node.receipt_checks``).
"""

from __future__ import annotations

from dataclasses import dataclass

from deai.chain.events import ProviderRegistered, ProviderUpdated, ValidatorEndpointSet
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


@dataclass(frozen=True)
class ValidatorListing:
    address: Address
    endpoint: str


def list_validators(
    registry: Registry, *, from_block: int = 0, active_only: bool = True
) -> list[ValidatorListing]:
    """Every validator's latest published http(s) endpoint, in the order they first published one.

    Validators that never published one are left out (they cannot be reached); the contract
    only checks that an endpoint is non-empty, so anything but an http(s) URL is left out too.
    """
    latest: dict[str, ValidatorListing] = {}
    for event in registry.events(from_block=from_block):
        if isinstance(event, ValidatorEndpointSet):
            latest[event.validator] = ValidatorListing(event.validator, event.endpoint)
    listings = [v for v in latest.values() if v.endpoint.startswith(("http://", "https://"))]
    if active_only:
        listings = [v for v in listings if registry.is_active_validator(v.address)]
    return listings
