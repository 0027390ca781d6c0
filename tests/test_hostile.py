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
    origin = fake(
        {
            "/models": MODELS,
            "/chat/completions": [(200, {}, CHAT_OK), (307, {"Location": elsewhere.url + "/chat/completions"}, b"")],
        }
    )
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


# --- 3. outputs never destroy inputs ------------------------------------------------------------------------------

def _predictions(lab: Path, path: Path, score: float | int = 60, n: int | None = None) -> Path:
    from portraitcraft.attributes import ATTRIBUTE_NAMES
    from portraitcraft.predictions import PredictionWriter, ok_record
    from portraitcraft.runners import config_hash
    from portraitcraft.sources import open_dataset

    images = open_dataset(lab).images()
    names = list(images.loc[images["split"] == "test", "image_path"])[:n]
    path.parent.mkdir(parents=True, exist_ok=True)
    with PredictionWriter(path) as writer:
        for name in names:
            parsed = {"total_score": score, "criteria": dict.fromkeys(ATTRIBUTE_NAMES, "Good"), "answer": "A"}
            # The configuration of `_NoModel` below: a file it may resume.
            writer.write(
                ok_record(name, parsed, run={"backend": "none", "config_hash": config_hash({"backend": "none"})})
            )
    return path


def test_evaluate_never_writes_its_json_over_an_input(lab, tmp_path):
    predictions = _predictions(lab, tmp_path / "p.jsonl")
    truth = lab / "track_1_test_ground_truth.json"
    before = predictions.read_bytes(), truth.read_bytes()
    for target in (predictions, truth, tmp_path / "." / "p.jsonl"):
        code, text = run_cli("evaluate", "-p", predictions, "-g", truth, "--json", target, "--bootstrap", "0")
        assert code == 2 and "refusing to write over an input" in text, text
    # The ground truth named by its folder is still the same file.
    code, text = run_cli("evaluate", "-p", predictions, "-g", lab, "--json", truth, "--bootstrap", "0")
    assert code == 2 and "ground truth" in text
    assert (predictions.read_bytes(), truth.read_bytes()) == before


def test_submission_never_writes_over_its_inputs_links_or_devices(lab, tmp_path):
    predictions = _predictions(lab, tmp_path / "p.jsonl")
    test_file = tmp_path / "track_1_test.json"
    test_file.write_bytes((lab / "track_1_test.json").read_bytes())
    before = predictions.read_bytes(), test_file.read_bytes()
    for target in (predictions, test_file):
        code, text = run_cli("submission", predictions, "--test-file", test_file, "--out", target)
        assert code == 2 and "refusing to write over an input" in text
    assert (predictions.read_bytes(), test_file.read_bytes()) == before
    # A link at the output, or a device: refused, what it points to untouched.
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "out.json"
    link.symlink_to(victim)
    code, text = run_cli("submission", predictions, "--test-file", test_file, "--out", link)
    assert code == 2 and "symbolic link" in text and victim.read_text() == "keep me" and link.is_symlink()
    code, text = run_cli("submission", predictions, "--test-file", test_file, "--out", "/dev/null")
    assert code == 2 and "device" in text
    # A planted OUT.partial link is never followed: the temporary file has a fresh random name.
    out = tmp_path / "real.json"
    (tmp_path / "real.json.partial").symlink_to(victim)
    code, text = run_cli("submission", predictions, "--test-file", test_file, "--out", out)
    assert code == 0, text
    assert victim.read_text() == "keep me" and json.loads(out.read_text())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".real.json")]  # no temporary left behind


class _NoModel:
    """A backend that answers nothing (the output checks happen before any image)."""

    max_side = 64

    def config(self):
        return {"backend": "none"}

    def metadata(self):
        return {"backend": "none"}

    def predict(self, items, images):
        raise AssertionError("no image should be predicted")


