"""rtt_jax.serve: OpenAI-compatible completions over a tiny trained checkpoint."""
import json
import socket
import threading
import time

import httpx
import jax
import pytest

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
from fastapi.testclient import TestClient  # noqa: E402

from rtt_jax.serve import Message, load_engine, make_app, render_chat  # noqa: E402
from hang_guard import hang_guard  # noqa: E402

from rtt_jax.config_validation import validate  # noqa: E402

# Subprocesses, several processes or real training runs: `make test` only.
# One xdist worker runs this module (make test: --dist=loadgroup), so its module
# fixtures are built once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serve")]

# Test prompts are 17-32 tokens and batches 1, 3 or up to 32 rows: few programs compile.
PROMPT = "What is 12 + 5?\n"


@pytest.fixture(scope="module")
def engine(trained_run):
    """The suite's trained tiny run behind the server (conftest.trained_run)."""
    cfg = trained_run.config()
    cfg.eval.max_len = 48
    eng = load_engine(validate(cfg), str(trained_run.workdir), devices=jax.devices()[:1],
                      window_s=0.02, max_batch=32, max_n=8)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def client(engine):
    with TestClient(make_app(engine)) as c:
        yield c


@pytest.fixture(scope="module")
def server(engine):
    """A real uvicorn server on a free loopback port, in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(make_app(engine), log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs=dict(sockets=[sock]), daemon=True)
    thread.start()
    with hang_guard(120, "uvicorn never started"):
        while not srv.started:
            time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv.should_exit = True
    thread.join(10)


def _ok(r):
    assert r.status_code == 200, r.text
    return r.json()


def test_models_lists_the_workdir(client, engine, trained_run):
    body = _ok(client.get("/v1/models"))
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == [engine.model_name]
    assert engine.model_name == trained_run.workdir.name


def test_completion_schema_and_greedy_equals_sampler(client, engine):
    body = _ok(client.post("/v1/completions", json=dict(
        model=engine.model_name, prompt=PROMPT, max_tokens=8, temperature=0)))
    assert body["object"] == "text_completion" and body["id"].startswith("cmpl-")
    assert body["model"] == engine.model_name and isinstance(body["created"], int)
    [choice] = body["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] in ("stop", "length")
    prompt_tokens = len(engine.sampler.encode_prompt(PROMPT))
    usage = body["usage"]
    assert usage["prompt_tokens"] == prompt_tokens
    assert usage["total_tokens"] == prompt_tokens + usage["completion_tokens"]
    assert 1 <= usage["completion_tokens"] <= 8
    # The worker is idle between requests, so the test may call the sampler itself.
    assert choice["text"] == engine.sampler.generate([PROMPT], 8, temperature=0.0)[0]
    # A list of prompts: one choice each, in order.
    prompts = [PROMPT, "7+1=\n", "What is 2 + 9?\n"]
    body = _ok(client.post("/v1/completions", json=dict(prompt=prompts, max_tokens=4,
                                                         temperature=0)))
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert [c["text"] for c in body["choices"]] == engine.sampler.generate(
        prompts, 4, temperature=0.0)


def test_chat_completion_schema(client, engine):
    messages = [dict(role="system", content="Be brief."),
                dict(role="user", content="ignored earlier turn"),
                dict(role="assistant", content="ok"),
                dict(role="user", content="What is 3 + 4?")]
    rendered = render_chat([Message(**m) for m in messages])
    assert rendered == "Be brief.\nWhat is 3 + 4?\n"
    body = _ok(client.post("/v1/chat/completions", json=dict(messages=messages, max_tokens=6,
                                                              temperature=0)))
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    [choice] = body["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] in ("stop", "length")
    assert choice["message"]["content"] == engine.sampler.generate([rendered], 6,
                                                                   temperature=0.0)[0]
    assert body["usage"]["prompt_tokens"] == len(engine.sampler.encode_prompt(rendered))


def test_n_samples_and_seeds(client):
    req = dict(prompt=PROMPT, max_tokens=6, temperature=1.0, n=3, seed=7)
    first = _ok(client.post("/v1/completions", json=req))
    assert [c["index"] for c in first["choices"]] == [0, 1, 2]
    again = _ok(client.post("/v1/completions", json=req))
    assert [c["text"] for c in again["choices"]] == [c["text"] for c in first["choices"]]
    chat = _ok(client.post("/v1/chat/completions", json=dict(
        messages=[dict(role="user", content="What is 2 + 2?")], max_tokens=3, n=3,
        temperature=0.8)))
    assert len(chat["choices"]) == 3


def test_stop_strings_truncate(client):
    req = dict(prompt=PROMPT, max_tokens=8, temperature=0)
    full = _ok(client.post("/v1/completions", json=req))["choices"][0]["text"]
    if not full:
        pytest.skip("the tiny model's completion is empty")
    stop = full[-1]
    body = _ok(client.post("/v1/completions", json=dict(req, stop=[stop, "never seen"])))
    assert body["choices"][0] == dict(index=0, text=full[:full.index(stop)], logprobs=None,
                                      finish_reason="stop")


BAD = [
    ("/v1/completions", b"{not json", None),
    ("/v1/completions", dict(max_tokens=4), "prompt"),
    ("/v1/completions", dict(prompt=12), "prompt"),
    ("/v1/completions", dict(prompt="x", max_tokens=0), "max_tokens"),
    ("/v1/completions", dict(prompt="x", max_tokens=10_000), "max_tokens"),
    ("/v1/completions", dict(prompt="x", max_tokens="5"), "max_tokens"),
    ("/v1/completions", dict(prompt="x", temperature=-0.5), "temperature"),
    ("/v1/completions", dict(prompt="x", n=0), "n"),
    ("/v1/completions", dict(prompt="x", n=1000), "n"),
    ("/v1/completions", dict(prompt="x" * 100), "prompt"),
    ("/v1/completions", dict(prompt=[]), "prompt"),
    ("/v1/chat/completions", dict(messages=[dict(role="system", content="s")]), "messages"),
    ("/v1/chat/completions", dict(messages=[dict(role="user")]), "messages.content"),
    ("/v1/chat/completions", dict(prompt="x"), "messages"),
]


@pytest.mark.parametrize("path,body,param", BAD)
def test_bad_requests_are_400_with_an_openai_error(client, path, body, param):
    if isinstance(body, bytes):
        r = client.post(path, content=body, headers={"content-type": "application/json"})
    else:
        r = client.post(path, json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["message"]
    assert err["param"] == param, err


def test_concurrent_requests_are_batched(server, engine):
    batcher = engine.batcher
    calls, served = batcher.sampler_calls, batcher.jobs_served
    batcher.delay_s = 0.3  # requests pile up behind the first call
    start = threading.Barrier(32)
    results = [None] * 32

    def one(i):
        start.wait()
        with httpx.Client(timeout=600) as c:
            results[i] = c.post(f"{server}/v1/completions", json=dict(
                prompt=f"What is {i} + {i}?\n", max_tokens=2 + i % 4, temperature=0))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(32)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(900)
    finally:
        batcher.delay_s = 0.0
    assert all(r is not None and r.status_code == 200 for r in results), results
    for i, r in enumerate(results):
        assert r.json()["usage"]["completion_tokens"] <= 2 + i % 4
    assert batcher.jobs_served - served == 32
    assert batcher.sampler_calls - calls < 32 / 4, batcher.sampler_calls - calls


def test_client_timeout_leaves_the_server_serving(server, engine):
    engine.batcher.delay_s = 1.0
    try:
        with pytest.raises(httpx.TimeoutException):
            httpx.post(f"{server}/v1/completions", timeout=0.2,
                       json=dict(prompt=PROMPT, max_tokens=2, temperature=0))
    finally:
        engine.batcher.delay_s = 0.0
    r = httpx.post(f"{server}/v1/completions", timeout=600,
                   json=dict(prompt=PROMPT, max_tokens=2, temperature=0))
    assert r.status_code == 200 and json.loads(r.text)["choices"]
    assert httpx.get(f"{server}/v1/models", timeout=600).status_code == 200


def test_the_openai_teacher_builds_a_dataset_from_this_server(server, engine, tmp_path):
    """The teacher's client against our own endpoint, on loopback: every reply
    is verified and counted by reason in the card (a 3-step model's traces are
    mostly wrong, which the filters must say, not crash on); a rerun is served
    from the reply cache, with no second request."""
    from rtt_jax.configs.traces.openai import get_config
    from rtt_jax.traces import build
    cfg = get_config()
    cfg.families, cfg.levels, cfg.problems_per_level = "subtraction", "1", 3
    # Short: the test engine's rows hold 48 tokens, prompt and completion together.
    cfg.teacher.update(base_url=server + "/v1", model=engine.model_name, k=2, max_tokens=8,
                       system_prompt="Solve.", concurrency=4, timeout_s=600.0)
    calls = engine.batcher.sampler_calls
    card = build.build(cfg, str(tmp_path / "out"))
    t = card["teacher"]
    assert t["kind"] == "openai" and t["requests"] == t["responses"] > 0
    assert engine.batcher.sampler_calls > calls  # answered by the sampler, batched
    assert t["tokens"]["completion"] > 0
    assert card["teacher"]["kept"] + sum(t["rejected_by_reason"].values()) >= t["responses"]
    again = build.build(cfg, str(tmp_path / "again"))  # another --out: its own cache...
    assert again["teacher"]["cache_hits"] == 0
    cfg.teacher.cache_dir = str(tmp_path / "out" / "openai_cache")  # ...or the first one's
    before = engine.batcher.sampler_calls
    cached = build.build(cfg, str(tmp_path / "cached"))
    assert cached["teacher"]["cache_hits"] == t["responses"] and engine.batcher.sampler_calls == before
