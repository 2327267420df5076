"""What a provider delivers for a result, and the request encodings, without a chain."""

from __future__ import annotations

import pytest

from deai.chain.ai_requests import AIParams, Policy, RequestConfig, RequestKind
from deai.chain.cids import bytes_to_cid
from deai.chain.types import Verification, VerificationMode
from deai.errors import InputError
from deai.node.onchain import decode_output, onchain_output, truncate_utf8
from deai.runtime.execute import OutputRef, WorkloadResult

pytestmark = pytest.mark.integration

CID = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


def _result(kind: str, result: dict[str, object]) -> WorkloadResult:
    out = OutputRef(name="primary", content_type="application/octet-stream", cid=CID, size=12)
    return WorkloadResult(spec_cid=CID, kind=kind, model=CID, outputs=(out,), result_hash="0x" + "00" * 32,
                          result=result)


def test_a_classification_is_delivered_as_an_abi_uint256() -> None:
    output = onchain_output(_result("classify", {"index": 7, "label": "7"}), output_as_cid=False)
    assert output == (7).to_bytes(32, "big")
    assert decode_output(output, RequestKind.CLASSIFY, output_as_cid=False) == 7


def test_a_generation_is_delivered_as_text_cut_on_a_character_boundary() -> None:
    text = "é" * 600  # 1200 bytes of two-byte characters
    output = onchain_output(_result("generate", {"text": text}), output_as_cid=False)
    assert len(output) == 1024 and output.decode() == "é" * 512
    assert truncate_utf8("aé".encode() * 3, 4) == b"a\xc3\xa9a"  # "aé" + "a": the next é does not fit
    assert truncate_utf8(b"abc", 10) == b"abc"


def test_an_output_as_cid_is_the_primary_files_binary_cid() -> None:
    output = onchain_output(_result("embed", {}), output_as_cid=True)
    assert bytes_to_cid(output) == CID
    assert decode_output(output, RequestKind.EMBED, output_as_cid=True) == CID
    with pytest.raises(InputError, match="as a CID"):
        onchain_output(_result("embed", {}), output_as_cid=False)


def test_the_packed_config_word_round_trips() -> None:
    params = AIParams(RequestKind.GENERATE, input_is_cid=True, max_tokens=300, temperature=1.25, seed=2**63 - 1)
    v = Verification.rescore(250)
    kind, in_cid, out_cid, tokens, centi, seed, param = params.as_tuple(v)
    word = (kind | in_cid << 8 | out_cid << 9 | 1 << 10 | tokens << 16 | centi << 32 | seed << 48 | param << 112
            | int(VerificationMode.RESCORE) << 128 | int(Policy.FINAL) << 136 | 123_456 << 144)
    config = RequestConfig.unpack(word)
    assert config.params == params and config.verification == v and config.policy is Policy.FINAL
    assert config.callback_gas_limit == 123_456 and config.dynamic_input


def test_generation_parameters_are_checked_before_sending() -> None:
    with pytest.raises(InputError, match="max_tokens"):
        AIParams(RequestKind.GENERATE, max_tokens=0)
    with pytest.raises(InputError, match="seed"):
        AIParams(RequestKind.GENERATE, seed=2**63)
    with pytest.raises(InputError, match="temperature"):
        AIParams(RequestKind.GENERATE, temperature=10.5)
    assert AIParams(RequestKind.GENERATE, temperature=0.07).temperature_centi == 7