@pytest.mark.parametrize("content", [
    b'[\n  {"image_path": "a.jpg", "total_score": 50}\n]\n',  # a submission file, pretty-printed
    b'[{"image_path": "a.jpg", "total_score": 50}]',  # one line, no newline: not a torn record either
    b"some notes\nwithout json",
    b'{"image_path": "a.jpg"}\n{"schema": "other/1", "image_path": "b.jpg"}\n',
])
def test_predict_refuses_an_output_that_is_not_its_json_lines_and_leaves_it_untouched(lab, tmp_path, content):
    from portraitcraft.baseline import BaselineError, predict_feature_baseline
    from portraitcraft.runners import RunError, run_predictions
    from portraitcraft.sources import open_dataset

    out = tmp_path / "existing.json"
    out.write_bytes(content)
    with pytest.raises(RunError, match="existing.json"):
        run_predictions(_NoModel(), open_dataset(lab), split="test", out=out, progress=False)
    assert out.read_bytes() == content
    with pytest.raises(BaselineError, match="existing.json"):
        predict_feature_baseline(lab, out, tmp_path / "never-trained.model")
    assert out.read_bytes() == content and not (tmp_path / "never-trained.model").exists()


def test_predict_refuses_a_folder_a_path_under_a_file_and_a_link(lab, tmp_path):
    from portraitcraft.runners import RunError, run_predictions
    from portraitcraft.sources import open_dataset

    dataset = open_dataset(lab)
    afile = tmp_path / "file"
    afile.write_text("x")
    link = tmp_path / "link.jsonl"
    link.symlink_to(afile)
    for out, message in ((tmp_path, "is a folder"), (afile / "x.jsonl", "is not a folder"), (link, "symbolic link")):
        with pytest.raises(RunError, match=message):
            run_predictions(_NoModel(), dataset, split="test", out=out, progress=False)
    assert afile.read_text() == "x"


def test_report_gives_alike_prediction_files_distinct_submissions(lab, tmp_path):
    from portraitcraft.predictions import read_predictions
    from portraitcraft.sources import open_dataset
    from portraitcraft.table3 import submission_names, write_submissions

    a = _predictions(lab, tmp_path / "runA" / "preds.jsonl", score=10)
    b = _predictions(lab, tmp_path / "runB" / "preds.jsonl", score=90)
    written = write_submissions(open_dataset(lab), [read_predictions(a), read_predictions(b)], tmp_path / "subs")
    assert [p.name for p in written] == ["submission_runA_preds.json", "submission_runB_preds.json"]
    assert [json.loads(p.read_text())[0]["total_score"] for p in written] == [10, 90]
    assert submission_names(["x/p.jsonl", "x/p.json", "y/q.jsonl"]) == [
        "submission_x_p.json", "submission_x_p_2.json", "submission_q.json"]


# --- 4. one lock and one resume rule; failures are counted --------------------------------------------------------

def test_a_second_writer_is_refused_naming_the_first(lab, tmp_path):
    from portraitcraft.baseline import BaselineError, predict_feature_baseline
    from portraitcraft.outputs import OutputLock
    from portraitcraft.runners import RunError, run_predictions
    from portraitcraft.sources import open_dataset

    out = tmp_path / "p.jsonl"
    with OutputLock(out, "portraitcraft predict (the first)"):
        with pytest.raises(RunError, match=r"another run is writing it \(process \d+ on .*the first"):
            run_predictions(_NoModel(), open_dataset(lab), split="test", out=out, progress=False)
        with pytest.raises(BaselineError, match="another run is writing it"):
            predict_feature_baseline(lab, out, tmp_path / "m")
    assert not out.exists() and not (tmp_path / "m").exists()  # refused before any training
    assert not (tmp_path / "p.jsonl.lock").exists()  # released


def test_a_non_utf8_line_in_a_resumed_file_is_named_and_the_file_kept(lab, tmp_path):
    from portraitcraft.runners import RunError, run_predictions
    from portraitcraft.sources import open_dataset

    out = _predictions(lab, tmp_path / "p.jsonl", n=2)
    lines = out.read_bytes().split(b"\n")
    damaged = lines[0] + b"\n\xff\xfe not text\n" + lines[1] + b"\n"
    out.write_bytes(damaged)
    with pytest.raises(RunError, match=r"p.jsonl:2: not UTF-8"):
        run_predictions(_NoModel(), open_dataset(lab), split="test", out=out, progress=False)
    assert out.read_bytes() == damaged


