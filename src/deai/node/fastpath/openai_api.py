"""The OpenAI-compatible wire format: request models, response bodies, server-sent events.

Shapes follow the OpenAI REST API so its official clients work unchanged:

- ``POST /v1/embeddings`` — ``input`` is a string or a list of strings (token arrays are
  refused with a clear error); ``encoding_format`` ``"float"`` or ``"base64"`` (little-
  endian float32, what the official Python client asks for by default).
- ``POST /v1/completions`` and ``POST /v1/chat/completions`` — ``max_tokens`` (or
  ``max_completion_tokens``), ``temperature``, ``seed``, ``stop``, ``n = 1``, ``stream``
  and ``stream_options.include_usage``; deai adds ``top_k`` (default 40). Without a seed
  the seed is 0: the same request gives the same answer on every provider, which is what
  lets a gateway fail over mid-stream and a validator re-run a receipt.
- Streams are ``text/event-stream``: one ``data: {chunk}`` event per text piece, a last
  chunk with ``finish_reason``, then the receipt as an SSE comment
  (``: deai-receipt {json}``, skipped by every SSE parser) and ``data: [DONE]``.
- Errors are ``{"error": {"message", "type", "param", "code"}, "hint": …}``; a missing or
  refused voucher adds ``"payment"`` (price, header, voucher format, EIP-712 domain).

Token counts in ``usage`` are exact for generation (model tokens) and whitespace words
for embeddings (the embedding runtime does not expose its tokenizer's counts cheaply).
"""

from __future__ import annotations

import base64
import json
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from deai.errors import InputError

DEFAULT_TOP_K = 40
SSE_DONE = b"data: [DONE]\n\n"


class _Request(BaseModel):
    # Clients send fields deai does not use (user, logit_bias, …): ignore them, never fail.
    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str = Field(min_length=1, max_length=200)


class EmbeddingsRequest(_Request):
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None

    def texts(self) -> list[str]:
        if isinstance(self.input, str):
            texts = [self.input]
        elif all(isinstance(v, str) for v in self.input):
            texts = [str(v) for v in self.input]
        else:
            raise InputError("token arrays are not supported as embedding input",
                             hint="send the text itself: a string or a list of strings")
        if not texts:
            raise InputError("the input list is empty", hint="send at least one text")
        if any(not t.strip() for t in texts):
            raise InputError("an input text is empty", hint="drop empty strings from the input")
        return texts


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    include_usage: bool = False


class _Generation(_Request):
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_k: int | None = Field(default=DEFAULT_TOP_K, ge=1)
    n: int = 1
    seed: int = Field(default=0, ge=0, lt=2**63)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int) -> int:
        if n != 1:
            raise ValueError("deai providers return one choice per request (n = 1)")
        return n

    @field_validator("seed", mode="before")
    @classmethod
    def _seed(cls, value: Any) -> Any:
        return 0 if value is None else value

    def stops(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        stops = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        if len(stops) > 4 or any(not s for s in stops):
            raise InputError("stop takes up to 4 non-empty strings")
        return stops

    def tokens_wanted(self, default: int) -> int:
        return self.max_tokens if self.max_tokens is not None else default

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class CompletionRequest(_Generation):
    prompt: str | list[str]

    def prompt_text(self) -> str:
        if isinstance(self.prompt, list):
            if len(self.prompt) != 1:
                raise InputError("send one prompt per request", hint="batch prompts as separate requests")
            return self.prompt[0]
        return self.prompt


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            if part.get("type") != "text":
                raise InputError(f"message parts of type {part.get('type')!r} are not supported",
                                 hint="send text parts only")
            parts.append(str(part.get("text", "")))
        return "".join(parts)


class ChatRequest(_Generation):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)

    def tokens_wanted(self, default: int) -> int:
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens
        return super().tokens_wanted(default)

    def prompt_text(self) -> str:
        """The transcript the language model continues: ``role: content`` lines, then ``assistant:``."""
        lines = [f"{m.role}: {m.text()}" for m in self.messages]
        return "\n".join(lines) + "\nassistant:"


