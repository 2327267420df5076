"""Every error a user of deai can cause, in one tree.

Each error carries a one-line ``message`` saying what went wrong and a ``hint`` saying
what to do about it; the CLI prints both and exits with ``exit_code`` (a traceback only
with ``--debug``). Raising any of these leaves state as it was: code raises before it
writes, or undoes what it wrote.

::

    DeaiError
    ├── ConfigError                  bad setting or deai.toml
    ├── IdentityError
    │   ├── KeystoreNotFound         no account by that name or address (did you mean …)
    │   ├── KeystoreCorrupt          the keystore file is not a valid encrypted key
    │   ├── WrongPassword            the password does not decrypt the keystore
    │   ├── KeystoreExists           refusing to overwrite an account
    │   └── SignatureError           a signature is malformed or from the wrong signer
    ├── ChainError
    │   ├── AnvilNotFound            the anvil binary is missing (run make setup)
    │   ├── PortInUse                the devnet port is taken
    │   ├── DevnetNotRunning         no devnet for this data directory
    │   ├── DevnetAlreadyRunning     a devnet already runs for this data directory
    │   ├── ChainUnavailable         the JSON-RPC endpoint does not answer
    │   ├── ContractCompileError     a Vyper source failed to compile
    │   ├── ContractRevert           a transaction reverted; ``reason`` holds the contract's words
    │   └── InsufficientFunds        not enough tokens or gas
    ├── StoreError
    │   ├── InvalidCid               the string is not a CID
    │   ├── UnsupportedCid           codec or hash function deai does not handle
    │   ├── BlockNotFound            no block (or gateway) has that CID
    │   ├── CorruptBlock             bytes do not hash to their CID
    │   ├── BlockTooLarge            a block over the 2 MiB limit
    │   ├── QuotaExceeded            the blockstore is full
    │   └── CarError                 a CAR file is malformed
    ├── WorkloadError
    │   ├── SpecError                a workload spec is malformed or too large
    │   ├── ModelError               a model artifact is unknown or not what its manifest says
    │   └── InputError               an input has the wrong shape, type or size
    ├── MarketError
    │   └── VoucherError             a payment voucher is stale, over the deposit or for another channel
    ├── ProvenanceError
    │   ├── MerkleError              an empty tree, a leaf that is not 32 bytes, a malformed proof
    │   ├── ManifestError            a provenance manifest or anchored record is malformed or unknown
    │   └── CredentialError          a C2PA credential cannot be made, embedded or read
    ├── VerificationError
    │   ├── EvidenceError            a challenge's evidence is malformed or does not fit the job
    │   ├── CommitmentError          an activation commitment is malformed or of an unknown scheme
    │   ├── ReceiptFault             a provider did not serve, or served inconsistent data for, an anchored receipt
    │   └── NotReceiptBatch          an anchored batch holds no receipts (e.g. provenance manifests): nothing to check
    ├── NodeError
    │   ├── NodeStateError           an out-of-order change to a node's job records
    │   ├── JobTimedOut              a workload ran past its time budget and was killed
    │   ├── JobOutOfMemory           a workload went over its memory budget and was killed
    │   └── WorkerCrashed            a worker process died or raised an unexpected error
    └── AnalyticsError
        ├── IndexInUse               another process (a running explorer) holds the chain index
        └── IndexerError             bad indexer settings or a damaged index file
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DeaiError(Exception):
    """Root of every error deai raises on purpose."""

    exit_code: int = 1
    default_hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A "did you mean …" hint fragment for a misspelled name, or an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"did you mean {close[0]!r}?" if close else ""


# --- configuration -------------------------------------------------------------------------


class ConfigError(DeaiError):
    exit_code = 2
    default_hint = "check your DEAI_* environment variables and deai.toml"


# --- identity ------------------------------------------------------------------------------


class IdentityError(DeaiError):
    exit_code = 3
    default_hint = "see `deai keys --help`"


class KeystoreNotFound(IdentityError):
    default_hint = "list accounts with `deai keys list` or create one with `deai keys new`"


class KeystoreCorrupt(IdentityError):
    default_hint = "restore the file from a backup or import the key again with `deai keys import`"


class WrongPassword(IdentityError):
    default_hint = "check the password (prompt, DEAI_PASSWORD or --password-file)"


class KeystoreExists(IdentityError):
    default_hint = "choose another name or delete the existing keystore first"


class SignatureError(IdentityError):
    default_hint = "sign again with the right key and the same domain (chain id and contract)"


# --- chain ---------------------------------------------------------------------------------


class ChainError(DeaiError):
    exit_code = 4
    default_hint = "check the chain with `deai devnet status`"


class AnvilNotFound(ChainError):
    default_hint = "run `make setup` (installs anvil from the npm registry) or set DEAI_ANVIL_BIN"


class PortInUse(ChainError):
    default_hint = "choose another port with --port, or leave it out to pick a free one"


class DevnetNotRunning(ChainError):
    default_hint = "start it with `deai devnet up`"


class DevnetAlreadyRunning(ChainError):
    default_hint = "stop it with `deai devnet down` or use another data directory (DEAI_DATA_DIR)"


class ChainUnavailable(ChainError):
    default_hint = "check that the chain's JSON-RPC endpoint is up (`deai devnet status`)"


class ContractCompileError(ChainError):
    default_hint = "fix the Vyper source; the compiler's message says where"


class ContractRevert(ChainError):
    """A transaction or call reverted; ``reason`` is the contract's own revert string."""

    default_hint = "the contract refused the call; its reason says why"

    def __init__(self, reason: str, *, function: str = "", hint: str | None = None) -> None:
        where = f"{function}: " if function else ""
        super().__init__(f"{where}reverted: {reason}", hint=hint)
        self.reason = reason
        self.function = function


