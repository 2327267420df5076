"""Units as types, so a token amount is never confused with a job id or a block number."""

from __future__ import annotations

from typing import NewType

TokenAmount = NewType("TokenAmount", int)
"""An amount of the payment token in its smallest unit (18 decimals on the devnet)."""

JobId = NewType("JobId", int)
ChannelId = NewType("ChannelId", bytes)
Address = NewType("Address", str)
"""A checksummed 0x… EVM address."""

Cid = NewType("Cid", str)
"""A CID in its canonical string form (base32 ``bafy…`` for CIDv1)."""

TOKEN_DECIMALS = 18
ONE_TOKEN = TokenAmount(10**TOKEN_DECIMALS)


def tokens(amount: float | int | str) -> TokenAmount:
    """Whole tokens to the smallest unit: ``tokens(1.5) == 1_500_000_000_000_000_000``."""
    from decimal import Decimal

    return TokenAmount(int(Decimal(str(amount)) * ONE_TOKEN))


def format_tokens(amount: int) -> str:
    """Smallest units to a human string with up to 6 decimals: ``'1.5 DEAI'``."""
    from decimal import Decimal

    value = (Decimal(amount) / ONE_TOKEN).quantize(Decimal("0.000001")).normalize()
    return f"{value:f} DEAI"
