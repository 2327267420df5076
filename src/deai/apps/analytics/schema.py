"""The index's tables and views in DuckDB: facts written from events, state derived from facts.

Three layers, each a pure function of the one before, which is what makes the indexer
idempotent and reorg-safe:

1. **Fact tables** (``FACT_TABLES``) — one row per decoded event, keyed by
   ``(block_number, log_index)``. Re-reading blocks from N on deletes every fact row at or
   above N and writes them again, so a replay never duplicates and a reorged block's rows
   are replaced by the new chain's.
2. **State tables** (``STATE_SQL``) — providers, jobs, bids, payments, stakes, slashes,
   channels, models, datasets, balances, validators, nfts, on-chain AI requests and
   subscriptions: rebuilt from the facts with
   ``CREATE OR REPLACE TABLE … AS SELECT`` in the same transaction as the facts they read.
   DuckDB rebuilds them in milliseconds at devnet scale and in well under a second for a
   million events, and a rebuild can never drift from the facts the way in-place updates can.
3. **Views** (``VIEW_SQL``) — the analytical shapes the questions need (prices over time,
   reliability, latency, revenue, verification outcomes); ``queries.py`` aggregates them.

Amounts are ``HUGEINT`` (128-bit): token amounts in the smallest unit exceed 64 bits.
Times are unix seconds (``BIGINT``) taken from block timestamps, never the indexer's clock,
so two indexers of one chain write identical tables.
"""

from __future__ import annotations

SCHEMA_VERSION = 5
"""Bump when a table changes shape; an index of another version is rebuilt from the chain."""

_EVENT_KEY = "block_number BIGINT NOT NULL, log_index INTEGER NOT NULL, tx_hash VARCHAR NOT NULL, ts BIGINT NOT NULL"

