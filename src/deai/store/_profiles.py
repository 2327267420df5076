"""Import profiles: the parameters that decide a UnixFS CID (IPIP-0499).

- ``unixfs-v1-2025`` (default): CIDv1, raw leaves, 1 MiB chunks, balanced DAG of up to
  1024 links, HAMT above 256 KiB measured as the exact serialized node (``block-bytes``).
- ``kubo-v1``: ``ipfs add --cid-version 1`` with kubo's defaults: raw leaves, 256 KiB
  chunks, 174 links, HAMT above 256 KiB of link names and CIDs (``links-bytes``).
- ``unixfs-v0-2015``: plain ``ipfs add`` (CIDv0, dag-pb leaves), for reading the Qm… world.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from deai.errors import StoreError, did_you_mean

HamtEstimate = Literal["links-bytes", "block-bytes"]


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    chunk_size: int
    max_links: int
    raw_leaves: bool = True
    cid_version: int = 1
    hamt_threshold: int = 256 * 1024
    hamt_estimate: HamtEstimate = "block-bytes"
    hamt_fanout: int = 256

    def __post_init__(self) -> None:
        if not 1 <= self.chunk_size <= 1024 * 1024:
            raise StoreError(f"chunk size {self.chunk_size} is outside 1 B … 1 MiB")
        if self.max_links < 2:
            raise StoreError("a profile needs at least 2 links per node")
        fanout = self.hamt_fanout
        if fanout < 8 or fanout > 1024 or fanout & (fanout - 1) or fanout % 8:
            raise StoreError("HAMT fanout must be a power of two between 8 and 1024")


UNIXFS_V1_2025 = Profile("unixfs-v1-2025", chunk_size=1024 * 1024, max_links=1024)
KUBO_V1 = Profile("kubo-v1", chunk_size=256 * 1024, max_links=174, hamt_estimate="links-bytes")
UNIXFS_V0_2015 = Profile(
    "unixfs-v0-2015",
    chunk_size=256 * 1024,
    max_links=174,
    raw_leaves=False,
    cid_version=0,
    hamt_estimate="links-bytes",
)

PROFILES: dict[str, Profile] = {p.name: p for p in (UNIXFS_V1_2025, KUBO_V1, UNIXFS_V0_2015)}
DEFAULT_PROFILE = UNIXFS_V1_2025.name


def get_profile(profile: str | Profile) -> Profile:
    if isinstance(profile, Profile):
        return profile
    found = PROFILES.get(profile)
    if found is None:
        raise StoreError(
            f"unknown import profile {profile!r}",
            hint=did_you_mean(profile, PROFILES) or f"choose one of {', '.join(PROFILES)}",
        )
    return found
