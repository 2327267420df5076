"""Who signs: accounts, encrypted keystores, DIDs and domain-separated signatures.

- ``Keystore`` (keystore.py) — named accounts in encrypted JSON keystores (eth-account V3,
  scrypt) under ``<data_dir>/keystores``; create, list, load, import, export.
- ``did_pkh`` / ``parse_did_pkh`` (did.py) — ``did:pkh:eip155:<chain>:<address>`` identifiers.
- ``Eip712Domain``, ``sign_typed``, ``recover_typed``, ``sign_text``, ``recover_text``
  (signing.py) — EIP-712 typed data with a mandatory chain id and verifying contract,
  and EIP-191 personal messages; every signature deai makes goes through here.
- ``resolve_password`` (passwords.py) — a password from the config, a file or a prompt.
"""

from deai.identity.did import did_pkh, parse_did_pkh
from deai.identity.keystore import AccountInfo, Keystore
from deai.identity.passwords import resolve_password
from deai.identity.signing import (
    Eip712Domain,
    recover_text,
    recover_typed,
    sign_text,
    sign_typed,
)

__all__ = [
    "AccountInfo",
    "Eip712Domain",
    "Keystore",
    "did_pkh",
    "parse_did_pkh",
    "recover_text",
    "recover_typed",
    "resolve_password",
    "sign_text",
    "sign_typed",
]