Req = EmbeddingsRequest | CompletionRequest | ChatRequest


def parse_request(kind: type[Req], body: bytes) -> Req:
    """Parse a JSON body into ``kind``; InputError with the first problem, in words."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError("the request body is not JSON", hint="send a JSON object") from None
    if not isinstance(data, dict):
        raise InputError("the request body must be a JSON object")
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InputError(f"{where}: {first['msg']}",
                         hint="see the OpenAI API reference for this endpoint") from None


# --- responses -----------------------------------------------------------------------------


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def embeddings_body(model: str, vectors: np.ndarray, encoding: str, prompt_tokens: int) -> bytes:
    vectors = np.ascontiguousarray(vectors, dtype="<f4")
    if encoding == "base64":
        data = [{"object": "embedding", "index": i, "embedding": base64.b64encode(row.tobytes()).decode()}
                for i, row in enumerate(vectors)]
    else:
        data = [{"object": "embedding", "index": i, "embedding": row}
                for i, row in enumerate(vectors.tolist())]
    return dumps({"object": "list", "data": data, "model": model,
                  "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}})


def decode_embeddings(body: dict[str, Any]) -> np.ndarray:
    """The (n, d) float32 matrix of an embeddings response, float or base64."""
    rows = []
    for item in sorted(body["data"], key=lambda d: int(d["index"])):
        value = item["embedding"]
        if isinstance(value, str):
            rows.append(np.frombuffer(base64.b64decode(value), dtype="<f4"))
        else:
            rows.append(np.asarray(value, dtype=np.float32))
    return np.stack(rows)


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def completion_body(chat: bool, ident: str, created: int, model: str, text: str,
                    finish_reason: str, prompt_tokens: int, completion_tokens: int) -> bytes:
    if chat:
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text},
                                  "logprobs": None, "finish_reason": finish_reason}
        kind = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
        kind = "text_completion"
    return dumps({"id": ident, "object": kind, "created": created, "model": model,
                  "system_fingerprint": None, "choices": [choice],
                  "usage": usage(prompt_tokens, completion_tokens)})


def chunk_event(chat: bool, ident: str, created: int, model: str, text: str | None,
                finish_reason: str | None, *, first: bool = False) -> bytes:
    """One ``data:`` event of a stream (a text piece, or the closing chunk with a finish reason)."""
    if chat:
        delta: dict[str, Any] = {}
        if first:
            delta["role"] = "assistant"
        if text is not None:
            delta["content"] = text
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None,
                                  "finish_reason": finish_reason}
        kind = "chat.completion.chunk"
    else:
        choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}
        kind = "text_completion"
    return sse(dumps({"id": ident, "object": kind, "created": created, "model": model,
                      "system_fingerprint": None, "choices": [choice]}))


def usage_event(chat: bool, ident: str, created: int, model: str, prompt_tokens: int,
                completion_tokens: int) -> bytes:
    kind = "chat.completion.chunk" if chat else "text_completion"
    return sse(dumps({"id": ident, "object": kind, "created": created, "model": model,
                      "choices": [], "usage": usage(prompt_tokens, completion_tokens)}))


def sse(data: bytes) -> bytes:
    return b"data: " + data + b"\n\n"


def error_body(message: str, *, kind: str = "invalid_request_error", code: str | None = None,
               hint: str = "", param: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code},
            "hint": hint, **extra}


def stream_text(chunk: dict[str, Any]) -> tuple[str, str | None]:
    """The text piece and finish reason of one stream chunk (chat or completion)."""
    choices = chunk.get("choices") or []
    if not choices:
        return "", None
    choice = choices[0]
    if "delta" in choice:
        return str(choice["delta"].get("content") or ""), choice.get("finish_reason")
    return str(choice.get("text") or ""), choice.get("finish_reason")
