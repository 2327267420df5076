"""Registry: providers, validators, models and datasets; stake requirements; reverts."""

from __future__ import annotations

import pytest

from deai.chain.cids import cid_digest, cid_to_bytes
from deai.chain.compile import compile_contract
from deai.chain.events import ValidatorEndpointSet
from deai.chain.rpc import deploy
from deai.chain.types import AssetKind, ProviderState, WorkloadKind
from deai.errors import ContractRevert
from deai.market.discovery import ValidatorListing, list_validators
from deai.testing.market import Market, assert_reverts, cid
from deai.testing.plugin import Chain
from deai.units import tokens

ZERO = "0x" + "00" * 20


@pytest.fixture
def m(chain: Chain) -> Market:
    return Market(chain.w3, chain.deployment, chain.accounts)


def test_register_and_update_a_provider(m: Market) -> None:
    provider = m["provider1"]
    assert_reverts(m, lambda: m.registry.register_provider(provider, "http://p", cid("caps"), {}),
                   "stake below minimum")
    m.staking.deposit(provider, m.registry.min_provider_stake())
    prices = {WorkloadKind.INFERENCE: tokens(1), WorkloadKind.TRAINING: tokens(20)}
    registered = m.registry.register_provider(provider, "http://127.0.0.1:9010", cid("caps"), prices)
    assert registered.capability_cid == cid("caps") and registered.endpoint == "http://127.0.0.1:9010"
    assert registered.prices == (tokens(1), 0, 0, 0, tokens(20))
    info = m.registry.provider(m.addr("provider1"))
    assert info.state is ProviderState.ACTIVE and info.prices == prices
    assert info.capability_digest == cid_digest(cid("caps"))
    assert m.registry.is_active_provider(m.addr("provider1")) and m.registry.provider_count() == 1
    assert m.registry.did(m.addr("provider1")) == f"did:pkh:eip155:31337:{m.addr('provider1')}"

    m.registry.update_provider(provider, "http://127.0.0.1:9011", cid("caps2"), {WorkloadKind.EMBEDDING: 5})
    info = m.registry.provider(m.addr("provider1"))
    assert info.endpoint == "http://127.0.0.1:9011" and info.prices == {WorkloadKind.EMBEDDING: 5}
    m.registry.set_provider_active(provider, False)
    assert m.registry.provider_state(m.addr("provider1")) is ProviderState.PAUSED
    assert not m.registry.is_active_provider(m.addr("provider1"))


def test_provider_reverts(m: Market) -> None:
    provider = m["provider1"]
    m.staking.deposit(provider, tokens(200))
    assert_reverts(m, lambda: m.registry.register_provider(provider, "", cid("c"), {}), "empty endpoint")
    raw = m.registry.contract.functions.registerProvider("http://p", b"\x01\x55\x13\x20" + b"\x00" * 32, [])
    assert_reverts(m, lambda: m.registry._send(provider, raw), "not sha2-256")
    assert_reverts(m, lambda: m.registry.update_provider(provider, "http://p", cid("c"), {}),
                   "not a registered provider")
    assert_reverts(m, lambda: m.registry.set_provider_active(provider, True), "not a registered provider")
    m.registry.register_provider(provider, "http://p", cid("c"), {})
    assert_reverts(m, lambda: m.registry.register_provider(provider, "http://p", cid("c"), {}),
                   "already registered")
    assert_reverts(m, lambda: m.registry.update_provider(provider, "", cid("c"), {}), "empty endpoint")
    assert_reverts(m, lambda: m.registry.set_provider_active(provider, True), "already in that state")
    m.registry.set_provider_active(provider, False)
    m.staking.request_withdraw(provider, tokens(150))
    assert_reverts(m, lambda: m.registry.set_provider_active(provider, True), "stake below minimum")


def test_validators(m: Market) -> None:
    validator = m["validator1"]
    assert_reverts(m, lambda: m.registry.register_validator(validator), "stake below minimum")
    assert_reverts(m, lambda: m.registry.set_validator_active(validator, False), "not a registered validator")
    m.staking.deposit(validator, m.registry.min_validator_stake())
    registered = m.registry.register_validator(validator)
    assert registered.index == 0 and m.registry.validators() == [m.addr("validator1")]
    assert m.registry.is_active_validator(m.addr("validator1"))
    assert_reverts(m, lambda: m.registry.register_validator(validator), "already registered")
    assert_reverts(m, lambda: m.registry.set_validator_active(validator, True), "already in that state")
    m.registry.set_validator_active(validator, False)
    assert not m.registry.is_active_validator(m.addr("validator1"))
    m.staking.request_withdraw(validator, tokens(1))
    assert_reverts(m, lambda: m.registry.set_validator_active(validator, True), "stake below minimum")


