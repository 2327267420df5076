"""The OpenAI wire format: requests parse or fail with a sentence; bodies and stream pieces."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import numpy as np
import pytest

from deai.client.channels import Pricing, stream_receipt
from deai.errors import InputError
from deai.node.fastpath import openai_api as oa
from deai.node.fastpath.streaming import TextPieces


def test_embedding_requests_take_a_string_or_a_list_of_strings() -> None:
    one = oa.parse_request(oa.EmbeddingsRequest, b'{"model": "m", "input": "hi", "user": "x"}')
    assert isinstance(one, oa.EmbeddingsRequest) and one.texts() == ["hi"]
    many = oa.parse_request(oa.EmbeddingsRequest, b'{"model": "m", "input": ["a", "b"]}')
    assert isinstance(many, oa.EmbeddingsRequest) and many.texts() == ["a", "b"]
    tokens = oa.parse_request(oa.EmbeddingsRequest, b'{"model": "m", "input": [1, 2]}')
    assert isinstance(tokens, oa.EmbeddingsRequest)
    with pytest.raises(InputError, match="token arrays"):
        tokens.texts()


@pytest.mark.parametrize(("body", "words"), [
    (b"nope", "not JSON"), (b"[]", "JSON object"), (b'{"input": "x"}', "model"),
    (b'{"model": "m", "messages": [], "max_tokens": 4}', "messages"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}', "one choice"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 9}', "temperature"),
])
def test_bad_requests_say_what_is_wrong(body: bytes, words: str) -> None:
    with pytest.raises(InputError, match=words):
        oa.parse_request(oa.ChatRequest, body)


def test_chat_requests_become_a_transcript_with_deterministic_defaults() -> None:
    chat = oa.parse_request(oa.ChatRequest, json.dumps({
        "model": "m", "messages": [{"role": "system", "content": "be brief"},
                                   {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_completion_tokens": 3, "seed": None}).encode())
    assert isinstance(chat, oa.ChatRequest)
    assert chat.prompt_text() == "system: be brief\nuser: hi\nassistant:"
    assert chat.tokens_wanted(16) == 3 and chat.seed == 0 and chat.top_k == oa.DEFAULT_TOP_K


def test_embeddings_come_back_as_floats_or_base64_of_the_same_float32s() -> None:
    vectors = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    for encoding in ("float", "base64"):
        body = json.loads(oa.embeddings_body("m", vectors, encoding, 3))
        assert np.array_equal(oa.decode_embeddings(body), vectors)
    raw = json.loads(oa.embeddings_body("m", vectors, "base64", 3))["data"][0]["embedding"]
    assert base64.b64decode(raw) == vectors[0].tobytes()


def test_stream_chunks_carry_text_and_finish_reasons() -> None:
    event = oa.chunk_event(True, "id", 1, "m", "hel", None)
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    assert oa.stream_text(json.loads(event[6:])) == ("hel", None)
    last = oa.chunk_event(False, "id", 1, "m", "", "length")
    assert oa.stream_text(json.loads(last[6:])) == ("", "length")


def test_the_receipt_comment_splits_off_the_hashed_bytes_of_a_stream() -> None:
    body = b'data: {"x":1}\n\n: deai-receipt {"a":1}\n\ndata: [DONE]\n\n'
    assert stream_receipt(body) == (b'data: {"x":1}\n\n', '{"a":1}')
    assert stream_receipt(b"data: {}\n\n") == (b"data: {}\n\n", None)


def test_prices_are_per_input_for_embeddings_and_per_request_for_generation() -> None:
    pricing = Pricing({"embed": 3, "generate": 50})
    assert pricing.quote("/v1/embeddings", b'{"input": ["a", "b"]}') == 6
    assert pricing.quote("/v1/embeddings", b'{"input": "a"}') == 3
    assert pricing.quote("/v1/chat/completions", b"{}") == 50


@dataclass
class _Tokenizer:
    pieces: dict[int, bytes]

    def encode(self, text: str) -> list[int]:
        return []

    def decode(self, ids: list[int]) -> str:
        return b"".join(self.pieces[i] for i in ids).decode("utf-8", "replace")


@dataclass
class _Text:
    tokenizer: _Tokenizer


def test_text_pieces_hold_back_half_characters_and_stop_strings() -> None:
    tok = _Tokenizer({1: b"ab", 2: "é".encode()[:1], 3: "é".encode()[1:], 4: b"c\n", 5: b"\nd"})
    pieces = TextPieces(_Text(tok), ())  # type: ignore[arg-type]
    assert [pieces.add(t) for t in (1, 2, 3)] == ["ab", "", "é"]
    stopping = TextPieces(_Text(tok), ("\n\n",))  # type: ignore[arg-type]
    assert stopping.add(1) == "a"  # "b" may start the stop string? no: held by its length - 1
    assert stopping.add(4) == "bc"
    assert stopping.add(5) == "" and stopping.stopped
    assert stopping.sent == "abc" and stopping.finish() == ""