def test_baseline_predict_counts_failures_and_exits_1(lab, tmp_path):
    import shutil

    root = tmp_path / "lab"
    shutil.copytree(lab, root, ignore=shutil.ignore_patterns("*.lock"))
    from portraitcraft.sources import open_dataset

    dataset = open_dataset(root)
    test = dataset.images().query("split == 'test'")
    for name in list(test["image_path"])[:2]:
        dataset.image_file(name).write_bytes(b"not an image")
    out = tmp_path / "b.jsonl"
    code, text = run_cli("baseline", "predict", root, "--out", out, "--grid", "linear", "--max-side", "64",
                         "--no-progress")
    assert code == 1 and "2 of 4 image(s) failed" in text
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["status"] for r in records) == ["failed", "failed", "ok", "ok"]
    assert len({r["run"]["config_hash"] for r in records}) == 1
    # Killed inside its last write: the rerun cuts the torn line, says so, and redoes that image and the failed
    # ones (the run loop retries failures), not the one already done.
    data = out.read_bytes()
    out.write_bytes(data[:-30])
    code, text = run_cli("baseline", "predict", root, "--out", out, "--grid", "linear", "--max-side", "64",
                         "--no-progress")
    assert "dropped a torn last line" in text and "1 of 4 already done, 2 failed before and retried" in text
    assert len(out.read_text().splitlines()) == 4
    # Resumed with another model (another configuration): refused, the file kept.
    before = out.read_bytes()
    code, text = run_cli("baseline", "predict", root, "--out", out, "--model-dir", tmp_path / "other.model",
                         "--grid", "linear", "--max-side", "64", "--no-progress")
    assert code == 2 and "configuration" in text and out.read_bytes() == before


# --- 5-8. tracebacks, hangs, silent wrong results, messages ------------------------------------------------------

def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


def _jpeg_header(width: int, height: int) -> bytes:
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"".join(bytes([i, 0x11, 0]) for i in (1, 2, 3))
    return b"\xff\xd8" + b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xd9"


@pytest.fixture
def root(lab, tmp_path) -> Path:
    """A private copy of the lab's annotation files and images, to damage."""
    import shutil

    copy = tmp_path / "root"
    shutil.copytree(lab, copy, ignore=shutil.ignore_patterns("*.lock", "runs"))
    return copy


def _first_image(root: Path, split: str = "train") -> Path:
    from portraitcraft.sources import open_dataset

    dataset = open_dataset(root)
    return dataset.image_file(dataset.images().query(f"split == '{split}'")["image_path"].iloc[0])


