"""A small OpenAI-compatible chat-completions server for a local transformers Qwen3-VL folder. For example::

    from portraitcraft.runners.server import serve

    # or: portraitcraft serve --model models/tiny-qwen3-vl --port 8000
    server, thread = serve("models/tiny-qwen3-vl", port=8000)
    # for: portraitcraft predict --backend openai --base-url URL ...
    print(server.url)
    server.shutdown()
    server.server_close()

It answers what the `openai` backend (`portraitcraft.runners.openai_compat`) sends, the subset of the protocol that
vLLM and SGLang implement for vision models:

``GET /v1/models``
    The one served model: ``{"object": "list", "data": [{"id": NAME, "object": "model", "root": FOLDER, ...}]}``.
``POST /v1/chat/completions``
    ``messages`` with text and ``image_url`` parts (``data:`` URLs only: this server never fetches anything),
    ``max_tokens`` (or ``max_completion_tokens``), ``temperature`` (0: greedy; default 1 as in the OpenAI API),
    ``top_p``, ``seed``, ``logprobs`` / ``top_logprobs``, and vLLM's chat-template switches
    ``add_generation_prompt`` (default true) and ``continue_final_message`` (default false: true continues the
    last, assistant, message instead of opening a new turn; that is how the score protocol pre-fills a line head).
    Log-probabilities are those of the model's raw next-token distribution (before temperature or top-p), as in
    vLLM; ``top_logprobs`` may go up to the vocabulary size here (vLLM caps it at ``--max-logprobs``, 20 by default).
    Not supported: ``n`` > 1, streaming, tools; they are refused with a 400.

The model, its processor and its generation defaults are `QwenBackend`'s (loaded once); requests are answered
one at a time under a lock, since the model is not meant to run two calls at once. Errors come back in the
OpenAI shape ``{"error": {"message", "type", "code"}}``: 400 for a request this server cannot answer, 404 for an
unknown path or model, 500 for a failure inside the model.
"""

from __future__ import annotations

import base64
import binascii
import copy
import io
import json
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from portraitcraft.exceptions import PortraitCraftError
from portraitcraft.runners.qwen import QwenBackend, QwenSettings

DEFAULT_MAX_TOKENS = 512


