"""Hostile input, faults and security: what an attacker or a careless user can hand the tool, and what it must do.

Each case is small and fast: no big image on disk (oversized images are crafted headers), fake servers on
127.0.0.1 made with the standard library, and a tiny lab shared by the module. The rules checked: nothing from a
data root, a prediction file or a model folder is executed; secrets never leave for another origin nor land in a
record or a message; outputs never destroy inputs; one writer at a time; no traceback, no hang, no silent wrong
result.
"""

from __future__ import annotations

import http.server
import json
import os
import pickle
import socket
import struct
import threading
import time
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from portraitcraft.cli import app

SECRET = "sk-hostile-0123456789abcdef"


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    text = result.output + (getattr(result, "stderr", "") or "")
    # A traceback is never an answer: every failure is one clean line.
    assert "Traceback" not in text, text
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}") from result.exception
    return result.exit_code, text


@pytest.fixture(scope="module")
def lab(make_lab) -> Path:
    return make_lab(n_train=12, n_test=4, n_track2_test=2, seed=0, long_side=96)


# --- 1. no code execution from a model folder -----------------------------------------------------------------------

class _Planted:
    """Unpickling this runs a shell command (it would create the marker file)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _manifest_for(model_dir: Path, model_file: str) -> None:
    import hashlib

    import sklearn

    from portraitcraft.baseline import MANIFEST_SCHEMA
    from portraitcraft.features import FEATURE_NAMES, FEATURE_VERSION

    digest = hashlib.sha256((model_dir / model_file).read_bytes()).hexdigest()
    (model_dir / "manifest.json").write_text(json.dumps({
        "schema": MANIFEST_SCHEMA, "feature_names": list(FEATURE_NAMES), "feature_version": FEATURE_VERSION,
        "sklearn_version": sklearn.__version__, "model_sha256": digest, "cv": {}}), encoding="utf-8")


def test_a_planted_pickle_in_a_model_folder_never_runs(lab, tmp_path):
    marker = tmp_path / "pwned"
    model_dir = tmp_path / "planted.model"
    model_dir.mkdir()
    (model_dir / "model.joblib").write_bytes(pickle.dumps(_Planted(marker)))
    _manifest_for(model_dir, "model.joblib")
    code, text = run_cli("baseline", "predict", lab, "--out", tmp_path / "p.jsonl", "--model-dir", model_dir)
    assert code == 2 and "pickle" in text and "never loaded" in text
    assert not marker.exists()
    # Beside --out (the default model folder) too.
    default = tmp_path / "q.model"
    model_dir.rename(default)
    code, text = run_cli("baseline", "predict", lab, "--out", tmp_path / "q.jsonl")
    assert code == 2 and not marker.exists()


def test_a_skops_model_holding_a_foreign_type_is_refused_unloaded(tmp_path):
    import skops.io

    from portraitcraft.baseline import MODEL_FILE, BaselineError, load_baseline

    model_dir = tmp_path / "m"
    model_dir.mkdir()
    skops.io.dump({"regressor": _Planted(tmp_path / "pwned"), "classifiers": {}}, model_dir / MODEL_FILE)
    _manifest_for(model_dir, MODEL_FILE)
    with pytest.raises(BaselineError, match="refused without loading"):
        load_baseline(model_dir)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("content", [b"\xff\xfe garbage", b"{not json", b"[1, 2]", b"[" * 100000])
def test_a_garbage_baseline_manifest_is_named(tmp_path, content):
    from portraitcraft.baseline import MODEL_FILE, BaselineError, load_baseline

    model_dir = tmp_path / "m"
    model_dir.mkdir()
    (model_dir / MODEL_FILE).write_bytes(b"PK\x03\x04 not a zip")
    (model_dir / "manifest.json").write_bytes(content)
    with pytest.raises(BaselineError, match="manifest.json"):
        load_baseline(model_dir)


def test_a_damaged_skops_file_is_a_clean_error(tmp_path):
    from portraitcraft.baseline import MODEL_FILE, BaselineError, load_baseline

    model_dir = tmp_path / "m"
    model_dir.mkdir()
    (model_dir / MODEL_FILE).write_bytes(b"PK\x03\x04 not a zip at all")
    _manifest_for(model_dir, MODEL_FILE)
    with pytest.raises(BaselineError, match="not a readable skops model"):
        load_baseline(model_dir)


# --- 2. secrets and a hostile OpenAI-compatible server ------------------------------------------------------------

CHAT_OK = {"id": "x", "object": "chat.completion", "model": "m",
           "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": '{"total_score": 62, "answer": "B"}'}}],
           "usage": {"prompt_tokens": 3, "completion_tokens": 2}}


class FakeServer(http.server.ThreadingHTTPServer):
    """A chat-completions server on 127.0.0.1 whose answers a test scripts: ``plan[path]`` is a list of
    (status, headers, body) answers given in turn (the last one repeats); every request's headers are kept."""

    daemon_threads = True

    def __init__(self, plan: dict[str, list[tuple[int, dict, object]]]):
        self.plan = plan
        self.seen: list[tuple[str, str, dict]] = []
        super().__init__(("127.0.0.1", 0), _FakeHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _FakeHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        server: FakeServer = self.server  # type: ignore[assignment]
        path = self.path.split("?")[0].removeprefix("/v1")
        headers = {key.lower(): value for key, value in self.headers.items()}
        server.seen.append((self.command, path, headers))
        answers = server.plan.get(path) or server.plan.get("*") or [(404, {}, {"error": {"message": "no route"}})]
        status, extra, body = answers.pop(0) if len(answers) > 1 else answers[0]
        if callable(body):
            body = body(headers)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer


MODELS = [(200, {}, {"object": "list", "data": [{"id": "m", "object": "model"}]})]


@pytest.fixture
def fake():
    servers: list[FakeServer] = []

    def start(plan):
        servers.append(FakeServer(plan))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def _backend(url: str, **settings):
    from portraitcraft.runners.openai_compat import OpenAIBackend, OpenAISettings

    return OpenAIBackend(OpenAISettings(**{"base_url": url, "model": "m", "api_key": SECRET, "backoff_s": 0.01,
                                           "max_backoff_s": 0.02, "timeout_s": 10, "max_retries": 2, **settings}))


def test_the_key_is_never_sent_to_the_target_of_a_redirect(fake):
    from portraitcraft.runners.openai_compat import ServerCheckError

    elsewhere = fake({"*": [(200, {}, {"data": []})]})
    origin = fake({"/models": [(302, {"Location": elsewhere.url + "/models"}, b"")]})
    with pytest.raises(ServerCheckError, match="redirect to .* not followed") as caught:
        _backend(origin.url)
    assert not elsewhere.seen  # never contacted, so it never saw the key
    assert origin.seen[0][2].get("authorization") == f"Bearer {SECRET}"
    assert SECRET not in str(caught.value)
    # A redirect on the chat endpoint: a failed record, nothing sent on.
    origin = fake({"/models": MODELS, "/chat/completions": [(200, {}, CHAT_OK),
                                                           (307, {"Location": elsewhere.url + "/chat/completions"}, b"")]})
    backend = _backend(origin.url)
    from PIL import Image

    from portraitcraft.runners.base import Item

    (outcome,) = backend.predict([Item("a.jpg")], [Image.new("RGB", (8, 8))])
    assert not outcome.ok and "HTTP 307" in outcome.error and not elsewhere.seen


def _echo(headers: dict) -> dict:
    return {"note": f"you sent {headers.get('authorization')}", "object": "chat.completion", "echo": headers}


def test_a_server_echoing_the_key_is_redacted_everywhere(fake, lab, tmp_path):
    from portraitcraft.runners.openai_compat import ServerCheckError

    # A /models answer that is not a list, echoing the request's headers.
    server = fake({"/models": [(200, {}, _echo)]})
    with pytest.raises(ServerCheckError, match="not a model list") as caught:
        _backend(server.url)
    assert SECRET not in str(caught.value) and "***" in str(caught.value)
    # An error status echoing them.
    server = fake({"/models": [(401, {}, lambda h: {"error": {"message": f"bad key {h.get('authorization')}"}})]})
    with pytest.raises(ServerCheckError, match="HTTP 401") as caught:
        _backend(server.url)
    assert SECRET not in str(caught.value)
    # A 200 reply without choices, echoing them: the record's error and the summary are redacted.
    server = fake({"/models": MODELS, "/chat/completions": [(200, {}, CHAT_OK), (200, {}, _echo)]})
    out = tmp_path / "echo.jsonl"
    code, text = run_cli("predict", "--data", lab, "--out", out, "--backend", "openai", "--base-url", server.url,
                         "--model", "m", "--api-key", SECRET, "--limit", "2", "--no-progress")
    assert code == 1 and "response has no choices" in text
    assert SECRET not in text and SECRET not in out.read_text(encoding="utf-8")
    assert all(rec["status"] == "failed" for rec in map(json.loads, out.read_text().splitlines()))


def test_a_429_with_retry_after_is_waited_for_then_retried(fake):
    from PIL import Image

    from portraitcraft.runners.base import Item

    server = fake({"/models": MODELS, "/chat/completions": [
        (200, {}, CHAT_OK), (429, {"Retry-After": "1"}, {"error": {"message": "slow down"}}), (200, {}, CHAT_OK)]})
    backend = _backend(server.url)
    started = time.monotonic()
    (outcome,) = backend.predict([Item("a.jpg")], [Image.new("RGB", (8, 8))])
    waited = time.monotonic() - started
    assert outcome.ok and outcome.parsed.total_score == 62
    assert 0.9 <= waited < 5  # the server's 1 s, not the client's 0.01 s backoff
    assert sum(1 for method, path, _ in server.seen if path == "/chat/completions") == 3  # probe, 429, retry


def test_a_huge_retry_after_never_stalls_an_image(fake):
    from PIL import Image

    from portraitcraft.runners.base import Item
    from portraitcraft.runners.openai_compat import MAX_RETRY_AFTER_S

    server = fake({"/models": MODELS, "/chat/completions": [
        (200, {}, CHAT_OK), (429, {"Retry-After": "99999999"}, {"error": {"message": "come back next year"}})]})
    backend = _backend(server.url, timeout_s=0.5, max_retries=3)
    started = time.monotonic()
    (outcome,) = backend.predict([Item("a.jpg")], [Image.new("RGB", (8, 8))])
    assert time.monotonic() - started < 2.0  # bounded by timeout x (retries + 1) = 2 s, not 99999999 s
    assert not outcome.ok and "HTTP 429" in outcome.error and "would pass the limit" in outcome.error
    assert MAX_RETRY_AFTER_S == 60


@pytest.mark.parametrize("body", [b"<html>bad gateway</html>", b"[1, 2, 3]", b"[" * 50000 + b"]" * 50000,
                                  b'{"choices": [{"message": {"content": 5}}]}', b'{"choices": "x"}',
                                  b'{"choices": [{"message": {"content": "ok"}}], "usage": {"prompt_tokens": 1e999}}',
                                  b"\xff\xfe\x00"])
def test_malformed_chat_bodies_fail_the_image_cleanly(fake, body):
    from PIL import Image

    from portraitcraft.runners.base import Item

    server = fake({"/models": MODELS, "/chat/completions": [(200, {}, CHAT_OK), (200, {}, body)]})
    backend = _backend(server.url)
    (outcome,) = backend.predict([Item("a.jpg")], [Image.new("RGB", (8, 8))])
    assert outcome.ok == (b"usage" in body)  # a non-integer usage is ignored, the answer kept
    if not outcome.ok:
        assert "/chat/completions" in outcome.error


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"data": "x"}', b'{"data": [1, {"id": 5}]}', b"[" * 50000])
def test_malformed_model_listings_are_one_clean_error(fake, body):
    from portraitcraft.runners.openai_compat import ServerCheckError

    server = fake({"/models": [(200, {}, body)]})
    with pytest.raises(ServerCheckError):
        _backend(server.url)