FACT_TABLES: dict[str, str] = {
    "events": "contract VARCHAR, name VARCHAR, args VARCHAR",
    "transfers": "sender VARCHAR, receiver VARCHAR, amount HUGEINT",
    "stake_events": (
        "who VARCHAR, kind VARCHAR, amount HUGEINT, staked_after HUGEINT, "
        "unbonding_after HUGEINT, unlock_at BIGINT"
    ),
    "slash_events": (
        "who VARCHAR, slasher VARCHAR, beneficiary VARCHAR, amount HUGEINT, "
        "to_beneficiary HUGEINT, to_treasury HUGEINT, job_id BIGINT, receipt_digest VARCHAR"
    ),
    "provider_events": (
        "provider VARCHAR, kind VARCHAR, endpoint VARCHAR, capability_cid VARCHAR, prices VARCHAR"
    ),
    "provider_prices": "provider VARCHAR, kind_index INTEGER, workload_kind VARCHAR, price HUGEINT",
    "validator_events": "validator VARCHAR, kind VARCHAR, endpoint VARCHAR",
    "asset_events": (
        "cid VARCHAR, digest VARCHAR, asset_kind VARCHAR, event VARCHAR, owner VARCHAR, "
        "previous_owner VARCHAR, licence_cid VARCHAR"
    ),
    "asset_parents": "child_cid VARCHAR, parent_cid VARCHAR, position INTEGER",
    "job_events": (
        "job_id BIGINT, event VARCHAR, reason_code INTEGER, reason VARCHAR, status VARCHAR, "
        "client VARCHAR, provider VARCHAR, price HUGEINT, max_price HUGEINT, spec_cid VARCHAR, "
        "output_cid VARCHAR, result_hash VARCHAR, window_end BIGINT, deadline BIGINT, "
        "mode VARCHAR, param INTEGER, collateral HUGEINT, best BOOLEAN, challenger VARCHAR, "
        "bond HUGEINT, committee VARCHAR, fraud BOOLEAN, paid HUGEINT, fee HUGEINT, "
        "refunded HUGEINT, slashed HUGEINT"
    ),
    "market_flows": "account VARCHAR, kind VARCHAR, amount HUGEINT",
    "reputation_events": "provider VARCHAR, score INTEGER",
    "channel_events": (
        "channel_id VARCHAR, event VARCHAR, client VARCHAR, provider VARCHAR, amount HUGEINT, "
        "deposit HUGEINT, payout HUGEINT, refund HUGEINT, closes_at BIGINT"
    ),
    "anchors": "provider VARCHAR, sequence HUGEINT, root VARCHAR, leaf_count BIGINT, uri VARCHAR",
    "nft_events": (
        "token_id HUGEINT, event VARCHAR, sender VARCHAR, receiver VARCHAR, provider VARCHAR, "
        "sequence HUGEINT, uri VARCHAR"
    ),
    # AIRequests: one row per request event (AIRequested, AIDelivered, CallbackCalled,
    # AIRequestFailed); ``output`` is the delivered bytes as 0x hex, decoded for display by
    # the request's kind; ``gas_limit`` is the request's callback gas (AIRequested) or the
    # limit a callback ran with (CallbackCalled) — the contract does not log gas used.
    "ai_request_events": (
        "request_id BIGINT, event VARCHAR, consumer VARCHAR, subscription_id BIGINT, "
        "model_cid VARCHAR, input_cid VARCHAR, kind VARCHAR, output_as_cid BOOLEAN, "
        "verification VARCHAR, policy VARCHAR, gas_limit BIGINT, max_price HUGEINT, "
        "provider VARCHAR, output VARCHAR, manifest_cid VARCHAR, refunded HUGEINT, "
        "compensation HUGEINT, disputed BOOLEAN, success BOOLEAN, reason_code INTEGER, reason VARCHAR"
    ),
    "ai_subscription_events": (
        "subscription_id BIGINT, event VARCHAR, consumer VARCHAR, model_cid VARCHAR, kind VARCHAR, "
        "max_price HUGEINT, period BIGINT, rounds BIGINT, dynamic_input BOOLEAN, request_id BIGINT, "
        "round BIGINT, refunded HUGEINT"
    ),
    "ai_flows": "account VARCHAR, payer VARCHAR, kind VARCHAR, amount HUGEINT",
    # ReceiptDisputes: fast-path receipt challenges, keyed by the receipt's EIP-712 digest.
    "receipt_dispute_events": (
        "digest VARCHAR, event VARCHAR, reason_code INTEGER, reason VARCHAR, provider VARCHAR, "
        "challenger VARCHAR, receipt_sequence HUGEINT, anchor_sequence HUGEINT, evidence_cid VARCHAR, "
        "committee VARCHAR, vote_end BIGINT, validator VARCHAR, fraud BOOLEAN, status VARCHAR, "
        "slashed HUGEINT, bond_returned HUGEINT"
    ),
    # ValidatorPool: score reports (``amount`` = the reporter's weight), fee syncs (``pot``
    # after), share claims, sweeps (``validator`` = the recipient) and the market being set.
    "pool_events": (
        "event VARCHAR, reason_code INTEGER, reason VARCHAR, validator VARCHAR, epoch BIGINT, "
        "root VARCHAR, uri VARCHAR, amount HUGEINT, pot HUGEINT"
    ),
}
"""Fact table → its columns after the common event key."""

META_SQL = [
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
    # Hashes of the blocks the index has seen (every block with events and each range's
    # last block): comparing them with the chain finds how far back a reorg reaches.
    "CREATE TABLE IF NOT EXISTS blocks (block_number BIGINT NOT NULL, block_hash VARCHAR NOT NULL, ts BIGINT NOT NULL)",
    # Off-chain: a job spec's workload kind, read from the local store when the spec is there.
    "CREATE TABLE IF NOT EXISTS spec_kinds (spec_cid VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL)",
]


def fact_ddl() -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {table} ({_EVENT_KEY}, {columns})"
        for table, columns in FACT_TABLES.items()
    ]


# State tables, in dependency order. ``arg_max(x, (block_number, log_index))`` is "x as of the
# latest event", which makes each one a deterministic function of the facts.
_LAST = "(block_number, log_index)"