@pytest.mark.parametrize(("content", "message"), [
    (b'[{"image_path": "\xff\xfe.jpg"}]', "not UTF-8"),
    (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    (b'[{"image_path": "a.jpg", "total_score": 1' + b"0" * 400 + b"}]", "outside 1-100"),
])
def test_validate_names_the_file_for_hostile_json(root, content, message):
    (root / "track_1_train.json").write_bytes(content)
    code, text = run_cli("validate", root, "--no-check-images")
    assert code in (1, 2) and "track_1_train.json" in text and message in text, text


def test_validate_refuses_a_fifo_instead_of_waiting(root):
    (root / "track_1_train.json").unlink()
    os.mkfifo(root / "track_1_train.json")
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(answer=run_cli("validate", root)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # unblock the reader before failing
        with open(root / "track_1_train.json", "wb"):
            pass
        pytest.fail("validate waited on a FIFO")
    code, text = result["answer"]
    assert code == 2 and "not a regular file" in text
    # A FIFO given as a prediction file: refused, not waited on.
    result.clear()
    worker = threading.Thread(target=lambda: result.update(answer=run_cli(
        "evaluate", "-p", root / "track_1_train.json", "-g", root, "--bootstrap", "0")), daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():
        with open(root / "track_1_train.json", "wb"):
            pass
        pytest.fail("evaluate waited on a FIFO")
    assert result["answer"][0] == 2 and "not a regular file" in result["answer"][1]


@pytest.mark.parametrize(("damage", "message"), [
    ("bomb", "decompression-bomb limit"), ("big", "decompression-bomb limit"), ("truncated", "truncated JPEG"),
    ("truncated png", "truncated PNG"),
])
def test_validate_catches_the_images_predict_would_fail_on(root, damage, message):
    from portraitcraft.images import ImageError, open_image

    image = _first_image(root)
    if damage == "bomb":
        image.write_bytes(_jpeg_header(30000, 30000))
    elif damage == "big":
        image.write_bytes(_png_header(12000, 12000) + b"\x00\x00\x00\x00IEND\xaeB`\x82")
    elif damage == "truncated":
        image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    else:
        from PIL import Image

        Image.new("RGB", (32, 32)).save(image, format="PNG")
        image.write_bytes(image.read_bytes()[:-20])
    code, text = run_cli("validate", root)
    assert code == 1 and image.name in text and message in text, text
    with pytest.raises(ImageError):  # predict's reader refuses it as well
        open_image(image)


def test_validate_fails_a_folder_without_any_dataset_file(tmp_path):
    (tmp_path / "images_00").mkdir()
    code, text = run_cli("validate", tmp_path)
    assert code == 1 and "not a PortraitCraft root" in text and "\nOK" not in text


def test_an_unreadable_folder_is_named(root, monkeypatch):
    """Tests run as root, for whom permissions do not apply: the refusal is simulated where the folder is read."""
    real = os.scandir

    def refuse(path):
        if str(path).endswith("images_00"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", refuse)
    code, text = run_cli("validate", root)
    assert code == 2 and "images_00: cannot read the folder (Permission denied)" in text


def test_deep_json_elsewhere_is_a_clean_error(root, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100000 + b"]" * 100000)
    predictions = _predictions(root, tmp_path / "p.jsonl")
    code, text = run_cli("submission", predictions, "--test-file", deep, "--out", tmp_path / "s.json")
    assert code == 2 and "deep.json" in text
    code, text = run_cli("track2", "evaluate", "-d", deep, "-i", root)
    assert code == 2 and "deep.json" in text
    code, text = run_cli("evaluate", "-p", deep, "-g", root, "--bootstrap", "0")
    assert code == 2 and "deep.json" in text


def test_track2_evaluate_never_reads_outside_images_and_survives_a_1x1_image(root, tmp_path):
    from PIL import Image

    outside = tmp_path / "secret.jpg"
    Image.new("RGB", (64, 64)).save(outside)
    tiny = root / "images_00" / "tiny.png"
    Image.new("RGB", (1, 1)).save(tiny)
    text = "A portrait of a person, centred, eye level, shallow depth of field."
    records = [{"image_path": str(outside), "content_description": text, "composition_analysis": text},
               {"image_path": "../secret.jpg", "content_description": text, "composition_analysis": text},
               {"image_path": "tiny.png", "content_description": text, "composition_analysis": text}]
    descriptions = tmp_path / "d.json"
    descriptions.write_text(json.dumps(records))
    out = tmp_path / "t2.json"
    code, output = run_cli("track2", "evaluate", "-d", descriptions, "-i", root / "images_00", "--rules-only",
                           "--json", out)
    assert code == 0, output
    report = json.loads(out.read_text())
    assert report["images"] == []  # nothing scored: the outside file was never read, the 1x1 image listed
    assert set(report["missing"]) == {str(outside), "../secret.jpg", "tiny.png"}
    assert "not found" in report["missing"]["../secret.jpg"] and "cannot be measured" in report["missing"]["tiny.png"]


@pytest.mark.parametrize("score", [-1e6, 1000, 0.61, 1e308, 10**400])
def test_out_of_range_scores_are_named_invalid_and_never_submitted(lab, tmp_path, score):
    from portraitcraft.evaluation import evaluate
    from portraitcraft.predictions import read_predictions

    path = _predictions(lab, tmp_path / "p.jsonl", n=2)
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    first["parsed"]["total_score"] = score
    path.write_text(json.dumps(first) + "\n" + lines[1] + "\n")
    predictions = read_predictions(path)
    assert any("total_score" in p.message and p.message.endswith("invalid") and p.record == 0
               for p in predictions.problems)
    report = evaluate(path, lab / "track_1_test_ground_truth.json", n_bootstrap=0)
    # Counted as invalid and imputed with the valid scores' mean (the scorer's documented rule), never used.
    assert report.scored.score_handling["invalid"] == 3 and report.scored.score_handling["imputed_with"] == 60
    assert any("no valid score: imputed" in flag for flag in report.scored.flags)
    out = tmp_path / "s.json"
    code, text = run_cli("submission", path, "--test-file", lab / "track_1_test.json", "--out", out)
    assert code == 0
    assert [r["total_score"] for r in json.loads(out.read_text())][:2] == [None, 60]


def test_a_ground_truth_total_out_of_range_is_refused(lab, tmp_path):
    truth = json.loads((lab / "track_1_test_ground_truth.json").read_text())
    truth[1]["total_score"] = 62000
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(truth))
    code, text = run_cli("evaluate", "-p", _predictions(lab, tmp_path / "p.jsonl"), "-g", path, "--bootstrap", "0")
    assert code == 2 and "gt.json" in text and "record 1" in text and "62000 outside 1-100" in text


def test_device_options_are_checked_by_name(lab, tmp_path):
    torch = pytest.importorskip("torch")
    code, text = run_cli("predict", "--data", lab, "--out", tmp_path / "p.jsonl", "--device", "tpu9",
                         "--model", tmp_path / "no-model")
    assert code == 2 and "--device 'tpu9'" in text
    if not torch.cuda.is_available():
        code, text = run_cli("predict", "--data", lab, "--out", tmp_path / "p.jsonl", "--device", "cuda",
                             "--model", tmp_path / "no-model")
        assert code == 2 and "no CUDA GPU is available" in text


def test_predict_checks_its_output_before_loading_a_model(lab, tmp_path):
    code, text = run_cli("predict", "--data", lab, "--out", tmp_path, "--model", tmp_path / "no-model")
    assert code == 2 and "is a folder" in text
    (tmp_path / "f").write_text("x")
    code, text = run_cli("predict", "--data", lab, "--out", tmp_path / "f" / "x.jsonl", "--model", "none")
    assert code == 2 and "is not a folder" in text


def test_an_unsafe_yaml_parameter_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    code, text = run_cli("book", "-p", f"x=!!python/object/apply:os.system ['touch {marker}']", "--no-html")
    assert code == 2 and "--param x: not a plain YAML value" in text and not marker.exists()


# --- serve -----------------------------------------------------------------------------------------------------------

class _NoChat:
    name = "none"

    def models(self):
        return {"object": "list", "data": []}

    def complete(self, request):
        raise AssertionError("never reached")


@pytest.fixture
def chat_server():
    from portraitcraft.runners.server import serve

    server, thread = serve(chat=_NoChat())
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("length", "status"), [(None, 411), ("-1", 400), ("abc", 400), (str(2**40), 413)])
def test_serve_refuses_a_bad_content_length_at_once(chat_server, length, status):
    host, port = chat_server.server_address[:2]
    head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
    head += "" if length is None else f"Content-Length: {length}\r\n"
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.sendall((head + "\r\n{").encode())  # a body that never ends: the server must not wait for it
        answer = connection.recv(4096).decode()
    assert answer.startswith(f"HTTP/1.0 {status}") or answer.startswith(f"HTTP/1.1 {status}"), answer


def test_serve_on_a_busy_port_names_it(chat_server):
    from portraitcraft.runners.server import serve

    host, port = chat_server.server_address[:2]
    with pytest.raises(ValueError, match=f"{host}:{port}: cannot listen there"):
        serve(chat=_NoChat(), host=host, port=port)


def test_evaluate_flags_records_of_two_runs_in_one_file(lab, tmp_path):
    from portraitcraft.evaluation import evaluate

    path = _predictions(lab, tmp_path / "p.jsonl", n=2)
    lines = path.read_text().splitlines()
    other = json.loads(lines[1])
    other["run"] = {"backend": "features", "config_hash": "f" * 16}
    path.write_text(lines[0] + "\n" + json.dumps(other) + "\n")
    report = evaluate(path, lab / "track_1_test_ground_truth.json", n_bootstrap=0)
    assert any("2 different runs" in flag for flag in report.flags)


# --- properties: no input makes a reader crash or a writer damage its file -----------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
RECORD_KEYS = st.sampled_from(["image_path", "total_score", "criteria", "answer", "status", "parsed", "schema", "run"])
RECORDS = st.lists(st.dictionaries(RECORD_KEYS, JSON_VALUES, max_size=6), max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=200), RECORDS.map(lambda r: json.dumps(r).encode()),
                         RECORDS.map(lambda r: "\n".join(map(json.dumps, r)).encode())))
