"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1: `portraitcraft.runners.server` answering
from a tiny random Qwen3-VL built in this session, and a handler subclass of it that injects faults (server
errors, rate limits, timeouts, malformed bodies, missing logprobs)."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("torchvision")

from portraitcraft.attributes import ANSWER_LETTERS, ATTRIBUTE_NAMES, LEVELS  # noqa: E402
from portraitcraft.predictions import read_predictions  # noqa: E402
from portraitcraft.prompts import (  # noqa: E402
    NO_CANDIDATE_PROBABILITY,
    QUALITY_WORDS,
    SCORE_SLOTS,
    prompt_hash,
    quality_to_score,
)
from portraitcraft.runners import RunError, run_predictions, split_items  # noqa: E402
from portraitcraft.runners.openai_compat import (  # noqa: E402
    OpenAIBackend,
    OpenAISettings,
    ServerCheckError,
    candidate_probabilities,
    retry_after_seconds,
    split_base_url,
)
from portraitcraft.runners.server import ChatHandler, ChatModel, serve  # noqa: E402
from portraitcraft.sources import open_dataset

FAST = {"backoff_s": 0.01, "max_backoff_s": 0.05, "timeout_s": 60.0}  # quick retries; patient with a busy CPU
# What the faulty server answers instead of the model when told to (``Faults.canned``): timeouts are then tested
# against an instant answer, not against the model's speed on a busy machine.
CANNED = {"id": "chatcmpl-canned", "object": "chat.completion", "model": "tiny-qwen3-vl",
          "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                       "message": {"role": "assistant", "content": '{"total_score": 62, "answer": "B"}'}}],
          "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}


# --- fixtures: one tiny model, one tiny lab, one loaded model behind every server ---------------------------------

@pytest.fixture(scope="module")
def lab(make_lab) -> Path:
    return make_lab(n_train=1, n_test=4, seed=0, long_side=128)


@pytest.fixture(scope="module")
def chat(score_backend) -> ChatModel:
    return ChatModel(score_backend, name="tiny-qwen3-vl")  # the same weights, loaded once


@pytest.fixture(scope="module")
def server(chat):
    server, thread = serve(chat=chat)
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


class Faults:
    """What the faulty handler does to each POST: the queued faults first, then ``always`` (None: answer normally)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queue: list[str | None] = []
        self.always: str | None = None
        self.canned = False  # answer CANNED instead of running the model
        self.posts = 0
        self.authorization: list[str | None] = []

    def next(self, authorization: str | None) -> str | None:
        with self.lock:
            self.posts += 1
            self.authorization.append(authorization)
            return self.queue.pop(0) if self.queue else self.always


class FaultyHandler(ChatHandler):
    def do_POST(self) -> None:  # noqa: N802
        faults: Faults = self.server.faults
        fault = faults.next(self.headers.get("Authorization"))
        if fault is None and not faults.canned:
            return super().do_POST()
        request = self.read_json()  # read the whole request first, as a real server does
        if fault is None:
            self.send_json(200, CANNED)
        elif fault == "500":
            self.send_error_json(500, "injected failure", "internal_error")
        elif fault == "429":
            self.send_error_json(429, "slow down", "rate_limited", headers={"Retry-After": "0"})
        elif fault == "400":
            self.send_error_json(400, "injected: unsupported parameter", "invalid_request")
        elif fault == "sleep":
            time.sleep(3.0)  # past the client's timeout; the answer goes nowhere
            try:
                self.send_json(200, CANNED)
            except OSError:
                pass
        elif fault == "not_json":
            self.send_body(200, b"<html><body>Bad gateway page</body></html>", "text/html")
        elif fault == "no_choices":
            self.send_json(200, {"id": "chatcmpl-x", "object": "chat.completion", "choices": []})
        elif fault == "no_logprobs":  # a server that answers but ignores logprobs
            response = self.server.chat.complete(request)
            response["choices"][0]["logprobs"] = None
            self.send_json(200, response)
        else:
            raise AssertionError(f"unknown fault {fault}")


@pytest.fixture
def faulty(chat):
    server, thread = serve(chat=chat, handler=FaultyHandler)
    server.faults = Faults()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def without_timing(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("seconds", "run")}


def backend_for(server, **settings) -> OpenAIBackend:
    return OpenAIBackend(OpenAISettings(base_url=server.url, **{"model": None, **FAST, **settings}))


# --- pieces without a server ---------------------------------------------------------------------------------------

def test_candidates_are_read_from_a_top_list_by_their_stripped_text():
    top = [{"token": " Good", "logprob": math.log(0.5)}, {"token": "Good", "logprob": math.log(0.3)},
           {"token": " Poor", "logprob": math.log(0.1)}, {"token": " Goods", "logprob": math.log(0.05)}]
    # The spaced form is read (" Good", " Poor"); "Medium" is absent and counts 0.
    probabilities, absent = candidate_probabilities(top, LEVELS)
    assert dict(zip(LEVELS, probabilities)) == pytest.approx({"Poor": 0.1, "Medium": 0.0, "Good": 0.5})
    assert absent == ["Medium"]
    # Without any spaced candidate the bare forms are read; two tokens of one text add up.
    bare = [{"token": "B", "logprob": math.log(0.2)}, {"token": "B\n", "logprob": math.log(0.1)},
            {"token": "E", "logprob": math.log(0.4)}]
    probabilities, absent = candidate_probabilities(bare, ANSWER_LETTERS)
    assert probabilities == pytest.approx([0.0, 0.3, 0.0, 0.0]) and absent == ["A", "C", "D"]


def test_base_url_credentials_are_used_but_never_recorded(monkeypatch):
    url = split_base_url("https://user:pa%40ss@gpu.example.org:8443/v1/chat/completions/?api-version=1")
    assert url.public == "https://gpu.example.org:8443/v1" and url.query == "api-version=1"
    assert url.basic_auth == "Basic dXNlcjpwYUBzcw=="  # user:pa@ss
    assert not url.loopback and split_base_url("http://localhost:1/v1").loopback
    with pytest.raises(ValueError, match="expected http"):
        OpenAISettings(base_url="ftp://host/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.delenv("PORTRAITCRAFT_API_KEY", raising=False)
    assert OpenAISettings().api_key == "sk-openai"
    monkeypatch.setenv("PORTRAITCRAFT_API_KEY", "sk-portraitcraft")
    assert OpenAISettings().api_key == "sk-portraitcraft"
    assert OpenAISettings(api_key="sk-given").api_key == "sk-given"
    assert "sk-" not in repr(OpenAISettings())
    assert retry_after_seconds("2.5") == 2.5 and retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: now


# --- the server ----------------------------------------------------------------------------------------------------

def post(url: str, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(url + "/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_server_lists_its_model_and_refuses_what_it_cannot_answer(server, chat):
    with urllib.request.urlopen(server.url + "/models", timeout=30) as response:
        listing = json.loads(response.read())
    assert [m["id"] for m in listing["data"]] == ["tiny-qwen3-vl"]
    assert listing["data"][0]["revision"] == chat.backend.identity["model_revision"]
    text = [{"role": "user", "content": "hello"}]
    cases = [
        ({"model": "other", "messages": text}, 404, "does not exist"),
        ({"messages": []}, 400, "non-empty list"),
        ({"messages": text, "continue_final_message": True}, 400, "final assistant message"),
        ({"messages": [*text, {"role": "assistant", "content": "Hi"}], "continue_final_message": True,
          "add_generation_prompt": True}, 400, "cannot both be true"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/a.jpg"}}]}]},
         400, "only data: URLs"),
        ({"messages": text, "top_logprobs": 5}, 400, "needs logprobs"),
        ({"messages": text, "stream": True}, 400, "stream"),
    ]
    for body, status, message in cases:
        got, answer = post(server.url, body)
        assert got == status and message in answer["error"]["message"], (body, answer)


def test_server_continues_an_assistant_message_and_reports_raw_logprobs(server, score_backend):
    """A pre-filled assistant turn is continued, and the reported log-probabilities are the model's own."""
    import torch

    messages = [{"role": "user", "content": "Judge it."}, {"role": "assistant", "content": "Sharpness:"}]
    status, answer = post(server.url, {"messages": messages, "continue_final_message": True,
                                       "add_generation_prompt": False, "max_tokens": 1, "temperature": 0,
                                       "logprobs": True, "top_logprobs": 3})
    assert status == 200
    first = answer["choices"][0]["logprobs"]["content"][0]
    assert len(first["top_logprobs"]) == 3 and first["token"] == first["top_logprobs"][0]["token"]  # greedy
    processor, tokenizer = score_backend.processor, score_backend.tokenizer
    text = processor.apply_chat_template([{"role": "user", "content": "Judge it."},
                                          {"role": "assistant", "content": "Sharpness:"}],
                                         tokenize=False, continue_final_message=True)
    assert text.endswith("<|im_start|>assistant\nSharpness:")
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        expected = torch.log_softmax(score_backend.model(input_ids=ids).logits[0, -1].double(), dim=-1)
    values, ids_top = torch.topk(expected, 3)
    assert [e["token"] for e in first["top_logprobs"]] == [tokenizer.decode([i]) for i in ids_top.tolist()]
    assert [e["logprob"] for e in first["top_logprobs"]] == pytest.approx(values.tolist(), abs=1e-5)
    assert answer["usage"]["prompt_tokens"] == ids.shape[1] and answer["usage"]["completion_tokens"] == 1


# --- generate ------------------------------------------------------------------------------------------------------

def test_generate_records_match_the_transformers_backend(lab, server, score_backend, tmp_path):
    from portraitcraft.runners.qwen import QwenBackend, QwenSettings

    dataset = open_dataset(lab)
    out = tmp_path / "generate.jsonl"
    backend = backend_for(server, protocol="generate", max_new_tokens=6, image_format="png", concurrency=4)
    summary = run_predictions(backend, dataset, split="test", out=out, limit=4, batch_size=4, progress=False)
    assert summary.written_ok == 4 and not summary.failures
    records = lines_of(out)
    items = split_items(dataset, "test", limit=4)
    assert [r["image_path"] for r in records] == [i.image_path for i in items]
    for rec in records:
        assert rec["status"] == "ok" and isinstance(rec["raw_text"], str)
        assert set(rec["parsed"]["criteria"]) == set(ATTRIBUTE_NAMES)
        assert set(rec["parsed"]["failures"]) <= {"total_score", "answer", *ATTRIBUTE_NAMES}
        assert 1 <= rec["tokens"]["generated"] <= 6 and rec["tokens"]["prompt"] > 0
        run = rec["run"]
        assert run["backend"] == "openai" and run["model"] == "tiny-qwen3-vl" and run["base_url"] == server.url
        assert run["server_model"]["id"] == "tiny-qwen3-vl" and run["protocol"] == "generate"
        assert run["prompt_hash"] == prompt_hash("generate") and run["concurrency"] == 4
        assert run["decoding"] == {"sampling": "greedy", "temperature": 0.0, "max_tokens": 6}
    assert len(read_predictions(out)) == 4

    # Greedy text through the server equals the transformers backend's on the same images (PNG is lossless).
    loaded = (score_backend.model, score_backend.processor, score_backend.identity)
    local = QwenBackend(QwenSettings(model=score_backend.settings.model, protocol="generate", max_new_tokens=6),
                        loaded=loaded)
    for item, rec in zip(items[:2], records[:2]):
        image = dataset.open_image(item.image_path, max_side=local.max_side)
        (expected,) = local.predict([item], [image])
        assert rec["raw_text"] == expected.raw_text
        assert rec["tokens"] == expected.tokens


# --- score ---------------------------------------------------------------------------------------------------------

def check_score_record(rec: dict, has_question: bool = True) -> None:
    probs, parsed = rec["probabilities"], rec["parsed"]
    assert rec["status"] == "ok" and rec["raw_text"] is None
    assert set(probs["criteria"]) == set(ATTRIBUTE_NAMES)
    for name, dist in probs["criteria"].items():
        assert list(dist) == list(LEVELS) and math.isclose(sum(dist.values()), 1.0, rel_tol=1e-9)
        assert parsed["criteria"][name] == max(dist, key=dist.get)
    if has_question:
        assert list(probs["answer"]) == list(ANSWER_LETTERS)
        assert parsed["answer"] == max(probs["answer"], key=probs["answer"].get)
    assert list(probs["total_score"]) == list(QUALITY_WORDS)
    assert parsed["total_score"] == pytest.approx(quality_to_score(probs["total_score"]))
    assert all(0 < m <= 1 for m in probs["mass"].values())


def test_score_records_match_the_transformers_backend(lab, server, score_backend, tmp_path):
    """With the whole vocabulary in the top list, the pre-filled requests give the transformers backend's numbers:
    the prefill path checked end to end (template continuation, image, raw logprobs, candidate matching)."""
    dataset = open_dataset(lab)
    vocabulary = len(score_backend.tokenizer)
    backend = backend_for(server, protocol="score", image_format="png", top_logprobs=vocabulary, concurrency=4)
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    summary = run_predictions(backend, dataset, split="test", out=first, limit=2, batch_size=2, progress=False)
    assert summary.written_ok == 2 and not summary.failures
    run_predictions(backend, dataset, split="test", out=second, limit=2, batch_size=1, progress=False)
    records = lines_of(first)
    assert [without_timing(r) for r in records] == [without_timing(r) for r in lines_of(second)]  # deterministic

    for item, rec in zip(split_items(dataset, "test", limit=2), records):
        check_score_record(rec)
        assert rec["probabilities"]["absent"] == {}
        assert rec["tokens"]["requests"] == len(SCORE_SLOTS) and rec["tokens"]["generated"] == len(SCORE_SLOTS)
        assert rec["run"]["decoding"]["top_logprobs"] == vocabulary
        assert rec["run"]["prompt_hash"] == prompt_hash("score") and rec["run"]["image"] == {"format": "png"}
        image = dataset.open_image(item.image_path, max_side=score_backend.max_side)
        (expected,) = score_backend.predict([item], [image])
        assert rec["parsed"]["criteria"] == expected.parsed["criteria"]
        assert rec["parsed"]["answer"] == expected.parsed["answer"]
        assert rec["parsed"]["total_score"] == pytest.approx(expected.parsed["total_score"], rel=1e-5)
        for name, dist in rec["probabilities"]["criteria"].items():
            assert dist == pytest.approx(expected.probabilities["criteria"][name], abs=1e-5)
        for key in ("answer", "total_score", "mass"):
            assert rec["probabilities"][key] == pytest.approx(expected.probabilities[key], rel=1e-4), key


def test_score_from_a_short_top_list_counts_absent_candidates_as_zero(lab, server, score_backend):
    """The default 20 of about a thousand tokens: candidates outside the list count 0 and are named; those inside
    keep their ratios; a slot with none inside reads null with its reason."""
    def distribution(probabilities: dict, field: str) -> dict | None:
        return probabilities[field] if field in ("answer", "total_score") else probabilities["criteria"][field]

    dataset = open_dataset(lab)
    items = split_items(dataset, "test", limit=1) + split_items(dataset, "train", limit=1)
    assert items[0].question is not None and items[1].question is None
    images = [dataset.open_image(i.image_path, max_side=2048) for i in items]
    short = backend_for(server, protocol="score", image_format="png", concurrency=4)
    full = backend_for(server, protocol="score", image_format="png", concurrency=4,
                       top_logprobs=len(score_backend.tokenizer))
    slots = {s.field: s for s in SCORE_SLOTS}
    for item, got, reference in zip(items, short.predict(items, images), full.predict(items, images)):
        assert got.ok and reference.ok
        expected_fields = set(slots) - ({"answer"} if item.question is None else set())
        assert set(got.probabilities["mass"]) == expected_fields
        assert got.tokens["requests"] == len(expected_fields)
        for field in expected_fields:
            dist, ref = distribution(got.probabilities, field), distribution(reference.probabilities, field)
            absent = got.probabilities["absent"].get(field, [])
            assert got.probabilities["mass"][field] <= reference.probabilities["mass"][field] + 1e-9
            if dist is None:  # none of the candidates in the top 20
                assert sorted(absent) == sorted(slots[field].candidates)
                assert got.parsed["failures"][field] == NO_CANDIDATE_PROBABILITY
                continue
            present = [w for w in slots[field].candidates if w not in absent]
            assert all(dist[w] == 0 for w in absent) and all(dist[w] > 0 for w in present)
            scale = sum(ref[w] for w in present)
            assert {w: dist[w] for w in present} == pytest.approx({w: ref[w] / scale for w in present}, rel=1e-4)
        if item.question is None:
            assert got.parsed["answer"] is None and got.parsed["failures"]["answer"] == "no_question"


# --- resumption and metadata ----------------------------------------------------------------------------------------

def test_resume_on_another_host_and_refuse_another_configuration(lab, server, faulty, tmp_path):
    dataset = open_dataset(lab)
    out = tmp_path / "resume.jsonl"
    secret = "sk-test-secret-4242"
    first = backend_for(server, protocol="generate", max_new_tokens=3, api_key=secret)
    assert run_predictions(first, dataset, split="test", out=out, limit=2, progress=False).written_ok == 2
    # The same model behind another URL: the configuration is the same, the file resumes.
    moved = backend_for(faulty, protocol="generate", max_new_tokens=3, api_key=secret)
    summary = run_predictions(moved, dataset, split="test", out=out, limit=4, batch_size=2, progress=False)
    assert summary.already_done == 2 and summary.written_ok == 2
    records = lines_of(out)
    assert sorted(r["image_path"] for r in records) == sorted(i.image_path for i in split_items(dataset, "test"))
    assert len({r["run"]["config_hash"] for r in records}) == 1
    assert {r["run"]["base_url"] for r in records} == {server.url, faulty.url}
    # The key was sent (the faulty server saw it) and is written nowhere.
    assert faulty.faults.authorization and set(faulty.faults.authorization) == {f"Bearer {secret}"}
    assert secret not in out.read_text(encoding="utf-8")
    assert "api_key" not in json.dumps(first.metadata())
    # Another decoding is another configuration: refused, the file untouched.
    before = out.read_bytes()
    with pytest.raises(RunError, match="new --out"):
        run_predictions(backend_for(server, protocol="generate", max_new_tokens=4), dataset, split="test", out=out,
                        limit=4, progress=False)
    assert out.read_bytes() == before


# --- faults --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("faults", "always", "posts", "error"), [
    (["500"], None, 2, None),  # retried, then fine
    (["429", "429"], None, 3, None),  # rate limited twice (Retry-After: 0), then fine
    (["sleep"], None, 2, None),  # no answer within the timeout, retried
    ([], "500", 3, "HTTP 500 Internal Server Error: injected failure (after 3 attempts)"),
    ([], "sleep", 3, "no answer within 1 s"),  # the last attempt gets what is left of 3 x 1 s
    ([], "400", 1, "HTTP 400 Bad Request: injected: unsupported parameter"),  # not retried
    ([], "not_json", 1, "response is not JSON: b'<html><body>Bad gateway page"),  # not retried
    ([], "no_choices", 1, "response has no choices"),
])
def test_faults_are_retried_or_recorded_and_the_run_goes_on(lab, faulty, tmp_path, faults, always, posts, error):
    dataset = open_dataset(lab)
    timeouts = "sleep" in (always, *faults)
    faulty.faults.canned = timeouts
    backend = backend_for(faulty, protocol="generate", max_new_tokens=2, max_retries=2,
                          timeout_s=1.0 if timeouts else FAST["timeout_s"])
    faulty.faults.posts = 0
    faulty.faults.queue, faulty.faults.always = list(faults), always  # armed after the start-up checks
    out = tmp_path / "faults.jsonl"
    summary = run_predictions(backend, dataset, split="test", out=out, limit=1, progress=False)
    faulty.faults.always = None
    assert faulty.faults.posts == posts
    (record,) = lines_of(out)
    if error is None:
        assert summary.written_ok == 1 and record["status"] == "ok" and isinstance(record["raw_text"], str)
    else:
        assert record["status"] == "failed" and error in record["error"]
        assert posts == 1 or f"(after {posts} attempts" in record["error"]
        assert f"{faulty.url}/chat/completions" in record["error"]
        # The run goes on: with the server healthy again, a rerun predicts the failed image again and the next one.
        summary = run_predictions(backend, dataset, split="test", out=out, limit=2, progress=False)
        assert (summary.already_done, summary.retried, summary.written_ok) == (0, 1, 2)
        assert [r["status"] for r in lines_of(out)] == ["ok", "ok"]


