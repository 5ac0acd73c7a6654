"""A stand-in for vLLM's OpenAI-compatible server, where lm-eval can tell the difference.

Behaviours (vLLM 0.9-0.11 wording; ../shared/reference/lm-eval-errors.md §3 B, §5):
- `POST /v1/completions`: `prompt` as a string, a list of strings, token ids or lists of token ids;
  with `echo` + `logprobs` it returns prompt logprobs (what lm-eval's loglikelihood needs: one entry per
  prompt token, `None` first, plus the one generated token); without, a deterministic completion.
- `POST /v1/chat/completions`: `messages` only; never prompt logprobs.
- `GET /v1/models`: the served-model name; requests naming another model get vLLM's 404 error object.
- FastAPI's `{"detail":"Not Found"}` (404) for unknown routes, `{"detail":"Method Not Allowed"}` (405)
  for the wrong method, and pydantic's "Field required" 400 when a completions body reaches the chat
  route or the reverse.
- the context-length 400 of vLLM when prompt + max_tokens exceeds `max_model_len`;
- `--api-key`: `{"error":"Unauthorized"}` (401) without the right bearer token;
- TLS with a certificate from a given CA (`TinyCA`);
- faults on demand: `429`, `500`, `slow` (answers after `slow_seconds`), `reset` (closes the connection
  without an answer), `no-logprobs` (ignores echo/logprobs, like TGI or a stripping proxy).
  "Connection refused" needs no server: a closed port does it.

Answers are deterministic (hashes of the request), so a correct job ends with real results from lm-eval.
Token ids for string prompts are whitespace words: the server never needs the client's tokenizer.
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import time
from dataclasses import KW_ONLY, dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from lmeval_setup.sandbox.loopback import LoopbackServer
from lmeval_setup.sandbox.tlsaccept import HandshakeInHandlerThread, server_context

FAULTS = ("429", "500", "slow", "reset", "no-logprobs")
ROUTES = {"/v1/completions": "POST", "/v1/chat/completions": "POST", "/v1/models": "GET", "/health": "GET",
          "/version": "GET"}


@dataclass
class ModelServerConfig:
    served_model_name: str = "granite"
    api_key: str | None = None
    _: KW_ONLY
    fault: str | None = None  # one of FAULTS
    slow_seconds: float = 5.0
    max_model_len: int = 4096
    vllm_version: str = "0.10.1.1"
    # vLLM's --model, which /v1/models reports as `root` (a Hugging Face id when vLLM pulled the model
    # itself, /mnt/models under KServe storage); default: the served name.
    model: str | None = None
    # Only these client addresses are answered (None: any); for a stand-in bound to a non-loopback address.
    clients: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; one of {', '.join(FAULTS)}")


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return struct.unpack(">Q", digest[:8])[0] / 2**64


def _tokens(prompt: Any) -> list[str]:
    """Prompt tokens as strings: token ids stay ids, text is split on whitespace (one token per word)."""
    if isinstance(prompt, list):
        return [str(t) for t in prompt]
    return str(prompt).split() or [""]


def _logprob(token: str, position: int) -> float:
    return round(-0.05 - 4.0 * _unit("lp", token, position), 6)


def _prompt_logprobs(prompt: Any) -> dict[str, Any]:
    """vLLM's `echo` + `logprobs` answer: the prompt's tokens (first without a logprob) and one generated."""
    tokens = [*_tokens(prompt), "<gen>"]
    values: list[float | None] = [None, *(_logprob(t, i) for i, t in enumerate(tokens) if i > 0)]
    top: list[dict[str, float] | None] = [None]
    for i, token in enumerate(tokens[1:], start=1):
        chosen = values[i]
        assert chosen is not None
        # Sometimes another token was likelier, so lm-eval's is_greedy is not always True.
        rival = chosen + (0.5 if _unit("greedy", token, i) < 0.3 else -0.5)
        top.append({token: chosen, f"alt{i}": round(rival, 6)})
    offsets, at = [], 0
    for token in tokens:
        offsets.append(at)
        at += len(token) + 1
    return {"tokens": tokens, "token_logprobs": values, "top_logprobs": top, "text_offset": offsets}


def _completion_text(prompt: Any, stop: Any) -> str:
    """A short deterministic answer with an '#### N' line (gsm8k's filters read it), cut at the first
    stop sequence as vLLM does."""
    n = int(_unit("answer", json.dumps(prompt)) * 20)
    text = f" The answer is {n}.\n#### {n}\n\nQuestion: and then?"
    stops = [stop] if isinstance(stop, str) else [s for s in stop or [] if isinstance(s, str) and s]
    for s in stops:
        if s in text:
            text = text[: text.index(s)]
    return text


class _Server(HandshakeInHandlerThread):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], config: ModelServerConfig) -> None:
        super().__init__(address, _Handler)
        self.config = config
        self.requests_seen: list[tuple[str, str]] = []

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return self.config.clients is None or str(client_address[0]) in self.config.clients


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as uvicorn sets it: headers and body are two writes, and on a kept-alive connection Nagle
    # held the body ~40 ms for the headers' delayed ACK (tests/unit/test_sandbox_nodelay.py).
    disable_nagle_algorithm = True
    server_version = "uvicorn"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- plumbing --------------------------------------------------------------------------------
    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str, param: str | None = None) -> None:
        """vLLM's nested error object (0.9+)."""
        self._send_json(status, {"error": {"message": message, "type": kind, "param": param, "code": status}})

    def _reset(self) -> None:
        """Close with a TCP RST and no answer: the client sees 'Connection reset by peer'."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _read_body(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    # -- routing ---------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def _route(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        self.server.requests_seen.append((method, path))
        config = self.server.config
        body = self._read_body() if method == "POST" else None
        expected = ROUTES.get(path)
        if expected is None:
            self._send_json(404, {"detail": "Not Found"})
            return
        if method != expected:
            self._send_json(405, {"detail": "Method Not Allowed"}, {"allow": expected})
            return
        if config.api_key and path.startswith("/v1/") and \
                self.headers.get("authorization", "") != f"Bearer {config.api_key}":
            self._send_json(401, {"error": "Unauthorized"})
            return
        if path == "/v1/models":
            self._models()
            return
        if path in ("/health", "/version"):
            self._send_json(200, {"version": config.vllm_version} if path == "/version" else {})
            return
        if self._fault():
            return
        if not isinstance(body, dict):
            self._error(400, "JSON decode error", "BadRequestError")
            return
        if path == "/v1/completions":
            self._completions(body)
        else:
            self._chat(body)

    def _fault(self) -> bool:
        """Faults on demand; True when the request has been answered (or dropped)."""
        fault = self.server.config.fault
        if fault == "reset":
            self._reset()
            return True
        if fault == "429":
            self._send_json(429, {"error": {"message": "Rate limit exceeded: too many requests", "type":
                                            "RateLimitError", "param": None, "code": 429}})
            return True
        if fault == "500":
            self._send_json(500, {"detail": "Internal Server Error"})
            return True
        if fault == "slow":
            time.sleep(self.server.config.slow_seconds)
        return False

    def _models(self) -> None:
        name = self.server.config.served_model_name
        self._send_json(200, {"object": "list", "data": [{
            "id": name, "object": "model", "created": 1700000000, "owned_by": "vllm",
            "root": self.server.config.model or name,
            "parent": None, "max_model_len": self.server.config.max_model_len}]})

    def _missing_field(self, field: str, body: dict[str, Any]) -> None:
        detail = [{"type": "missing", "loc": ("body", field), "msg": "Field required", "input": body}]
        self._error(400, str(detail), "BadRequestError")

    def _check_model(self, body: dict[str, Any]) -> bool:
        model = body.get("model")
        name = self.server.config.served_model_name
        if model not in (None, name):
            self._error(404, f"The model `{model}` does not exist.", "NotFoundError", "model")
            return False
        return True

    def _check_length(self, prompt_tokens: int, max_tokens: int) -> bool:
        limit = self.server.config.max_model_len
        if prompt_tokens + max_tokens <= limit:
            return True
        self._error(400, f"This model's maximum context length is {limit} tokens. However, you requested "
                    f"{max_tokens} output tokens and your prompt contains at least {prompt_tokens} input tokens, "
                    f"for a total of at least {prompt_tokens + max_tokens} tokens. Please reduce the length of the "
                    f"input prompt or the number of requested output tokens. (parameter=input_tokens, "
                    f"value={prompt_tokens})", "BadRequestError", "input_tokens")
        return False

    def _completions(self, body: dict[str, Any]) -> None:
        if "prompt" not in body:
            self._missing_field("prompt", body)
            return
        if not self._check_model(body):
            return
        prompt = body["prompt"]
        # A batch is a list of strings or a list of token-id lists; a flat id list is one prompt.
        prompts = prompt if isinstance(prompt, list) and prompt and isinstance(prompt[0], (list, str)) else [prompt]
        max_tokens = int(body.get("max_tokens") or 16)
        for p in prompts:
            if not self._check_length(len(_tokens(p)), max_tokens):
                return
        want_logprobs = bool(body.get("echo")) and body.get("logprobs") is not None
        honour = self.server.config.fault != "no-logprobs"
        choices = []
        for index, p in enumerate(prompts):
            if want_logprobs:
                choice = {"index": index, "text": " <gen>", "logprobs": _prompt_logprobs(p) if honour else None,
                          "finish_reason": "length", "stop_reason": None, "prompt_logprobs": None}
            else:
                choice = {"index": index, "text": _completion_text(p, body.get("stop")), "logprobs": None,
                          "finish_reason": "stop", "stop_reason": None, "prompt_logprobs": None}
            choices.append(choice)
        usage = sum(len(_tokens(p)) for p in prompts)
        self._send_json(200, {
            "id": "cmpl-" + hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24],
            "object": "text_completion", "created": 1700000000, "model": self.server.config.served_model_name,
            "choices": choices,
            "usage": {"prompt_tokens": usage, "total_tokens": usage + len(prompts), "completion_tokens": len(prompts)},
        })

    def _chat(self, body: dict[str, Any]) -> None:
        if "messages" not in body:
            self._missing_field("messages", body)
            return
        if not self._check_model(body):
            return
        messages = body["messages"] or []
        words = sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
        if not self._check_length(words, max_tokens):
            return
        text = _completion_text(messages, body.get("stop"))
        self._send_json(200, {
            "id": "chatcmpl-" + hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24],
            "object": "chat.completion", "created": 1700000000, "model": self.server.config.served_model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "tool_calls": []},
                         "logprobs": None, "finish_reason": "stop", "stop_reason": None}],
            "usage": {"prompt_tokens": words, "total_tokens": words + 8, "completion_tokens": 8},
        })


class ModelServer(LoopbackServer):
    """One served model on a loopback port (`url`), optionally over TLS; `stop()` ends it."""

    def __init__(self, config: ModelServerConfig | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 tls: tuple[bytes, bytes] | None = None) -> None:
        self.config = config or ModelServerConfig()
        self._server = _Server((host, port), self.config)
        self.scheme = "http"
        if tls is not None:
            self._server.tls_context = server_context(*tls)  # each connection handshakes in its own thread
            self.scheme = "https"
        self._serve(self._server, host, "modelserver")