def test_any_prediction_file_is_read_or_refused_in_one_line(tmp_path, content):
    from portraitcraft.predictions import PredictionFileError, read_predictions

    path = tmp_path / "p.json"
    path.write_bytes(content)
    try:
        predictions = read_predictions(path)
    except PredictionFileError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
    else:
        assert all(s is None or s != s or 1 <= s <= 100 for s in predictions.total_score)  # never out of range


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=300), config=st.sampled_from([None, "0" * 16]))
def test_resuming_never_changes_a_file_it_refuses_and_cuts_only_a_torn_tail(tmp_path, content, config):
    from portraitcraft.outputs import OutputError, prepare_jsonl_resume

    path = tmp_path / "r.jsonl"
    path.write_bytes(content)
    try:
        resumed = prepare_jsonl_resume(path, config, schema="portraitcraft.prediction/1")
    except OutputError:
        assert path.read_bytes() == content
    else:
        after = path.read_bytes()
        assert content.startswith(after)  # at most a tail was cut
        assert (after != content) == (resumed.recovered is not None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=RECORDS)
def test_any_track1_file_is_opened_or_refused_by_name(tmp_path, records):
    from portraitcraft.data import DataError
    from portraitcraft.sources import open_dataset

    root = tmp_path / "r"
    root.mkdir(exist_ok=True)
    (root / "track_1_train.json").write_text(json.dumps(records))
    try:
        dataset = open_dataset(root)
    except DataError as exc:
        assert "track_1_train.json" in str(exc)
    else:
        totals = dataset.images()["total_score"].dropna()
        assert ((totals >= 1) & (totals <= 100)).all()


