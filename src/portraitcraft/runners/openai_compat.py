"""The OpenAI-compatible backend: a model behind a chat-completions server (vLLM, SGLang, LMDeploy, a hosted API).

For example::

    from portraitcraft import open_dataset, run_predictions
    from portraitcraft.runners.openai_compat import (OpenAIBackend,
                                                     OpenAISettings)

    backend = OpenAIBackend(OpenAISettings(base_url="http://gpu-host:8000/v1",
                                           model="Qwen/Qwen3-VL-4B-Instruct"))
    run_predictions(backend, open_dataset("data/lab"), split="test",
                    out="runs/vllm.jsonl", batch_size=16)

This is how a big model or a big run is spread over several GPUs and machines: the server does the batching
(vLLM and SGLang batch concurrent requests continuously), this backend keeps it busy with up to ``concurrency``
requests in flight. The run loop, the records, resumption and parsing are the same as for the transformers
backend (`portraitcraft.runners.qwen`).

The server
    Requests go through the ``openai`` SDK's client. ``base_url`` ends in ``/v1`` (a trailing ``/chat/completions``
    is dropped). The key comes from ``api_key``, else ``PORTRAITCRAFT_API_KEY``, else ``OPENAI_API_KEY``, and is
    sent as ``Authorization: Bearer`` to that address only: redirects are not followed (a 3xx answer fails, naming
    where it pointed), so the key never reaches another origin. It is never written to a record, and every text
    that echoes a server's answer (errors, malformed bodies, the model listing) has the key and the URL's password
    replaced by ``***``; the URL is recorded without user, password or query. At construction the backend
    lists ``/models`` (an unreachable server, a rejected key or a model the server does not serve stops here, with
    the server's answer) and sends one probe request with a small image in the chosen protocol's exact form, so a
    server that cannot do the protocol fails before any record is written. ``model=None`` takes the server's
    only model.
Requests
    Images go as ``data:image/jpeg;base64,...`` URLs (``image_format="png"`` sends them losslessly) after the run
    loop has capped their longest side at ``max_side``; the server's own processor then applies its pixel budget
    (vLLM: ``--mm-processor-kwargs``). Up to ``concurrency`` requests are in flight at once, over the images of a
    batch and, for ``score``, over their slots: give the run loop a ``batch_size`` of at least ``concurrency``.
    Connection errors, timeouts (``timeout_s`` without an answer), 408, 429 and 5xx are retried ``max_retries``
    times with exponential backoff (``backoff_s`` doubling, with jitter, at most ``max_backoff_s``; a
    ``Retry-After`` header is honoured up to `MAX_RETRY_AFTER_S`); any other status is final. One request,
    retries and waits included, never takes longer than ``timeout_s`` x (``max_retries`` + 1): a wait that would
    pass that limit is not made, and the request fails. An image whose request fails for good, or
    whose response is malformed (not JSON, no choices, no content), gets a failed record naming the status, the
    server's message or what was missing; the run goes on.
``generate``
    The reference prompt (`prompts.generate_prompt`) with the image first, as the transformers backend sends it;
    greedy (temperature 0) by default, or the reference sampling (temperature 0.2, top-p 0.9) with a seed per
    image (CRC-32 of its name xor ``seed``). Other decoding defaults (top-k, repetition penalty) are the server's;
    vLLM takes them from the model's ``generation_config.json``. The text is kept as ``raw_text`` and read by
    `parsing.parse_model_output`; token counts come from ``usage``.
``score``
    One request per slot of `prompts.SCORE_SLOTS` (the answer slot only for an image with a question): the
    image and `prompts.score_prompt`, with the assistant turn pre-filled with the slot's line head
    (``Sharpness:``) through vLLM/SGLang's ``continue_final_message: true, add_generation_prompt: false``, one
    new token, ``logprobs: true`` and ``top_logprobs``. The candidates' probabilities are read from the first
    token's top list (the token text matched after stripping whitespace; where a candidate appears both with
    and without a leading space, the spaced form is read, as the transformers backend reads the form the
    template writes), then renormalised and summarised by `prompts.read_score_slots`, so the records match the
    transformers backend's. A candidate absent from the top list counts 0 and is listed under
    ``probabilities["absent"]``; ``mass`` says what share of the distribution the candidates held (a server that
    ignores the pre-fill shows as a mass near 0). ``top_logprobs`` defaults to 20, the OpenAI and vLLM limit.
"""

