"""Signed node requests: accepted once, refused when forged, replayed, expired or moved."""

from __future__ import annotations

import pytest
from eth_account import Account

from deai.errors import SignatureError
from deai.node.auth import request_domain, sign_request, verify_request
from deai.node.state import MemoryNodeState

CLIENT = Account.from_key("0x" + "44" * 32)
DOMAIN = request_domain(31337, "0x" + "12" * 20)


def test_a_signed_request_is_accepted_once() -> None:
    state = MemoryNodeState()
    headers = sign_request(CLIENT, DOMAIN, "post", "/v1/store/car", b"body")
    assert (
        verify_request(DOMAIN, state, "POST", "/v1/store/car", b"body", headers) == CLIENT.address
    )
    with pytest.raises(SignatureError, match="replayed"):
        verify_request(DOMAIN, state, "POST", "/v1/store/car", b"body", headers)


@pytest.mark.parametrize(
    ("method", "path", "body", "domain"),
    [
        ("POST", "/v1/store/car", b"other body", DOMAIN),
        ("POST", "/v1/jobs", b"body", DOMAIN),
        ("PUT", "/v1/store/car", b"body", DOMAIN),
        ("POST", "/v1/store/car", b"body", request_domain(1, "0x" + "12" * 20)),
        ("POST", "/v1/store/car", b"body", request_domain(31337, "0x" + "34" * 20)),
    ],
)
def test_a_signature_does_not_cover_anything_else(
    method: str, path: str, body: bytes, domain: object
) -> None:
    headers = sign_request(CLIENT, DOMAIN, "POST", "/v1/store/car", b"body")
    with pytest.raises(SignatureError, match="not from"):
        verify_request(domain, MemoryNodeState(), method, path, body, headers)  # type: ignore[arg-type]


def test_missing_forged_and_expired_signatures() -> None:
    state = MemoryNodeState()
    with pytest.raises(SignatureError, match="not signed"):
        verify_request(DOMAIN, state, "POST", "/x", b"", {})
    headers = sign_request(CLIENT, DOMAIN, "POST", "/x")
    forged = {**headers, "X-Deai-Signer": Account.from_key("0x" + "55" * 32).address}
    with pytest.raises(SignatureError, match="not from"):
        verify_request(DOMAIN, state, "POST", "/x", b"", forged)
    with pytest.raises(SignatureError, match="expired"):
        verify_request(
            DOMAIN, state, "POST", "/x", b"", headers, now=int(headers["X-Deai-Expires"]) + 1
        )
    far = sign_request(CLIENT, DOMAIN, "POST", "/x", validity_s=3600)
    with pytest.raises(SignatureError, match="more than"):
        verify_request(DOMAIN, state, "POST", "/x", b"", far)