def test_report_on_defective_data_says_so(root, tmp_path):
    records = json.loads((root / "track_1_train.json").read_text())
    records[0]["total_score"] = 62000
    (root / "track_1_train.json").write_text(json.dumps(records))
    code, text = run_cli("report", root, "--out", tmp_path / "rep", "--bootstrap", "0")
    assert code == 0 and "1 problem(s) in the data" in text and "62000 outside 1-100" in text


def test_predict_refuses_an_unresumable_out_before_loading_a_model(lab, tmp_path):
    existing = tmp_path / "existing.json"
    content = json.dumps([{"image_path": "a.jpg", "total_score": 50}], indent=2).encode()
    existing.write_bytes(content)
    started = time.monotonic()
    code, text = run_cli("predict", "--data", lab, "--out", existing, "--model", tmp_path / "no-model")
    assert code == 2 and "existing.json:1: not valid JSON" in text  # not the model's absence: checked first
    assert existing.read_bytes() == content and time.monotonic() - started < 10
    torn = _predictions(lab, tmp_path / "torn.jsonl", n=2)
    data = torn.read_bytes()[:-20]
    torn.write_bytes(data)
    code, text = run_cli("predict", "--data", lab, "--out", torn, "--model", tmp_path / "no-model")
    assert code == 2 and "no such model folder" in text and torn.read_bytes() == data  # checked, not yet cut


def test_a_root_the_process_may_not_read_is_one_line(root, monkeypatch):
    """The root folder itself unreadable (no permission to list or enter it): its entries cannot even be looked at.
    Tests run as root, for whom permissions do not apply, so the refusal is simulated where the system refuses."""
    real_stat, real_scandir, real_listdir = os.stat, os.scandir, os.listdir

    def inside(path) -> bool:
        return str(path).startswith(str(root) + os.sep)

    def stat(path, *args, **kwargs):
        if inside(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    def scandir(path="."):
        if str(path) == str(root) or inside(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    def listdir(path="."):
        if str(path) == str(root) or inside(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "listdir", listdir)
    code, text = run_cli("validate", root)
    assert code == 2
    assert set(text.strip().splitlines()) == {f"error: {root}: cannot read the folder (Permission denied)"}