class RequestError(PortraitCraftError):
    """A request this server cannot answer; ``status`` is the HTTP status to reply with."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ChatModel:
    """A loaded Qwen3-VL answering chat-completion requests, one at a time.

    ``ChatModel.load(folder)`` loads it; ``ChatModel(backend)`` wraps a `QwenBackend` already in memory (any
    protocol: only its model, processor and generation defaults are used).
    """

    def __init__(self, backend: QwenBackend, name: str | None = None) -> None:
        self.backend = backend
        self.name = name or backend.settings.model
        self.lock = threading.Lock()
        self.created = int(time.time())
        self._token_texts: dict[int, str] = {}

    @classmethod
    def load(cls, model: str, *, name: str | None = None, device: str = "auto", dtype: str = "auto",
             max_pixels: int | None = None) -> ChatModel:
        extra = {"max_pixels": max_pixels} if max_pixels is not None else {}
        return cls(QwenBackend(QwenSettings(model=model, protocol="generate", device=device, dtype=dtype, **extra)),
                   name)

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": self.name, "object": "model", "created": self.created,
                                            "owned_by": "portraitcraft", "root": self.backend.settings.model,
                                            "revision": self.backend.identity.get("model_revision")}]}

    # -- one request --

    def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        """The chat-completion response to ``request`` (a parsed JSON body); raises RequestError."""
        import torch

        if request.get("model") not in (None, self.name):
            raise RequestError(f"The model `{request.get('model')}` does not exist; this server serves `{self.name}`.",
                               404, "model_not_found")
        if request.get("stream"):
            raise RequestError("stream is not supported by this server")
        if request.get("n", 1) != 1:
            raise RequestError("n must be 1")
        if request.get("tools"):
            raise RequestError("tools are not supported by this server")
        messages, images = self._messages(request.get("messages"))
        continue_final = _flag(request, "continue_final_message", False)
        add_generation_prompt = _flag(request, "add_generation_prompt", not continue_final)
        if continue_final and add_generation_prompt:
            raise RequestError("continue_final_message and add_generation_prompt cannot both be true")
        if continue_final and messages[-1]["role"] != "assistant":
            raise RequestError("continue_final_message needs a final assistant message to continue")
        max_tokens = _integer(request, "max_tokens", None, 1)
        max_tokens = max_tokens or _integer(request, "max_completion_tokens", DEFAULT_MAX_TOKENS, 1)
        temperature = _number(request, "temperature", 1.0, 0.0, 2.0)
        top_p = _number(request, "top_p", 1.0, 0.0, 1.0)
        seed = _integer(request, "seed", None, None)
        want_logprobs = _flag(request, "logprobs", False)
        vocabulary = len(self.backend.tokenizer)
        top_logprobs = _integer(request, "top_logprobs", 0, 0, vocabulary)
        if top_logprobs and not want_logprobs:
            raise RequestError("top_logprobs needs logprobs: true")

        processor = self.backend.processor
        try:
            text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                                                 continue_final_message=continue_final)
        except (ValueError, TypeError, KeyError) as exc:  # the template's own complaint (roles, content shape)
            raise RequestError(f"chat template: {exc}") from exc
        inputs = processor(text=[text], images=images or None, return_tensors="pt").to(self.backend.device)

        generation = copy.deepcopy(self.backend.model.generation_config)
        generation.max_new_tokens = max_tokens
        if temperature == 0:
            generation.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            generation.update(do_sample=True, temperature=temperature, top_p=top_p)
        if generation.pad_token_id is None:
            generation.pad_token_id = self.backend.tokenizer.pad_token_id
        generation.update(return_dict_in_generate=True, output_logits=want_logprobs)
        stops = generation.eos_token_id
        stops = set(stops if isinstance(stops, (list, tuple)) else [] if stops is None else [stops])

        with self.lock, torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            output = self.backend.model.generate(**inputs, generation_config=generation)
        prompt_tokens = int(inputs["input_ids"].shape[1])
        ids = output.sequences[0, prompt_tokens:].tolist()
        length = next((k + 1 for k, t in enumerate(ids) if t in stops), len(ids))
        finish = "stop" if ids and ids[length - 1] in stops else "length"
        tokenizer = self.backend.tokenizer
        choice: dict[str, Any] = {
            "index": 0, "message": {"role": "assistant",
                                    "content": tokenizer.decode(ids[:length], skip_special_tokens=True)},
            "finish_reason": finish, "logprobs": None}
        if want_logprobs:
            choice["logprobs"] = {"content": [self._logprobs(step[0], token, top_logprobs)
                                              for step, token in zip(output.logits, ids[:length])]}
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": self.name, "choices": [choice],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": length,
                          "total_tokens": prompt_tokens + length}}

    def _logprobs(self, logits, token: int, top: int) -> dict[str, Any]:
        import torch

        logprobs = torch.log_softmax(logits.double(), dim=-1).cpu()  # the raw distribution, as vLLM reports it
        entry = self._token_entry(token, float(logprobs[token]))
        if top:
            values, indices = torch.topk(logprobs, top)
            entry["top_logprobs"] = [self._token_entry(int(i), float(v)) for v, i in zip(values, indices)]
        else:
            entry["top_logprobs"] = []
        return entry

    def _token_entry(self, token: int, logprob: float) -> dict[str, Any]:
        text = self._token_texts.get(token)
        if text is None:  # decoded once per token: a long top list repeats the same thousand tokens
            text = self._token_texts[token] = self.backend.tokenizer.decode([token])
        return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}

    @staticmethod
    def _messages(messages: Any) -> tuple[list[dict[str, Any]], list[Any]]:
        """OpenAI messages in the transformers chat format, and the images they carry, decoded, in order."""
        if not isinstance(messages, list) or not messages:
            raise RequestError("messages must be a non-empty list")
        converted, images = [], []
        for number, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant"):
                raise RequestError(f"messages[{number}]: expected an object with role system, user or assistant")
            content = message.get("content")
            if isinstance(content, str):
                converted.append({"role": message["role"], "content": content})
                continue
            if not isinstance(content, list):
                raise RequestError(f"messages[{number}].content: expected a string or a list of parts")
            parts = []
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text":
                    parts.append({"type": "text", "text": str(part.get("text", ""))})
                elif kind == "image_url":
                    url = part.get("image_url")
                    url = url.get("url") if isinstance(url, dict) else url
                    image = decode_data_url(url, f"messages[{number}]")
                    images.append(image)
                    parts.append({"type": "image", "image": image})
                else:
                    raise RequestError(f"messages[{number}]: content part of type {kind!r} is not supported "
                                       "(text and image_url only)")
            converted.append({"role": message["role"], "content": parts})
        return converted, images


def decode_data_url(url: Any, where: str = "image_url"):
    """The image in a ``data:image/...;base64,...`` URL, as an RGB PIL image; RequestError otherwise."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(url, str) or not url.startswith("data:"):
        raise RequestError(f"{where}: only data: URLs are accepted (this server fetches nothing)")
    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        raise RequestError(f"{where}: expected a base64 data URL (data:image/...;base64,...)")
    try:
        image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
        image.load()
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError) as exc:
        raise RequestError(f"{where}: not a readable base64 image ({exc})") from exc
    return image.convert("RGB")