STATE_SQL: dict[str, str] = {
    "jobs": f"""
        SELECT e.job_id,
          max(e.client) FILTER (WHERE e.event = 'JobPosted') AS client,
          max(e.spec_cid) FILTER (WHERE e.event = 'JobPosted') AS spec_cid,
          coalesce(max(k.kind), 'unknown') AS workload_kind,
          max(e.max_price) FILTER (WHERE e.event = 'JobPosted') AS max_price,
          max(e.mode) FILTER (WHERE e.event = 'JobPosted') AS mode,
          max(e.param) FILTER (WHERE e.event = 'JobPosted') AS param,
          max(e.window_end) FILTER (WHERE e.event = 'JobPosted') AS bid_window_end,
          max(e.deadline) FILTER (WHERE e.event = 'JobPosted') AS deadline,
          min(e.ts) FILTER (WHERE e.event = 'JobPosted') AS posted_at,
          min(e.block_number) FILTER (WHERE e.event = 'JobPosted') AS posted_block,
          arg_max(e.provider, {_LAST}) FILTER (WHERE e.event = 'JobAssigned') AS provider,
          arg_max(e.price, {_LAST}) FILTER (WHERE e.event = 'JobAssigned') AS price,
          arg_max(e.collateral, {_LAST}) FILTER (WHERE e.event = 'JobAssigned') AS collateral,
          min(e.ts) FILTER (WHERE e.event = 'JobAssigned') AS assigned_at,
          arg_max(e.output_cid, {_LAST}) FILTER (WHERE e.event = 'ResultCommitted') AS output_cid,
          arg_max(e.result_hash, {_LAST}) FILTER (WHERE e.event = 'ResultCommitted') AS result_hash,
          min(e.ts) FILTER (WHERE e.event = 'ResultCommitted') AS committed_at,
          bool_or(e.event = 'JobChallenged') AS disputed,
          arg_max(e.status, {_LAST}) FILTER (WHERE e.status IS NOT NULL) AS status,
          arg_max(e.reason_code, {_LAST}) AS reason_code,
          arg_max(e.reason, {_LAST}) AS reason,
          min(e.ts) FILTER (WHERE e.event = 'JobSettled') AS settled_at,
          arg_max(e.paid, {_LAST}) FILTER (WHERE e.event = 'JobSettled') AS paid,
          arg_max(e.fee, {_LAST}) FILTER (WHERE e.event = 'JobSettled') AS fee,
          arg_max(e.refunded, {_LAST}) FILTER (WHERE e.event = 'JobSettled') AS refunded,
          arg_max(e.slashed, {_LAST}) FILTER (WHERE e.event = 'JobSettled') AS slashed,
          count(*) FILTER (WHERE e.event = 'BidPlaced') AS bid_count,
          max(e.block_number) AS last_block,
          max(e.ts) AS updated_at
        FROM job_events e LEFT JOIN spec_kinds k ON k.spec_cid = e.spec_cid
        GROUP BY e.job_id
    """,
    "bids": """
        SELECT block_number, log_index, tx_hash, ts, job_id, provider, price, best
        FROM job_events WHERE event = 'BidPlaced'
    """,
    "payments": """
        SELECT e.block_number, e.log_index, e.tx_hash, e.ts, e.job_id, j.client, j.provider,
               e.status, e.reason, e.paid, e.fee, e.refunded, e.slashed
        FROM job_events e JOIN jobs j USING (job_id) WHERE e.event = 'JobSettled'
    """,
    "slashes": """
        SELECT block_number, log_index, tx_hash, ts, who, slasher, beneficiary, amount,
               to_beneficiary, to_treasury, job_id, receipt_digest
        FROM slash_events
    """,
    "receipt_disputes": f"""
        SELECT digest,
               max(provider) FILTER (WHERE event = 'ReceiptChallenged') AS provider,
               max(challenger) FILTER (WHERE event = 'ReceiptChallenged') AS challenger,
               max(receipt_sequence) FILTER (WHERE event = 'ReceiptChallenged') AS receipt_sequence,
               max(anchor_sequence) FILTER (WHERE event = 'ReceiptChallenged') AS anchor_sequence,
               max(evidence_cid) FILTER (WHERE event = 'ReceiptChallenged') AS evidence_cid,
               max(committee) FILTER (WHERE event = 'ReceiptChallenged') AS committee,
               max(vote_end) FILTER (WHERE event = 'ReceiptChallenged') AS vote_end,
               min(ts) FILTER (WHERE event = 'ReceiptChallenged') AS challenged_at,
               count(*) FILTER (WHERE event = 'ReceiptVoteCast') AS votes,
               count(*) FILTER (WHERE event = 'ReceiptVoteCast' AND fraud) AS fraud_votes,
               coalesce(arg_max(status, {_LAST}) FILTER (WHERE event = 'ReceiptDisputeResolved'), 'OPEN') AS status,
               arg_max(reason_code, {_LAST}) AS reason_code,
               arg_max(reason, {_LAST}) AS reason,
               coalesce(sum(slashed), 0) AS slashed,
               sum(bond_returned) AS bond_returned,
               min(ts) FILTER (WHERE event = 'ReceiptDisputeResolved') AS resolved_at
        FROM receipt_dispute_events GROUP BY digest
    """,
    "stakes": f"""
        SELECT who AS address,
               arg_max(staked_after, {_LAST}) AS staked,
               arg_max(unbonding_after, {_LAST}) AS unbonding,
               arg_max(unlock_at, {_LAST}) AS unlock_at,
               sum(amount) FILTER (WHERE kind = 'staked') AS deposited,
               coalesce(sum(amount) FILTER (WHERE kind = 'slashed'), 0) AS slashed,
               max(ts) AS updated_at
        FROM stake_events GROUP BY who
    """,
    "balances": """
        SELECT address, sum(delta) AS balance FROM (
            SELECT receiver AS address, amount AS delta FROM transfers
            UNION ALL SELECT sender, -amount FROM transfers
        ) WHERE address <> '0x0000000000000000000000000000000000000000'
        GROUP BY address
    """,
    "providers": f"""
        WITH reg AS (
            SELECT provider AS address,
                   min(ts) FILTER (WHERE kind = 'registered') AS registered_at,
                   arg_max(endpoint, {_LAST}) FILTER (WHERE endpoint IS NOT NULL) AS endpoint,
                   arg_max(capability_cid, {_LAST}) FILTER (WHERE capability_cid IS NOT NULL) AS capability_cid,
                   arg_max(prices, {_LAST}) FILTER (WHERE prices IS NOT NULL) AS prices,
                   coalesce(arg_max(kind, {_LAST}) FILTER (WHERE kind IN ('registered', 'activated', 'paused')), 'registered') <> 'paused' AS active
            FROM provider_events GROUP BY provider
        ), work AS (
            SELECT provider AS address,
                   count(*) AS jobs_assigned,
                   count(*) FILTER (WHERE status = 'FINALIZED') AS finalized,
                   count(*) FILTER (WHERE status = 'EXPIRED') AS expired,
                   count(*) FILTER (WHERE status = 'REJECTED') AS rejected,
                   count(*) FILTER (WHERE disputed) AS disputed,
                   coalesce(sum(paid), 0) AS revenue,
                   max(updated_at) AS last_job_at
            FROM jobs WHERE provider IS NOT NULL GROUP BY provider
        ), rep AS (
            SELECT provider AS address, arg_max(score, {_LAST}) AS reputation
            FROM reputation_events GROUP BY provider
        )
        SELECT reg.address, reg.registered_at, reg.endpoint, reg.capability_cid, reg.prices,
               reg.active,
               coalesce(s.staked, 0) AS staked, coalesce(s.slashed, 0) AS slashed,
               coalesce(rep.reputation, 10000) AS reputation,
               coalesce(w.jobs_assigned, 0) AS jobs_assigned,
               coalesce(w.finalized, 0) AS finalized, coalesce(w.expired, 0) AS expired,
               coalesce(w.rejected, 0) AS rejected, coalesce(w.disputed, 0) AS disputed,
               coalesce(w.revenue, 0) AS revenue, w.last_job_at
        FROM reg LEFT JOIN stakes s ON s.address = reg.address
                 LEFT JOIN work w ON w.address = reg.address
                 LEFT JOIN rep ON rep.address = reg.address
    """,
    # Validators with their ValidatorPool record: epochs reported (and the stake weight of
    # the last report) and fee shares claimed.
    "validators": f"""
        WITH v AS (
            SELECT validator AS address, min(ts) AS registered_at,
                   arg_max(kind, {_LAST}) FILTER (WHERE kind <> 'endpoint') <> 'deactivated' AS active,
                   arg_max(endpoint, {_LAST}) FILTER (WHERE kind = 'endpoint') AS endpoint
            FROM validator_events GROUP BY validator
        ), pool AS (
            SELECT validator AS address,
                   count(*) FILTER (WHERE event = 'ScoresReported') AS reports,
                   max(epoch) FILTER (WHERE event = 'ScoresReported') AS last_report_epoch,
                   arg_max(amount, {_LAST}) FILTER (WHERE event = 'ScoresReported') AS report_weight,
                   count(*) FILTER (WHERE event = 'ShareClaimed') AS claims,
                   coalesce(sum(amount) FILTER (WHERE event = 'ShareClaimed'), 0) AS fees_claimed
            FROM pool_events WHERE event IN ('ScoresReported', 'ShareClaimed') GROUP BY validator
        )
        SELECT v.*, coalesce(pool.reports, 0) AS reports, pool.last_report_epoch, pool.report_weight,
               coalesce(pool.claims, 0) AS claims, coalesce(pool.fees_claimed, 0) AS fees_claimed
        FROM v LEFT JOIN pool USING (address)
    """,
    # One row per ValidatorPool epoch: fees synced into its pot, reporters and their weight,
    # what was claimed and swept, and what is left to claim.
    "pool_epochs": """
        SELECT epoch,
               coalesce(sum(amount) FILTER (WHERE event = 'FeesSynced'), 0) AS synced,
               count(*) FILTER (WHERE event = 'ScoresReported') AS reporters,
               coalesce(sum(amount) FILTER (WHERE event = 'ScoresReported'), 0) AS total_weight,
               count(*) FILTER (WHERE event = 'ShareClaimed') AS claims,
               coalesce(sum(amount) FILTER (WHERE event = 'ShareClaimed'), 0) AS claimed,
               coalesce(sum(amount) FILTER (WHERE event = 'PotSwept'), 0) AS swept,
               coalesce(sum(amount) FILTER (WHERE event = 'FeesSynced'), 0)
                 - coalesce(sum(amount) FILTER (WHERE event IN ('ShareClaimed', 'PotSwept')), 0) AS unclaimed
        FROM pool_events WHERE epoch IS NOT NULL GROUP BY epoch
    """,
    "channels": f"""
        SELECT channel_id,
               max(client) FILTER (WHERE event = 'ChannelOpened') AS client,
               max(provider) FILTER (WHERE event = 'ChannelOpened') AS provider,
               min(ts) FILTER (WHERE event = 'ChannelOpened') AS opened_at,
               arg_max(deposit, {_LAST}) FILTER (WHERE deposit IS NOT NULL) AS deposit,
               coalesce(sum(payout), 0) AS paid_to_provider,
               coalesce(sum(refund), 0) AS refunded,
               CASE arg_max(event, {_LAST})
                   WHEN 'ChannelClosed' THEN 'closed' WHEN 'ChannelSettled' THEN 'settled'
                   WHEN 'CloseStarted' THEN 'closing' ELSE 'open' END AS state,
               max(ts) AS updated_at
        FROM channel_events GROUP BY channel_id
    """,
    "assets": f"""
        SELECT max(cid) AS cid, digest, max(asset_kind) AS asset_kind,
               arg_max(owner, {_LAST}) AS owner,
               max(licence_cid) FILTER (WHERE event = 'registered') AS licence_cid,
               min(ts) FILTER (WHERE event = 'registered') AS registered_at,
               min(block_number) FILTER (WHERE event = 'registered') AS registered_block
        FROM asset_events GROUP BY digest
    """,
    "nfts": f"""
        SELECT token_id,
               arg_max(receiver, {_LAST}) FILTER (WHERE event = 'transfer') AS owner,
               max(provider) FILTER (WHERE event = 'minted') AS provider,
               max(sequence) FILTER (WHERE event = 'minted') AS sequence,
               max(uri) FILTER (WHERE event = 'minted') AS uri,
               min(ts) FILTER (WHERE event = 'minted') AS minted_at
        FROM nft_events GROUP BY token_id
    """,
    # On-chain AI requests (AIRequests): a request is the JobMarket job of the same id, so its
    # job's state comes from ``jobs``. ``status`` is where the request stands for its consumer:
    # requested (no provider yet), assigned, committed (result on the JobMarket, not yet
    # delivered here), delivered (and called back), awaiting release (final policy: called
    # back once the job is finalized),
    # callback failed (the latest result callback failed: retriable), retried (called back
    # after failed attempts), unsettled (the job ended without an answer; anyone may settle),
    # failed (settled: refunded, onAIDisputed called), dispute callback failed (that call failed).
    "ai_requests": f"""
        WITH r AS (
            SELECT request_id,
              max(consumer) FILTER (WHERE event = 'AIRequested') AS consumer,
              max(subscription_id) FILTER (WHERE event = 'AIRequested') AS subscription_id,
              max(model_cid) FILTER (WHERE event = 'AIRequested') AS model_cid,
              max(input_cid) FILTER (WHERE event = 'AIRequested') AS input_cid,
              max(kind) FILTER (WHERE event = 'AIRequested') AS kind,
              bool_or(output_as_cid) FILTER (WHERE event = 'AIRequested') AS output_as_cid,
              max(verification) FILTER (WHERE event = 'AIRequested') AS verification,
              max(policy) FILTER (WHERE event = 'AIRequested') AS policy,
              max(gas_limit) FILTER (WHERE event = 'AIRequested') AS callback_gas_limit,
              max(max_price) FILTER (WHERE event = 'AIRequested') AS max_price,
              min(ts) FILTER (WHERE event = 'AIRequested') AS requested_at,
              min(block_number) FILTER (WHERE event = 'AIRequested') AS requested_block,
              arg_max(provider, {_LAST}) FILTER (WHERE event = 'AIDelivered') AS delivered_by,
              arg_max(output, {_LAST}) FILTER (WHERE event = 'AIDelivered') AS output,
              arg_max(manifest_cid, {_LAST}) FILTER (WHERE event = 'AIDelivered') AS manifest_cid,
              arg_max(refunded, {_LAST}) FILTER (WHERE event = 'AIDelivered') AS change_refunded,
              min(ts) FILTER (WHERE event = 'AIDelivered') AS delivered_at,
              count(*) FILTER (WHERE event = 'CallbackCalled') AS callbacks,
              count(*) FILTER (WHERE event = 'CallbackCalled' AND NOT success) AS failed_callbacks,
              arg_max(success, {_LAST}) FILTER (WHERE event = 'CallbackCalled') AS callback_ok,
              arg_max(disputed, {_LAST}) FILTER (WHERE event = 'CallbackCalled') AS callback_disputed,
              arg_max(gas_limit, {_LAST}) FILTER (WHERE event = 'CallbackCalled') AS callback_gas,
              max(ts) FILTER (WHERE event = 'CallbackCalled') AS called_back_at,
              arg_max(reason_code, {_LAST}) FILTER (WHERE event = 'AIRequestFailed') AS failure_code,
              arg_max(reason, {_LAST}) FILTER (WHERE event = 'AIRequestFailed') AS failure_reason,
              arg_max(refunded, {_LAST}) FILTER (WHERE event = 'AIRequestFailed') AS refunded,
              arg_max(compensation, {_LAST}) FILTER (WHERE event = 'AIRequestFailed') AS compensation,
              min(ts) FILTER (WHERE event = 'AIRequestFailed') AS failed_at,
              max(ts) AS updated_at
            FROM ai_request_events GROUP BY request_id
        )
        SELECT r.*, r.request_id AS job_id, j.status AS job_status, j.provider, j.price,
               j.output_cid, j.assigned_at, j.committed_at, j.settled_at,
               CASE
                 WHEN r.failure_code IS NOT NULL THEN
                   CASE WHEN r.callback_disputed AND NOT r.callback_ok
                        THEN 'dispute callback failed' ELSE 'failed' END
                 WHEN r.delivered_at IS NOT NULL THEN
                   CASE WHEN r.callbacks = 0 THEN 'awaiting release'
                        WHEN NOT r.callback_ok THEN 'callback failed'
                        WHEN r.failed_callbacks > 0 THEN 'retried'
                        ELSE 'delivered' END
                 WHEN j.status IN ('EXPIRED', 'REJECTED') THEN 'unsettled'
                 WHEN j.output_cid IS NOT NULL THEN 'committed'
                 WHEN j.provider IS NOT NULL THEN 'assigned'
                 ELSE 'requested'
               END AS status
        FROM r LEFT JOIN jobs j ON j.job_id = r.request_id
        WHERE r.requested_at IS NOT NULL
    """,
    "ai_subscriptions": f"""
        SELECT subscription_id,
               max(consumer) FILTER (WHERE event = 'SubscriptionCreated') AS consumer,
               max(model_cid) FILTER (WHERE event = 'SubscriptionCreated') AS model_cid,
               max(kind) FILTER (WHERE event = 'SubscriptionCreated') AS kind,
               max(max_price) FILTER (WHERE event = 'SubscriptionCreated') AS max_price,
               max(period) FILTER (WHERE event = 'SubscriptionCreated') AS period,
               max(rounds) FILTER (WHERE event = 'SubscriptionCreated') AS rounds,
               bool_or(dynamic_input) FILTER (WHERE event = 'SubscriptionCreated') AS dynamic_input,
               count(*) FILTER (WHERE event = 'SubscriptionFired') AS fired,
               arg_max(request_id, {_LAST}) FILTER (WHERE event = 'SubscriptionFired') AS last_request_id,
               bool_or(event = 'SubscriptionCancelled') AS cancelled,
               coalesce(sum(refunded) FILTER (WHERE event = 'SubscriptionCancelled'), 0) AS refunded,
               min(ts) FILTER (WHERE event = 'SubscriptionCreated') AS created_at
        FROM ai_subscription_events GROUP BY subscription_id
    """,
    "models": "SELECT * FROM assets WHERE asset_kind = 'model'",
    "datasets": "SELECT * FROM assets WHERE asset_kind = 'dataset'",
    "lineage": "SELECT DISTINCT child_cid, parent_cid, position FROM asset_parents",
}
"""State table → the SELECT that builds it from the facts (and earlier state tables)."""

