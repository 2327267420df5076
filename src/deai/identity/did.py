"""``did:pkh`` identifiers (CAIP-10 account ids as DIDs) for EVM addresses."""

from __future__ import annotations

from eth_utils.address import is_address, to_checksum_address

from deai.errors import IdentityError


def did_pkh(address: str, chain_id: int) -> str:
    """``did:pkh:eip155:<chain_id>:<checksummed address>``."""
    if not is_address(address):
        raise IdentityError(
            f"not an EVM address: {address!r}", hint="expected 0x and 40 hex digits"
        )
    return f"did:pkh:eip155:{chain_id}:{to_checksum_address(address)}"


def parse_did_pkh(did: str) -> tuple[int, str]:
    """The (chain id, checksummed address) a ``did:pkh:eip155`` names."""
    parts = did.split(":")
    if len(parts) != 5 or parts[:3] != ["did", "pkh", "eip155"] or not parts[3].isdigit():
        raise IdentityError(
            f"not a did:pkh EVM identifier: {did!r}",
            hint="expected did:pkh:eip155:<chain id>:<0x address>",
        )
    if not is_address(parts[4]):
        raise IdentityError(f"bad address in {did!r}", hint="expected 0x and 40 hex digits")
    return int(parts[3]), to_checksum_address(parts[4])