def _flag(request: dict[str, Any], key: str, default: bool) -> bool:
    value = request.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RequestError(f"{key} must be true or false")
    return value


def _integer(request: dict[str, Any], key: str, default: int | None, low: int | None,
             high: int | None = None) -> int | None:
    value = request.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low) or \
            (high is not None and value > high):
        bounds = f" between {low} and {high}" if high is not None else f" of at least {low}" if low is not None else ""
        raise RequestError(f"{key} must be an integer{bounds}")
    return value


def _number(request: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = request.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise RequestError(f"{key} must be a number between {low} and {high}")
    return float(value)


# --- HTTP ----------------------------------------------------------------------------------------------------------

class ChatServer(ThreadingHTTPServer):
    """A threading HTTP server holding the `ChatModel` its handlers answer from."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], chat: ChatModel,
                 *, quiet: bool = True) -> None:
        super().__init__(address, handler)
        self.chat = chat
        self.quiet = quiet

    @property
    def url(self) -> str:
        """The base URL clients use, ``http://HOST:PORT/v1``."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"


class ChatHandler(BaseHTTPRequestHandler):
    """Answers ``GET /v1/models`` and ``POST /v1/chat/completions`` (tests subclass it to inject faults)."""

    server: ChatServer
    max_body = 64 * 2**20

    def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self.send_json(HTTPStatus.OK, self.server.chat.models())
        else:
            self.send_error_json(HTTPStatus.NOT_FOUND, f"no route GET {self.path}", "not_found")

    def do_POST(self) -> None:  # noqa: N802
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self.send_error_json(HTTPStatus.NOT_FOUND, f"no route POST {self.path}", "not_found")
            return
        try:
            status, body = HTTPStatus.OK, self.server.chat.complete(self.read_json())
        except RequestError as exc:
            status, body = exc.status, error_body(exc.status, str(exc), exc.code)
        except Exception as exc:  # a failure inside the model: the client sees a 500 with its text
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            body = error_body(status, f"{type(exc).__name__}: {exc}", "internal_error")
        try:
            self.send_json(status, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped waiting (its timeout): nobody to answer

    def read_json(self) -> dict[str, Any]:
        """The request's JSON body; a missing, negative, malformed or oversized Content-Length is refused before
        anything is read (reading without a length would wait for the client to close)."""
        given = self.headers.get("Content-Length")
        length = int(given) if given is not None and given.strip().isdigit() else None
        if length is None or length > self.max_body:
            self.close_connection = True  # the body, if any, is not read: the connection cannot be reused
            if given is None:
                raise RequestError("request without Content-Length (chunked bodies are not accepted)", 411)
            if length is None:
                raise RequestError(f"Content-Length {given!r:.40} is not a byte count")
            raise RequestError(f"request body of {length} bytes is over the limit of {self.max_body}", 413)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise RequestError(f"request body is not JSON ({str(exc)[:200]})") from exc
        if not isinstance(body, dict):
            raise RequestError("request body must be a JSON object")
        return body

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.send_body(status, json.dumps(body).encode("utf-8"), "application/json", headers)

    def send_error_json(self, status: int, message: str, code: str = "error",
                        headers: dict[str, str] | None = None) -> None:
        self.send_json(status, error_body(status, message, code), headers)

    def send_body(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the http.server signature)
        if not self.server.quiet:
            super().log_message(format, *args)


def error_body(status: int, message: str, code: str = "error") -> dict[str, Any]:
    """An error in the OpenAI shape."""
    kind = "invalid_request_error" if 400 <= status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "code": code}}


def serve(model_dir: str | Path | None = None, host: str = "127.0.0.1", port: int = 0, *,
          chat: ChatModel | None = None, name: str | None = None, handler: type[ChatHandler] = ChatHandler,
          quiet: bool = True, **load: Any) -> tuple[ChatServer, threading.Thread]:
    """Start serving ``model_dir`` (or an already loaded ``chat``) on ``host:port`` in a background thread.

    ``port=0`` picks a free port (read it from ``server.url``). ``load`` goes to `ChatModel.load` (device, dtype,
    max_pixels). Stop with ``server.shutdown(); server.server_close()``.
    """
    if chat is None:
        if model_dir is None:
            raise ValueError("serve: give model_dir or chat")
        chat = ChatModel.load(str(model_dir), name=name, **load)
    try:
        server = ChatServer((host, port), handler, chat, quiet=quiet)
    except OSError as exc:  # the port is taken, the address is not this machine's, ...
        raise ValueError(f"{host}:{port}: cannot listen there ({exc.strerror or exc}); is another server using "
                         "the port? (--port 0 picks a free one)") from exc
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},  # a prompt shutdown()
                              name=f"portraitcraft-serve-{server.server_address[1]}", daemon=True)
    thread.start()
    return server, thread
