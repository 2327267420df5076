"""Signed HTTP requests: every request that changes a node's state carries an EIP-712 signature.

The signed message binds the method, the path, the SHA-256 of the body, a nonce and an
expiry time; the domain names the chain id and the ``Registry`` contract the node is
registered in, so a request signed for one network is worthless on another. A node
accepts a request once: the (signer, nonce) pair is recorded in its SQLite state, and an
expired or replayed request is refused with ``SignatureError`` before anything happens.

Headers: ``X-Deai-Signer``, ``X-Deai-Nonce``, ``X-Deai-Expires``, ``X-Deai-Signature``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Mapping

from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address

from deai.errors import SignatureError
from deai.identity.signing import Eip712Domain, recover_typed, sign_typed
from deai.node.state import NodeState

REQUEST_TYPES: dict[str, list[dict[str, str]]] = {
    "NodeRequest": [
        {"name": "method", "type": "string"},
        {"name": "path", "type": "string"},
        {"name": "bodyHash", "type": "bytes32"},
        {"name": "nonce", "type": "uint256"},
        {"name": "expires", "type": "uint256"},
    ]
}
MAX_VALIDITY_S = 300  # a signature older than this is refused even if its expiry says otherwise


def request_domain(chain_id: int, registry_address: str) -> Eip712Domain:
    return Eip712Domain("deai-node", "1", chain_id, registry_address)


def _message(method: str, path: str, body: bytes, nonce: int, expires: int) -> dict[str, object]:
    return {
        "method": method.upper(),
        "path": path,
        "bodyHash": hashlib.sha256(body).digest(),
        "nonce": nonce,
        "expires": expires,
    }


def sign_request(
    account: LocalAccount,
    domain: Eip712Domain,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    validity_s: int = 60,
) -> dict[str, str]:
    """The headers that authenticate ``method path`` with ``body`` as ``account``."""
    nonce = secrets.randbits(128)
    expires = int(time.time()) + validity_s
    signature = sign_typed(
        account, domain, REQUEST_TYPES, "NodeRequest", _message(method, path, body, nonce, expires)
    )
    return {
        "X-Deai-Signer": account.address,
        "X-Deai-Nonce": str(nonce),
        "X-Deai-Expires": str(expires),
        "X-Deai-Signature": "0x" + signature.hex(),
    }


def verify_request(
    domain: Eip712Domain,
    state: NodeState,
    method: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
) -> str:
    """The checksummed signer of a request, after checking signature, expiry and replay."""
    try:
        signer = headers["X-Deai-Signer"]
        nonce = int(headers["X-Deai-Nonce"])
        expires = int(headers["X-Deai-Expires"])
        signature = bytes.fromhex(headers["X-Deai-Signature"].removeprefix("0x"))
    except (KeyError, ValueError):
        raise SignatureError(
            "the request is not signed",
            hint="send X-Deai-Signer, X-Deai-Nonce, X-Deai-Expires and X-Deai-Signature "
            "(deai.client does this for you)",
        ) from None
    if not is_address(signer):
        raise SignatureError(f"X-Deai-Signer is not an address: {signer!r}")
    current = time.time() if now is None else now
    if expires < current:
        raise SignatureError("the request's signature has expired", hint="sign it again")
    if expires > current + MAX_VALIDITY_S:
        raise SignatureError(
            f"the request's expiry is more than {MAX_VALIDITY_S} s away",
            hint="sign with a shorter validity",
        )
    recovered = recover_typed(
        domain,
        REQUEST_TYPES,
        "NodeRequest",
        _message(method, path, body, nonce, expires),
        signature,
    )
    if recovered != to_checksum_address(signer):
        raise SignatureError("the request's signature is not from X-Deai-Signer")
    if not state.use_nonce(recovered, nonce):
        raise SignatureError("this request was already accepted once (replayed nonce)")
    return recovered