from __future__ import annotations

import base64
import io
import ipaddress
import json
import math
import os
import random
import threading
import time
import urllib.parse
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from portraitcraft.exceptions import PortraitCraftError
from portraitcraft.parsing import parse_model_output
from portraitcraft.prompts import (
    GENERATE,
    PROTOCOLS,
    REFERENCE_MAX_NEW_TOKENS,
    REFERENCE_MAX_SIDE,
    REFERENCE_SAMPLING,
    SCORE,
    SCORE_SLOTS,
    ScoreSlot,
    generate_prompt,
    prompt_hash,
    read_score_slots,
    score_prompt,
    score_slots,
)
from portraitcraft.runners.base import Item, Outcome

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
DEFAULT_MODEL = "Qwen/Qwen3-VL-4B-Instruct"
API_KEY_VARIABLES = ("PORTRAITCRAFT_API_KEY", "OPENAI_API_KEY")
SAMPLINGS = ("greedy", "reference")
IMAGE_FORMATS = ("jpeg", "png")
RETRY_STATUSES = frozenset({408, 429})  # and every 5xx
MAX_RETRY_AFTER_S = 60.0  # a Retry-After beyond this is treated as this


class ServerCheckError(PortraitCraftError):
    """The server cannot run this configuration (unreachable, key refused, model not served, no logprobs...)."""


class RequestFailed(PortraitCraftError):
    """A request that failed; ``status`` is the HTTP status when the server answered one."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class MalformedResponse(RequestFailed):
    """A 200 answer whose body is not what the protocol promises (not JSON, no choices, no logprobs...)."""


class NoLogprobs(MalformedResponse):
    """A score response without the log-probabilities it asked for."""


@dataclass(frozen=True)
class OpenAISettings:
    base_url: str = DEFAULT_BASE_URL
    model: str | None = DEFAULT_MODEL  # the served model's name; None: the server's only model
    api_key: str | None = field(default=None, repr=False)  # None: $PORTRAITCRAFT_API_KEY, else $OPENAI_API_KEY
    protocol: str = GENERATE
    concurrency: int = 8  # requests in flight at once
    timeout_s: float = 300.0  # seconds without an answer before a request is abandoned (and retried)
    max_retries: int = 3  # retries after the first attempt, for connection errors, timeouts, 408, 429, 5xx
    backoff_s: float = 1.0  # the first retry's wait; doubled each time (with jitter)
    max_backoff_s: float = 60.0
    sampling: str = "greedy"  # or "reference": temperature 0.2, top-p 0.9, seeded per image
    max_new_tokens: int = REFERENCE_MAX_NEW_TOKENS
    seed: int = 0
    max_side: int = REFERENCE_MAX_SIDE  # longest image side sent
    image_format: str = "jpeg"  # or "png" (lossless, larger)
    jpeg_quality: int = 95
    top_logprobs: int = 20  # score: the length of the top list read (OpenAI and vLLM allow up to 20 by default)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r}: expected one of {', '.join(PROTOCOLS)}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling {self.sampling!r}: expected one of {', '.join(SAMPLINGS)}")
        if self.image_format not in IMAGE_FORMATS:
            raise ValueError(f"image_format {self.image_format!r}: expected one of {', '.join(IMAGE_FORMATS)}")
        for name in ("concurrency", "max_new_tokens", "max_side", "top_logprobs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be at least 1")
        if self.max_retries < 0 or not self.timeout_s > 0 or self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError("max_retries and the backoff must be zero or more, timeout_s more than zero")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality={self.jpeg_quality}: must be 1-100")
        split_base_url(self.base_url)  # raises on a URL that cannot be used
        if not self.api_key:
            key = next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None)
            object.__setattr__(self, "api_key", key)


# --- URLs and images ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BaseURL:
    endpoint: str  # scheme://host:port/path, without user, password or query: where requests go
    query: str  # appended to every request (some gateways want ?api-version=...)
    basic_auth: str | None  # "Basic ..." from user:password in the URL, used when no key is given
    loopback: bool  # a server on this machine: never reached through a proxy
    password: str | None = field(default=None, repr=False)

    @property
    def public(self) -> str:
        """What the records say (the endpoint, no credentials, no query)."""
        return self.endpoint


def split_base_url(url: str) -> BaseURL:
    """``url`` parsed into where requests go and what may be recorded; ValueError when it is not http(s)."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base URL {url!r}: expected http(s)://host[:port]/v1")
    path = parts.path.rstrip("/").removesuffix("/chat/completions")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"base URL {split_netloc_safe(url)!r}: {exc}") from None
    netloc = f"{host}:{port}" if port else host
    basic = password = None
    if parts.username is not None:
        password = urllib.parse.unquote(parts.password or "") or None
        credentials = f"{urllib.parse.unquote(parts.username)}:{password or ''}"
        basic = "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
    try:
        loopback = ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        loopback = parts.hostname == "localhost"
    return BaseURL(f"{parts.scheme}://{netloc}{path}", parts.query, basic, loopback, password)