class InsufficientFunds(ChainError):
    default_hint = "fund the account (on the devnet: `deai devnet fund ADDRESS AMOUNT`)"


# --- store ---------------------------------------------------------------------------------


class StoreError(DeaiError):
    exit_code = 5
    default_hint = "see `deai store --help`"


class InvalidCid(StoreError):
    default_hint = "a CID looks like bafy… (CIDv1 base32) or Qm… (CIDv0)"


class UnsupportedCid(StoreError):
    default_hint = "deai handles CIDv0/CIDv1 with sha2-256 and the raw or dag-pb codecs"


class BlockNotFound(StoreError):
    default_hint = "add the data with `deai store add` or name a gateway that has it"


class CorruptBlock(StoreError):
    default_hint = "the bytes were damaged or a peer lied; fetch them again from another source"


class BlockTooLarge(StoreError):
    default_hint = "blocks are limited to 2 MiB; chunk the data with `deai store add`"


class QuotaExceeded(StoreError):
    default_hint = "free space with `deai store gc` or raise the quota (DEAI_STORE_QUOTA_BYTES)"


class CarError(StoreError):
    default_hint = "the file is not a valid CAR v1/v2 archive"


# --- workloads and runtimes ----------------------------------------------------------------


class WorkloadError(DeaiError):
    exit_code = 6
    default_hint = "see `deai model show CID` for what a model accepts"


class SpecError(WorkloadError):
    default_hint = "fix the workload spec; `deai model show CID` lists what a model accepts"


class ModelError(WorkloadError):
    default_hint = "add the model with `deai model add` and check its deai-model.json"


class InputError(WorkloadError):
    default_hint = "match the model's input schema (`deai model show CID`)"


# --- market and payment channels ------------------------------------------------------------


class MarketError(DeaiError):
    exit_code = 7
    default_hint = "see `deai job --help`; `deai job status ID` says where a job is and why"


class VoucherError(MarketError):
    """A voucher a provider must refuse; ``reason`` is a short machine-readable code."""

    default_hint = "sign a new voucher for the channel's next cumulative amount (or top up the channel)"

    def __init__(self, message: str, *, reason: str = "invalid", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


# --- provenance ------------------------------------------------------------------------------


class ProvenanceError(DeaiError):
    exit_code = 8
    default_hint = "check the output with `deai verify FILE|CID`; docs/provenance.md explains each check"


class MerkleError(ProvenanceError):
    default_hint = "leaves are 32-byte digests; build the tree again from the batch's leaves"


class ManifestError(ProvenanceError):
    default_hint = "check the file with `deai verify FILE`; manifests are written by the provider that ran the job"


class CredentialError(ProvenanceError):
    default_hint = "C2PA credentials need a PNG or JPEG and an ES256 certificate chain (see docs/provenance.md)"


# --- verification --------------------------------------------------------------------------


class VerificationError(DeaiError):
    exit_code = 11
    default_hint = "see docs/verification.md; `deai job status ID` says how a dispute ended"


class EvidenceError(VerificationError):
    default_hint = "evidence names the job, the committed output and hash, and a failed check"


class CommitmentError(VerificationError):
    default_hint = "the commitment is the provider's; a malformed one counts against its result"


class ReceiptFault(VerificationError):
    """A provider failed a validator asking about one of its anchored receipts.

    ``permanent``: what it served contradicts its own signature or anchor (asking again will
    not help); otherwise it did not answer (down, or not serving) and may be asked again.
    """

    default_hint = "a provider serves every anchored receipt, its proof and its exchange until the challenge window ends"

    def __init__(self, message: str, *, hint: str | None = None, permanent: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.permanent = permanent


class NotReceiptBatch(VerificationError):
    """An anchored batch is not a fast-path receipt batch: the provider anchors its provenance
    manifests through the same ``Anchors`` contract. Nothing to check there, and no fault."""

    default_hint = "receipt checks skip it; provenance batches are checked by `deai verify`"


# --- nodes ---------------------------------------------------------------------------------


class NodeError(DeaiError):
    exit_code = 10
    default_hint = "see the node's log under its data directory"


class NodeStateError(NodeError):
    default_hint = "the node's database refused an out-of-order change; see the node log"


class JobTimedOut(NodeError):
    default_hint = "raise the job's time budget or give it a smaller workload"


class JobOutOfMemory(NodeError):
    default_hint = "raise the job's memory budget or give it a smaller workload"


class WorkerCrashed(NodeError):
    default_hint = "the worker was replaced; the message says what it raised"


# --- analytics and the explorer ------------------------------------------------------------


class AnalyticsError(DeaiError):
    exit_code = 9
    default_hint = "see `deai index status`"


class IndexInUse(AnalyticsError):
    default_hint = (
        "a running `deai explorer` holds the index; `deai stats` asks it over HTTP, "
        "or stop it first"
    )


class IndexerError(AnalyticsError):
    default_hint = "delete the index file (it is rebuilt from the chain) or fix the setting"