def test_validators_publish_their_endpoints(m: Market) -> None:
    v1, v2 = m["validator1"], m["validator2"]
    assert_reverts(m, lambda: m.registry.set_validator_endpoint(v1, "http://127.0.0.1:9100"),
                   "not a registered validator")
    for validator in (v1, v2):
        m.staking.deposit(validator, m.registry.min_validator_stake())
        m.registry.register_validator(validator)
    assert_reverts(m, lambda: m.registry.set_validator_endpoint(v1, ""), "empty endpoint")
    assert m.registry.validator_endpoint(m.addr("validator1")) == ""

    published = m.registry.set_validator_endpoint(v1, "http://127.0.0.1:9100")
    assert isinstance(published, ValidatorEndpointSet)
    assert published.validator == m.addr("validator1") and published.endpoint == "http://127.0.0.1:9100"
    m.registry.set_validator_endpoint(v1, "https://v1.example:9101")  # the latest one counts
    m.registry.set_validator_endpoint(v2, "tcp://not-http")  # non-empty passes on chain; discovery drops it
    assert m.registry.validator_endpoint(m.addr("validator1")) == "https://v1.example:9101"
    assert m.registry.validator_endpoint(m.addr("validator2")) == "tcp://not-http"
    assert list_validators(m.registry) == [ValidatorListing(m.addr("validator1"), "https://v1.example:9101")]

    m.registry.set_validator_endpoint(v2, "http://127.0.0.1:9102")
    m.registry.set_validator_active(v1, False)
    assert list_validators(m.registry) == [ValidatorListing(m.addr("validator2"), "http://127.0.0.1:9102")]
    assert [v.address for v in list_validators(m.registry, active_only=False)] == \
        [m.addr("validator1"), m.addr("validator2")]


def test_models_and_datasets_with_lineage(m: Market) -> None:
    owner = m["client1"]
    data = m.registry.register_asset(owner, AssetKind.DATASET, cid("digits"), cid("cc-by"))
    assert data.kind is AssetKind.DATASET and data.cid == cid("digits") and data.parent_cids == ()
    model = m.registry.register_asset(owner, AssetKind.MODEL, cid("model"), cid("apache"),
                                      parents=[cid("digits"), cid("base-model")])
    assert model.parent_cids == (cid("digits"), cid("base-model"))
    asset = m.registry.asset(cid("model"))
    assert asset.exists and asset.owner == m.addr("client1") and asset.kind is AssetKind.MODEL
    assert asset.licence_digest == cid_digest(cid("apache"))
    assert asset.parent_digests == (cid_digest(cid("digits")), cid_digest(cid("base-model")))
    assert not m.registry.asset(cid("unknown")).exists
    moved = m.registry.transfer_asset(owner, cid("model"), m.addr("client2"))
    assert moved.previous_owner == m.addr("client1") and m.registry.asset(cid("model")).owner == m.addr("client2")


def test_asset_reverts(m: Market) -> None:
    owner = m["client1"]
    bad_kind = m.registry.contract.functions.registerAsset(3, cid_to_bytes(cid("a")), cid_to_bytes(cid("l")), [])
    assert_reverts(m, lambda: m.registry._send(owner, bad_kind), "unknown asset kind")
    assert_reverts(m, lambda: m.registry.register_asset(owner, AssetKind.MODEL, cid("a"), cid("l"), [cid("a")]),
                   "its own parent")
    m.registry.register_asset(owner, AssetKind.MODEL, cid("a"), cid("l"))
    assert_reverts(m, lambda: m.registry.register_asset(m["client2"], AssetKind.MODEL, cid("a"), cid("l")),
                   "already registered")
    assert_reverts(m, lambda: m.registry.transfer_asset(owner, cid("zzz"), m.addr("client2")), "unknown asset")
    assert_reverts(m, lambda: m.registry.transfer_asset(m["client2"], cid("a"), m.addr("client2")),
                   "only the asset owner")
    assert_reverts(m, lambda: m.registry.transfer_asset(owner, cid("a"), ZERO), "zero address")


def test_constructor_checks(m: Market) -> None:
    artifact = compile_contract("Registry")
    with pytest.raises(ContractRevert, match="token is the zero address"):
        deploy(m.w3, m["deployer"], artifact, ZERO, m.staking.address, 1, 1)
    with pytest.raises(ContractRevert, match="staking is the zero address"):
        deploy(m.w3, m["deployer"], artifact, m.token.address, ZERO, 1, 1)