def split_netloc_safe(url: str) -> str:
    """``url`` without its user and password, for messages."""
    parts = urllib.parse.urlsplit(url.strip())
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def image_data_url(image: Image.Image, image_format: str = "jpeg", quality: int = 95) -> str:
    """The image as a ``data:image/...;base64,`` URL (JPEG at ``quality``, or lossless PNG)."""
    buffer = io.BytesIO()
    if image_format == "jpeg":
        rgb = image if image.mode in ("RGB", "L") else image.convert("RGB")
        rgb.save(buffer, format="JPEG", quality=quality)
    else:
        image.save(buffer, format="PNG")
    return f"data:image/{image_format};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def candidate_probabilities(top_logprobs: Sequence[Any], candidates: Sequence[str]) -> tuple[list[float], list[str]]:
    """The candidates' probabilities in a token's top-logprobs list, and the candidates absent from it (0).

    A token matches a candidate when its text equals it after stripping whitespace. When any candidate appears
    with a leading space, only spaced tokens are read (the form after ``"Sharpness:"``), else the bare ones;
    tokens of the same text (several ids decoding alike) add up.
    """
    forms: dict[bool, dict[str, float]] = {True: {}, False: {}}
    for entry in top_logprobs:
        if not isinstance(entry, dict):
            raise NoLogprobs(f"top_logprobs entry is not an object: {str(entry)[:80]}")
        token, logprob = entry.get("token"), entry.get("logprob")
        if not isinstance(token, str) or isinstance(logprob, bool) or not isinstance(logprob, (int, float)):
            raise NoLogprobs(f"top_logprobs entry without a token text and a numeric logprob: {str(entry)[:80]}")
        word = token.strip()
        if word in candidates:
            found = forms[token[:1].isspace()]
            found[word] = found.get(word, 0.0) + math.exp(min(logprob, 0.0))
    read = forms[True] or forms[False]
    return [read.get(word, 0.0) for word in candidates], [word for word in candidates if word not in read]


# --- the backend --------------------------------------------------------------------------------------------------

