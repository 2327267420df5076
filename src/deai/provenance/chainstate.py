"""What ``deai verify`` reads from the market contracts: a provider's standing, a job's fate.

Thin reads over the typed wrappers (``deai.chain.registry``, ``staking``, ``jobmarket``),
shaped for a verdict: one dataclass each, with the sentence a person reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from deai.chain.deploy import Deployment
from deai.chain.jobmarket import JobMarket
from deai.chain.registry import Registry
from deai.chain.staking import Staking
from deai.chain.types import JobStatus, ProviderState
from deai.units import format_tokens


@dataclass(frozen=True)
class ProviderStanding:
    address: str
    state: ProviderState
    active: bool
    """Registered, active and staked at least the minimum right now."""
    stake: int
    min_stake: int

    @property
    def registered_and_staked(self) -> bool:
        return self.state != ProviderState.UNREGISTERED and self.stake >= self.min_stake

    def describe(self) -> str:
        if self.state == ProviderState.UNREGISTERED:
            return f"{self.address} is not a registered provider (unknown key)"
        staked = f"stake {format_tokens(self.stake)} (minimum {format_tokens(self.min_stake)})"
        if self.active:
            return f"registered and active, {staked}"
        if self.stake < self.min_stake:
            return f"registered ({self.state.name.lower()}) but its stake is below the minimum: {staked}"
        return f"registered but {self.state.name.lower()}, {staked}"


@dataclass(frozen=True)
class JobStanding:
    job_id: int
    status: JobStatus
    provider: str
    committed_output: str | None
    """The output CID the provider committed (None when nothing was committed)."""
    committed_hash: str | None
    """The committed result hash, 0x hex."""
    commit_block: int | None


def provider_standing(w3: Web3, deployment: Deployment, address: str) -> ProviderStanding | None:
    """The provider's registration and stake; None when the deployment has no Registry."""
    if "Registry" not in deployment.contracts or "Staking" not in deployment.contracts:
        return None
    registry = Registry(w3, deployment)
    return ProviderStanding(
        address=address,
        state=registry.provider_state(address),
        active=registry.is_active_provider(address),
        stake=Staking(w3, deployment).stake_of(address),
        min_stake=registry.min_provider_stake(),
    )


def job_standing(w3: Web3, deployment: Deployment, job_id: int) -> JobStanding | None:
    """The job's status, provider and committed result; None when there is no JobMarket."""
    if "JobMarket" not in deployment.contracts:
        return None
    market = JobMarket(w3, deployment)
    job = market.job(job_id)
    committed = market.result(job_id, from_block=deployment.block) if job.status != JobStatus.NONE else None
    return JobStanding(
        job_id=job_id, status=job.status, provider=job.provider,
        committed_output=committed.output_cid if committed else None,
        committed_hash="0x" + committed.result_hash.hex() if committed else None,
        commit_block=committed.block_number if committed else None,
    )