VIEW_SQL: dict[str, str] = {
    # Prices providers offer per unit of work, by Registry workload kind, as announced.
    "v_offered_prices": """
        SELECT ts, block_number, provider, workload_kind, price FROM provider_prices
    """,
    # The price each job cleared at, by the workload kind of its spec (if the spec is known).
    "v_job_prices": """
        SELECT assigned_at AS ts, job_id, workload_kind, provider, price, max_price
        FROM jobs WHERE price IS NOT NULL
    """,
    "v_provider_reliability": """
        SELECT address AS provider, jobs_assigned, finalized, expired, rejected, disputed,
               slashed,
               CASE WHEN finalized + expired + rejected = 0 THEN NULL
                    ELSE finalized / (finalized + expired + rejected) END AS reliability
        FROM providers
    """,
    "v_job_latency": """
        SELECT job_id, workload_kind, status, posted_at, assigned_at, committed_at, settled_at,
               assigned_at - posted_at AS to_assign_s,
               committed_at - assigned_at AS to_result_s,
               settled_at - posted_at AS to_settle_s
        FROM jobs
    """,
    "v_revenue_per_provider": """
        WITH jobs_paid AS (
            SELECT provider, count(*) AS paid_jobs, sum(paid) AS job_revenue
            FROM payments WHERE paid > 0 GROUP BY provider
        ), chan AS (
            SELECT provider, sum(paid_to_provider) AS channel_revenue FROM channels GROUP BY provider
        )
        SELECT p.address AS provider, coalesce(j.paid_jobs, 0) AS paid_jobs,
               coalesce(j.job_revenue, 0) AS job_revenue,
               coalesce(c.channel_revenue, 0) AS channel_revenue,
               coalesce(j.job_revenue, 0) + coalesce(c.channel_revenue, 0) AS revenue
        FROM providers p LEFT JOIN jobs_paid j ON j.provider = p.address
                         LEFT JOIN chan c ON c.provider = p.address
    """,
    # How each settled job's result fared: unchallenged, upheld, overturned, or never delivered.
    "v_verification_outcomes": """
        SELECT mode,
               CASE reason_code
                   WHEN 8 THEN 'unchallenged' WHEN 12 THEN 'fraud proven'
                   WHEN 13 THEN 'upheld' WHEN 14 THEN 'no verdict'
                   ELSE 'no result' END AS outcome,
               count(*) AS jobs
        FROM jobs WHERE settled_at IS NOT NULL GROUP BY ALL
        UNION ALL
        -- fast-path receipts challenged on ReceiptDisputes (resolved ones)
        SELECT 'fast-path receipt' AS mode,
               CASE status WHEN 'REJECTED' THEN 'fraud proven'
                   WHEN 'UPHELD' THEN CASE reason_code WHEN 5 THEN 'no verdict' ELSE 'upheld' END
                   ELSE 'open' END AS outcome,
               count(*) AS jobs
        FROM receipt_disputes WHERE status <> 'OPEN' GROUP BY ALL
    """,
}

STATE_TABLES = tuple(STATE_SQL)
ALL_TABLES = ("blocks", "spec_kinds", *FACT_TABLES, *STATE_TABLES)
"""Every table whose content the restart test compares (``meta`` holds only cursors)."""