class OpenAIBackend:
    """A model behind an OpenAI-compatible chat-completions server; see the module docstring."""

    def __init__(self, settings: OpenAISettings = OpenAISettings()) -> None:
        import openai

        self.settings = settings
        self.max_side = settings.max_side
        self.url = split_base_url(settings.base_url)
        headers = {"User-Agent": "portraitcraft"}
        # The key, else the URL's user:password, else no Authorization header at all (a local server needs none).
        self._auth: dict[str, Any] = {}
        if not settings.api_key:
            self._auth = {"Authorization": self.url.basic_auth or openai.Omit()}
        query = dict(urllib.parse.parse_qsl(self.url.query, keep_blank_values=True)) or None
        self._client = openai.OpenAI(
            base_url=self.url.endpoint, api_key=settings.api_key or (lambda: ""), max_retries=0,
            timeout=settings.timeout_s, default_headers=headers, default_query=query,
            # Redirects are never followed: the SDK would resend the Authorization header to wherever they point.
            # A server on this machine is never reached through a proxy.
            http_client=openai.DefaultHttpxClient(follow_redirects=False, trust_env=not self.url.loopback))
        self._random = random.Random()
        self._random_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="portraitcraft-openai")
        self.model, self.server_model = self._check_model()
        self._check_protocol()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- run metadata --

    def config(self) -> dict[str, Any]:
        """What defines the predictions (hashed for resumption). Not the URL, the key, the concurrency or the
        timeouts: the same model answers the same on another host, or with more requests in flight."""
        s = self.settings
        image = {"format": s.image_format, **({"quality": s.jpeg_quality} if s.image_format == "jpeg" else {})}
        return {
            "backend": "openai",
            "model": self.model,
            "protocol": s.protocol,
            "prompt_hash": prompt_hash(s.protocol),
            "decoding": self.decoding(),
            "max_side": s.max_side,
            "image": image,
        }

    def metadata(self) -> dict[str, Any]:
        s = self.settings
        return {**self.config(), "base_url": self.url.public, "server_model": self.server_model,
                "concurrency": s.concurrency, "timeout_s": s.timeout_s, "max_retries": s.max_retries}

    def decoding(self) -> dict[str, Any]:
        s = self.settings
        if s.protocol == SCORE:
            return {"max_tokens": 1, "temperature": 0.0, "logprobs": True, "top_logprobs": s.top_logprobs,
                    "prefill": "continue_final_message"}
        if s.sampling == "greedy":
            return {"sampling": "greedy", "temperature": 0.0, "max_tokens": s.max_new_tokens}
        return {"sampling": "reference", "temperature": REFERENCE_SAMPLING["temperature"],
                "top_p": REFERENCE_SAMPLING["top_p"], "max_tokens": s.max_new_tokens, "seed": s.seed,
                "seed_per_image": "crc32(image_path) xor seed"}

    # -- HTTP --

    def redact(self, text: str, limit: int | None = None) -> str:
        """``text`` with every credential replaced by ``***``, then cut to ``limit`` characters."""
        for secret in (self.settings.api_key, self.url.password, self.url.basic_auth):
            if secret:
                text = text.replace(secret, "***")
        return text if limit is None or len(text) <= limit else text[:limit]

    def _request_once(self, path: str, call: Any, timeout: float) -> Any:
        """One attempt of an SDK call (``with_raw_response``); the parsed JSON body, or RequestFailed."""
        import openai

        where = f"{'GET' if path == '/models' else 'POST'} {self.url.public}{path}"
        try:
            raw = call(timeout=timeout, extra_headers=self._auth)
            body = raw.http_response.content
        except openai.APITimeoutError as exc:
            short = (
                "" if timeout >= self.settings.timeout_s else f"; this attempt had {timeout:.2g} s left of the limit"
            )
            raise RequestFailed(
                f"{where}: no answer within {self.settings.timeout_s:g} s{short}", retryable=True
            ) from exc
        except openai.APIConnectionError as exc:
            reason = exc.__cause__ or exc
            raise RequestFailed(self.redact(f"{where}: cannot connect ({reason})"), retryable=True) from None
        except openai.APIStatusError as exc:
            response = exc.response
            try:
                detail = server_message(response.content)
            except Exception:  # the error body could not be read (connection dropped)
                detail = "(the error body could not be read)"
            if 300 <= response.status_code < 400:
                detail = (
                    f"redirect to {response.headers.get('Location', '(no Location)')!r} not followed (the "
                    f"API key is only ever sent to {self.url.public}); give the final address as --base-url"
                )
            code = response.status_code
            raise RequestFailed(
                self.redact(f"{where}: HTTP {code} {response.reason_phrase}: {detail}", 400),
                status=code,
                retryable=code in RETRY_STATUSES or code >= 500,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            ) from None
        try:
            return json.loads(body)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise MalformedResponse(self.redact(f"{where}: response is not JSON: {body[:120]!r}", 400)) from None

    def request(self, path: str, call: Any) -> Any:
        """One SDK call with retries: the parsed JSON answer, or RequestFailed naming the last error.

        Never longer than ``timeout_s`` x (``max_retries`` + 1), waits included."""
        s = self.settings
        deadline = time.monotonic() + s.timeout_s * (s.max_retries + 1)
        attempt = 0
        while True:
            left = deadline - time.monotonic()
            try:
                return self._request_once(path, call, min(s.timeout_s, max(left, 0.001)))
            except RequestFailed as failure:
                if failure.retry_after is not None:
                    wait = min(failure.retry_after, MAX_RETRY_AFTER_S)
                else:
                    with self._random_lock:
                        jitter = 0.5 + 0.5 * self._random.random()  # spreads retries of concurrent requests
                    wait = min(s.max_backoff_s, s.backoff_s * 2 ** attempt) * jitter
                out_of_time = time.monotonic() + wait >= deadline
                if not failure.retryable or attempt >= s.max_retries or out_of_time:
                    if attempt or (failure.retryable and out_of_time and s.max_retries):
                        why = (
                            f"; the next wait ({wait:g} s) would pass the limit of "
                            f"{s.timeout_s * (s.max_retries + 1):g} s"
                            if out_of_time and attempt < s.max_retries
                            else ""
                        )
                        failure.args = (f"{failure.args[0]} (after {attempt + 1} attempts{why})",)
                    raise
                time.sleep(wait)
                attempt += 1

    # -- start-up checks --

    def _check_model(self) -> tuple[str, dict[str, Any] | None]:
        """The model name to send and what the server reports about it (None where it lists nothing)."""
        wanted = self.settings.model
        try:
            listing = self.request("/models", self._client.models.with_raw_response.list)
        except RequestFailed as exc:
            if exc.status == 404 and wanted:  # a server without the listing endpoint: trust the given name
                return wanted, None
            hint = " (check --api-key, $PORTRAITCRAFT_API_KEY or $OPENAI_API_KEY)" if exc.status in (401, 403) else ""
            raise ServerCheckError(f"{self.url.public}: cannot list the served models: {exc}{hint}") from exc
        entries = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(entries, list):
            raise ServerCheckError(
                f"{self.url.public}/models: not a model list ({self.redact(json.dumps(listing), 120)})"
            )
        served = {e["id"]: e for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)}
        shown = ", ".join(self.redact(name, 80) for name in sorted(served)[:10])
        if wanted is None:
            if len(served) != 1:
                raise ServerCheckError(f"{self.url.public} serves {len(served)} models ({shown or 'none'}); "
                                       "name one with --model")
            wanted = next(iter(served))
        if wanted not in served:
            raise ServerCheckError(f"{self.url.public} does not serve {wanted!r}; it serves "
                                   f"{shown or 'nothing'} (pass one of them as --model)")
        entry = served[wanted]
        keep = ("id", "root", "owned_by", "created", "max_model_len", "revision")
        return wanted, json.loads(self.redact(json.dumps({k: entry[k] for k in keep if k in entry})))

    def _check_protocol(self) -> None:
        """One request in the protocol's exact form, with a small grey image, before any record is written."""
        from PIL import Image

        image = image_data_url(Image.new("RGB", (64, 64), (128, 128, 128)), self.settings.image_format,
                               self.settings.jpeg_quality)
        if self.settings.protocol == GENERATE:
            try:
                self._chat({**self._generate_body(Item("probe"), image), "max_tokens": 1})
            except RequestFailed as exc:
                raise ServerCheckError(f"the model {self.model!r} does not answer a chat request with an image: "
                                       f"{exc}") from exc
            return
        slot = SCORE_SLOTS[-1]
        advice = ("the server does not offer logprobs with an assistant pre-fill (continue_final_message), which "
                  "the score protocol needs; use --protocol generate")
        try:
            self._slot_probabilities(slot, image, score_prompt(None, None))
        except NoLogprobs as exc:
            raise ServerCheckError(f"{exc}: {advice}") from exc
        except RequestFailed as exc:
            if exc.status is not None and 400 <= exc.status < 500:  # parameters refused
                raise ServerCheckError(f"{exc}: {advice}") from exc
            raise ServerCheckError(f"the score probe failed: {exc}") from exc

    # -- requests --

    def _messages(self, image_url: str, prompt: str, prefill: str | None = None) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": image_url}}, {"type": "text", "text": prompt}]}]
        if prefill is not None:
            messages.append({"role": "assistant", "content": prefill})
        return messages

    def _generate_body(self, item: Item, image_url: str) -> dict[str, Any]:
        s = self.settings
        body: dict[str, Any] = {"model": self.model, "messages": self._messages(
            image_url, generate_prompt(item.question, item.options)), "max_tokens": s.max_new_tokens}
        if s.sampling == "greedy":
            body["temperature"] = 0.0
        else:  # a seed per image: a resumed or re-ordered run samples each image the same way
            body.update(temperature=REFERENCE_SAMPLING["temperature"], top_p=REFERENCE_SAMPLING["top_p"],
                        seed=zlib.crc32(item.image_path.encode("utf-8")) ^ s.seed)
        return body

    def _slot_probabilities(self, slot: ScoreSlot, image_url: str, prompt: str) -> tuple[list[float], list[str], dict]:
        """One score request: the slot's candidate probabilities, the absent candidates, and the usage."""
        body = {"model": self.model, "messages": self._messages(image_url, prompt, prefill=slot.head),
                "max_tokens": 1, "temperature": 0.0, "logprobs": True, "top_logprobs": self.settings.top_logprobs,
                # vLLM's and SGLang's own parameters: continue the pre-filled assistant turn.
                "extra_body": {"continue_final_message": True, "add_generation_prompt": False}}
        choice, response = self._chat(body)
        logprobs = choice.get("logprobs")
        content = logprobs.get("content") if isinstance(logprobs, dict) else None
        if not isinstance(content, list) or not content or not isinstance(content[0], dict):
            raise NoLogprobs(f"{self._chat_where}: the response has no logprobs")
        top = content[0].get("top_logprobs")
        if not isinstance(top, list) or not top:
            raise NoLogprobs(f"{self._chat_where}: the response's first token has no top_logprobs")
        try:
            probabilities, absent = candidate_probabilities(top, slot.candidates)
        except NoLogprobs as exc:
            raise NoLogprobs(self.redact(f"{self._chat_where}: {exc}")) from None
        usage = response.get("usage")
        return probabilities, absent, usage if isinstance(usage, dict) else {}

    @property
    def _chat_where(self) -> str:
        return f"POST {self.url.public}/chat/completions"

    def _chat(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """One chat-completion call with retries: its first choice and the whole response."""
        create = self._client.chat.completions.with_raw_response.create
        response = self.request("/chat/completions", lambda **options: create(**body, **options))
        if not isinstance(response, dict):
            raise MalformedResponse(self.redact(f"{self._chat_where}: response is JSON but not an object: "
                                                f"{json.dumps(response)}", 200))
        choices = response.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            detail = f" (error: {server_message(json.dumps(response).encode())})" if response.get("error") else ""
            raise MalformedResponse(self.redact(f"{self._chat_where}: response has no choices{detail}: "
                                                f"{json.dumps(response)}", 400))
        return choices[0], response

    def _generate_one(self, item: Item, image_url: str) -> Outcome:
        try:
            choice, response = self._chat(self._generate_body(item, image_url))
            message = choice.get("message")
            text = message.get("content") if isinstance(message, dict) else None
            if not isinstance(text, str):
                raise MalformedResponse(self.redact(
                    f"{self._chat_where}: response has no message content (finish_reason "
                    f"{choice.get('finish_reason')!r}): {json.dumps(choice)}", 300))
        except RequestFailed as exc:
            return Outcome(error=str(exc))
        usage = response.get("usage") if isinstance(response.get("usage"), dict) else {}
        tokens = None
        if isinstance(usage.get("prompt_tokens"), int) and isinstance(usage.get("completion_tokens"), int):
            tokens = {"prompt": usage["prompt_tokens"], "generated": usage["completion_tokens"]}
        # The model's own text is kept as it came (it is the record's raw_text); only server errors are redacted.
        return Outcome(parsed=parse_model_output(text, item.options or None), raw_text=text, tokens=tokens)

    # -- prediction --

    def predict(self, items: Sequence[Item], images: Sequence[Image.Image]) -> list[Outcome]:
        """One outcome per item; a failed request is a failed outcome, never an exception."""
        s = self.settings
        urls = list(self._pool.map(lambda image: image_data_url(image, s.image_format, s.jpeg_quality), images))
        if s.protocol == GENERATE:
            futures = [self._pool.submit(self._generate_one, item, url) for item, url in zip(items, urls)]
            return [future.result() for future in futures]
        per_image = []
        for item, url in zip(items, urls):
            prompt = score_prompt(item.question, item.options)
            slots = score_slots(bool(item.question))
            per_image.append([(slot, self._pool.submit(self._slot_probabilities, slot, url, prompt)) for slot in slots])
        return [self._score_outcome(item, slots) for item, slots in zip(items, per_image)]

    def _score_outcome(self, item: Item, slots: list[tuple[ScoreSlot, Any]]) -> Outcome:
        candidates: dict[str, list[float]] = {}
        absent: dict[str, list[str]] = {}
        prompt_tokens = generated = 0
        error = None
        for slot, future in slots:
            try:
                probabilities, missing, usage = future.result()
            except RequestFailed as exc:
                error = error or f"{slot.field}: {exc}"  # the first slot's failure, in slot order
                continue
            candidates[slot.field] = probabilities
            if missing:
                absent[slot.field] = missing
            prompt_tokens += _count(usage.get("prompt_tokens"))
            generated += _count(usage.get("completion_tokens"))
        if error is not None:
            return Outcome(error=error)
        parsed, probabilities = read_score_slots(candidates, bool(item.question))
        probabilities["absent"] = absent  # candidates not in the top list, counted as probability 0
        return Outcome(parsed=parsed, probabilities=probabilities,
                       tokens={"prompt": prompt_tokens, "generated": generated, "requests": len(slots)})


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def server_message(body: bytes) -> str:
    """The human part of an error body: OpenAI's ``{"error": {"message"}}``, FastAPI's ``detail``, or the text.

    Not shortened: callers redact credentials first, then cut (a cut first could leave part of a key)."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return text or "(empty body)"
    if isinstance(data, dict):
        error = data.get("error")
        for candidate in (error.get("message") if isinstance(error, dict) else error, data.get("detail"),
                          data.get("message")):
            if isinstance(candidate, str) and candidate:
                return candidate
            if candidate:
                return json.dumps(candidate)
    return text


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from now; None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when.timestamp() - time.time())