def test_a_failing_image_among_good_ones_fails_alone(lab, faulty, tmp_path):
    dataset = open_dataset(lab)
    backend = backend_for(faulty, protocol="generate", max_new_tokens=2, max_retries=0, concurrency=1)
    faulty.faults.queue = [None, "500", None]  # concurrency 1: the second request is the second image's
    out = tmp_path / "mixed.jsonl"
    summary = run_predictions(backend, dataset, split="test", out=out, limit=3, batch_size=3, progress=False)
    assert [r["status"] for r in lines_of(out)] == ["ok", "failed", "ok"]
    assert summary.written_ok == 2 and "HTTP 500" in summary.failures[0][1]


def test_a_server_without_logprobs_is_refused_before_the_first_record(lab, faulty, tmp_path):
    from typer.testing import CliRunner

    from portraitcraft.cli import app

    for fault, detail in (("no_logprobs", "no logprobs"), ("400", "HTTP 400")):
        faulty.faults.always = fault
        with pytest.raises(ServerCheckError, match=f"{detail}.*does not offer logprobs.*--protocol generate"):
            backend_for(faulty, protocol="score")
    # Through the command: exit 2 with the message, and no output file at all.
    out = tmp_path / "score.jsonl"
    result = CliRunner().invoke(app, ["predict", "--data", str(lab), "--out", str(out), "--backend", "openai",
                                      "--base-url", faulty.url, "--model", "tiny-qwen3-vl", "--protocol", "score",
                                      "--no-progress"])
    assert result.exit_code == 2
    assert "does not offer logprobs" in result.output + (getattr(result, "stderr", "") or "")
    assert not out.exists()


