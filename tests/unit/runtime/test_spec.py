"""Workload specs: canonical bytes, defaults, limits, and errors that say what to fix."""

from __future__ import annotations

import json

import pytest

from deai.errors import SpecError
from deai.runtime.spec import MAX_SPEC_BYTES, WorkloadSpec, canonical_json

CID = "bafybeibucg5ir4drzkkdbsypsz3w5f43wvhoufvmylym36sgjlexxgjxim"
INPUT = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


def spec_dict(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {"kind": "classify", "model": CID, "inputs": [INPUT]}
    base.update(changes)
    return base


def test_canonical_bytes_are_sorted_compact_and_stable() -> None:
    spec = WorkloadSpec.parse(spec_dict(params={"seed": 7, "temperature": 0.5}))
    data = spec.canonical_bytes()
    assert b" " not in data and b"\n" not in data
    doc = json.loads(data)
    assert list(doc) == sorted(doc)
    assert doc["spec_version"] == 1 and doc["params"]["seed"] == 7
    # parse → write again gives the same bytes, and key order of the input does not matter
    assert WorkloadSpec.parse(data).canonical_bytes() == data
    shuffled = json.dumps(dict(reversed(list(spec_dict(params={"temperature": 0.5, "seed": 7}).items()))))
    assert WorkloadSpec.parse(shuffled).canonical_bytes() == data


def test_unset_optional_fields_are_left_out() -> None:
    doc = json.loads(WorkloadSpec.parse(spec_dict()).canonical_bytes())
    assert "top_k" not in doc["params"] and "sample_rate" not in doc["verification"]


def test_canonical_json_rejects_nan() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"kind": "dance"}, "kind"),
        ({"model": "not-a-cid"}, "model"),
        ({"inputs": []}, "needs at least one input"),
        ({"inputs": ["nope"]}, "inputs"),
        ({"params": {"temperature": 99}}, "params.temperature"),
        ({"params": {"temperature": float("inf")}}, "params.temperature"),
        ({"params": {"max_tokens": 0}}, "params.max_tokens"),
        ({"params": {"sede": 1}}, "params.sede"),
        ({"colour": "red"}, "colour"),
        ({"kind": "finetune", "inputs": [INPUT, INPUT]}, "exactly one dataset"),
        ({"verification": {"mode": "rescore"}}, "rescore"),
        ({"verification": {"mode": "sampled", "replicas": 3}}, "replicas"),
        ({"resources": {"cpus": 0}}, "resources.cpus"),
        ({"spec_version": 2}, "spec_version"),
    ],
)
def test_malformed_specs_raise_spec_error_naming_the_field(changes: dict[str, object], words: str) -> None:
    with pytest.raises(SpecError) as info:
        WorkloadSpec.parse(spec_dict(**changes))
    assert words in info.value.message


def test_image_workloads_may_have_no_input() -> None:
    spec = WorkloadSpec.parse({"kind": "image", "model": CID, "params": {"label": 3}})
    assert spec.inputs == ()


def test_rescore_and_redundant_carry_their_parameters() -> None:
    gen = WorkloadSpec.parse(spec_dict(kind="generate", verification={"mode": "rescore", "sample_rate": 0.1}))
    assert gen.verification.sample_rate == 0.1
    red = WorkloadSpec.parse(spec_dict(verification={"mode": "redundant", "replicas": 3}))
    assert red.verification.replicas == 3


def test_size_and_syntax_limits() -> None:
    with pytest.raises(SpecError, match="over the"):
        WorkloadSpec.parse(b"{" + b" " * MAX_SPEC_BYTES + b"}")
    with pytest.raises(SpecError, match="not valid JSON"):
        WorkloadSpec.parse(b"{kind: classify}")
    with pytest.raises(SpecError, match="JSON object"):
        WorkloadSpec.parse(b"[1, 2]")
    with pytest.raises(SpecError, match="inputs"):
        WorkloadSpec.parse(spec_dict(inputs=[INPUT] * 17))


def test_specs_are_immutable() -> None:
    spec = WorkloadSpec.parse(spec_dict())
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error type
        spec.kind = "embed"  # type: ignore[misc]
