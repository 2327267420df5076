"""Deploy and wire the market contracts (Staking, Registry, ValidatorPool, JobMarket) with their parameters.

``deploy_protocol`` calls ``deploy_market`` after the token; the parameters are fixed per
deployment (immutables in the contracts, which keeps the job path cheap), so changing one
means deploying a new market. ``MarketParams()`` holds the devnet's choices.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3

from deai.chain.compile import compile_contract
from deai.chain.rpc import deploy, send
from deai.units import TokenAmount, tokens

_STAKE_MINIMUM = tokens(100)
_CHALLENGE_BOND = tokens(10)
_MIN_RECEIPT_SLASH = tokens(5)


@dataclass(frozen=True)
class MarketParams:
    """Deployment parameters of the market contracts (devnet defaults)."""

    unbonding_delay: int = 86_400
    """Seconds between asking to withdraw stake and being able to."""
    slash_beneficiary_bps: int = 5_000
    """Share of a slashed amount paid to whoever proved the fault; the rest goes to the treasury."""
    min_provider_stake: TokenAmount = _STAKE_MINIMUM
    min_validator_stake: TokenAmount = _STAKE_MINIMUM
    fee_bps: int = 100
    """Validator fee in basis points of a job's price, paid from the escrow on top of the price."""
    collateral_bps: int = 20_000
    """Stake a provider locks per job, in basis points of the price (sampled jobs: at least price/p)."""
    challenge_window: int = 60
    vote_window: int = 300
    challenge_bond: TokenAmount = _CHALLENGE_BOND
    committee_size: int = 3
    epoch_s: int = 60
    """Seconds of chain time per validator epoch: reputation scores are reported, and the
    ValidatorPool pays out the validator fees, per epoch (the validator's ``--epoch-s`` default)."""


@dataclass(frozen=True)
class ReceiptDisputeParams:
    """Deployment parameters of ``ReceiptDisputes``, the fast-path receipt challenges (devnet defaults)."""

    challenge_window: int = 3_600
    """Seconds after a receipt's ``issuedAt`` during which it may be challenged."""
    vote_window: int = 300
    challenge_bond: TokenAmount = _CHALLENGE_BOND
    committee_size: int = 3
    min_slash: TokenAmount = _MIN_RECEIPT_SLASH
    """The least a provider loses for a wrong response, however cheap the request."""
    sample_bps: int = 1_000
    """The fraction p of receipts validators re-run, in basis points; the slash is
    max(min_slash, price / p + 1), so that p · slash > price: faking a response does not pay."""


def deploy_market(
    w3: Web3,
    deployer: LocalAccount,
    token: str,
    *,
    treasury: str | None = None,
    params: MarketParams | None = None,
) -> dict[str, str]:
    """Deploy Staking, Registry, ValidatorPool and JobMarket for ``token``; returns name → address.

    The treasury (receiver of slashed stake, lost bonds and unclaimable validator fees)
    defaults to the deployer. The ValidatorPool is the JobMarket's fee recipient (it pays
    the fees out to the validators who report each epoch); it is deployed first, since the
    market takes its address, and told the market's with ``setMarket``. JobMarket is made a
    slasher and a locker of Staking, the Registry a locker.
    """
    p = params or MarketParams()
    treasury = treasury or deployer.address
    staking, _ = deploy(
        w3, deployer, compile_contract("Staking"), token, treasury, p.unbonding_delay,
        p.slash_beneficiary_bps,
    )
    registry, _ = deploy(
        w3, deployer, compile_contract("Registry"), token, staking, p.min_provider_stake,
        p.min_validator_stake,
    )
    pool, _ = deploy(
        w3, deployer, compile_contract("ValidatorPool"), token, staking, registry, treasury, p.epoch_s,
    )
    market, _ = deploy(
        w3, deployer, compile_contract("JobMarket"), token, staking, registry, treasury, pool,
        p.fee_bps, p.collateral_bps, p.challenge_window, p.vote_window, p.challenge_bond,
        p.committee_size,
    )
    staking_contract = w3.eth.contract(address=staking, abi=compile_contract("Staking").abi)  # type: ignore[call-overload]
    send(w3, deployer, staking_contract.functions.addSlasher(market))
    send(w3, deployer, staking_contract.functions.addLocker(market))
    send(w3, deployer, staking_contract.functions.addLocker(registry))
    pool_contract = w3.eth.contract(address=pool, abi=compile_contract("ValidatorPool").abi)  # type: ignore[call-overload]
    send(w3, deployer, pool_contract.functions.setMarket(market))
    return {"Staking": staking, "Registry": registry, "JobMarket": market, "ValidatorPool": pool}


def deploy_receipt_disputes(
    w3: Web3,
    deployer: LocalAccount,
    contracts: dict[str, str],
    *,
    params: ReceiptDisputeParams | None = None,
) -> str:
    """Deploy ``ReceiptDisputes`` over the deployed Token, Staking, Registry and Anchors
    (``contracts``: name → address) and make it a slasher of Staking (the deployer owns
    Staking); its treasury (rounding dust of split bonds) is Staking's. Returns its address.
    """
    p = params or ReceiptDisputeParams()
    staking = w3.eth.contract(address=contracts["Staking"], abi=compile_contract("Staking").abi)  # type: ignore[call-overload]
    treasury = str(staking.functions.treasury().call())
    disputes, _ = deploy(
        w3, deployer, compile_contract("ReceiptDisputes"), contracts["Token"], contracts["Staking"],
        contracts["Registry"], contracts["Anchors"], treasury, p.challenge_window, p.vote_window,
        p.challenge_bond, p.committee_size, p.min_slash, p.sample_bps,
    )
    send(w3, deployer, staking.functions.addSlasher(disputes))
    return disputes