def test_start_up_checks_name_what_is_wrong(server):
    with pytest.raises(ServerCheckError, match="does not serve 'Qwen/Qwen3-VL-4B-Instruct'.*tiny-qwen3-vl"):
        backend_for(server, model="Qwen/Qwen3-VL-4B-Instruct")
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(ServerCheckError, match=f"127.0.0.1:{port}/v1: cannot list the served models.*cannot connect"):
        OpenAIBackend(OpenAISettings(base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, **FAST))
    assert time.perf_counter() - start < 10


# --- the command ---------------------------------------------------------------------------------------------------

def test_predict_command_with_the_openai_backend(lab, server, tmp_path):
    from typer.testing import CliRunner

    from portraitcraft.cli import app

    out = tmp_path / "cli.jsonl"
    result = CliRunner().invoke(app, ["predict", "--data", str(lab), "--out", str(out), "--limit", "2",
                                      "--backend", "openai", "--base-url", server.url, "--model", "tiny-qwen3-vl",
                                      "--protocol", "generate", "--max-new-tokens", "3", "--concurrency", "2",
                                      "--timeout", "20", "--api-key", "sk-cli-secret", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "wrote 2 record(s)" in result.output
    records = lines_of(out)
    assert [r["run"]["concurrency"] for r in records] == [2, 2] and "sk-cli-secret" not in out.read_text()
    result = CliRunner().invoke(app, ["predict", "--data", str(lab), "--out", str(tmp_path / "x.jsonl"),
                                      "--backend", "openai", "--base-url", server.url, "--model", "missing"])
    assert result.exit_code == 2
    assert "does not serve 'missing'" in result.output + (getattr(result, "stderr", "") or "")
