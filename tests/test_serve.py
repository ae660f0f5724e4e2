"""rtt_jax.serve: OpenAI-compatible completions over a tiny trained checkpoint."""
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import httpx
import jax
import pytest

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
from fastapi.testclient import TestClient  # noqa: E402

from rtt_jax.serve import (Message, check_exposure, is_loopback, load_engine,  # noqa: E402
                           make_app, render_chat)
from hang_guard import hang_guard  # noqa: E402

from rtt_jax.config_validation import validate  # noqa: E402

# Subprocesses, several processes or real training runs: `make test` only.
# One xdist worker runs this module (make test: --dist=loadgroup), so its module
# fixtures are built once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serve")]

# Test prompts are 17-32 tokens and batches 1, 3 or up to 32 rows: few programs compile.
PROMPT = "What is 12 + 5?\n"


@pytest.fixture(scope="module")
def trained(trained_run, tmp_path_factory):
    """(config, workdir): a copy of the suite's trained tiny run (conftest.trained_run),
    its saved config.json serving 48-token rows as the config says."""
    from rtt_jax import workdir_config
    workdir = tmp_path_factory.mktemp("serve_run")
    shutil.copytree(trained_run.workdir, workdir, dirs_exist_ok=True)
    cfg = trained_run.config()
    cfg.eval.max_len = 48
    saved = workdir_config.load(str(workdir))
    saved.eval.max_len = 48
    workdir_config.save(saved, str(workdir))
    return cfg, str(workdir)


def _load(spec, workdir):
    # Streams decode 3 tokens a round: the streaming tests' 6-8 tokens take rounds.
    return load_engine(spec, workdir, devices=jax.devices()[:1], window_s=0.02, max_batch=32,
                       max_n=8, stream_chunk=3)


@pytest.fixture(scope="module")
def engine(trained):
    eng = _load(validate(trained[0]), trained[1])
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def client(engine):
    with TestClient(make_app(engine)) as c:
        yield c


@contextlib.contextmanager
def _serving(app):
    """A real uvicorn server for ``app`` on a free loopback port, in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs=dict(sockets=[sock]), daemon=True)
    thread.start()
    with hang_guard(120, "uvicorn never started"):
        while not srv.started:
            time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def server(engine):
    with _serving(make_app(engine)) as url:
        yield url


def _ok(r):
    assert r.status_code == 200, r.text
    return r.json()


def test_models_lists_the_workdir(client, engine, trained):
    body = _ok(client.get("/v1/models"))
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == [engine.model_name]
    assert engine.model_name == os.path.basename(trained[1])


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
    ("/v1/completions", dict(prompt="x", stream_options=dict(include_usage=True)),
     "stream_options"),
    ("/v1/completions", dict(prompt="x", stream="sometimes"), "stream"),
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


def _teacher_counts(t) -> str:
    """What an assertion on the teacher's card prints when it fails."""
    return json.dumps({k: t[k] for k in ("samples", "requests", "retries", "cache_hits", "twins",
                                         "responses", "kept", "rejected_by_reason")})


def test_the_openai_teacher_builds_a_dataset_from_this_server(server, engine, tmp_path):
    """The teacher's client against our own endpoint, on loopback: every reply
    is verified and counted by reason in the card (a 3-step model's traces are
    mostly wrong, which the filters must say, not crash on); a rerun is served
    from the reply cache, with no second request for a key it holds.

    Every expected count follows from the problems alone, whatever the load:
    one request per distinct (problem, style, sample) key (single-flight),
    retries on top; each sample either kept or rejected for one reason."""
    from rtt_jax.configs.traces.openai import get_config
    from rtt_jax import tasks
    from rtt_jax.traces import build
    cfg = get_config()
    cfg.families, cfg.levels, cfg.problems_per_level = "subtraction", "1", 3
    # Short: the test engine's rows hold 48 tokens, prompt and completion together.
    # "Solve." has no {style}: the two styles' requests are byte-identical, yet
    # each is its own key.
    cfg.teacher.update(base_url=server + "/v1", model=engine.model_name, k=2, max_tokens=8,
                       system_prompt="Solve.", concurrency=4, timeout_s=600.0)
    family = tasks.get("subtraction")
    questions = [family.generate(cfg.seed, i, 1).question for i in range(3)]
    samples = len(questions) * len(family.styles) * cfg.teacher.k
    distinct = len(set(questions)) * len(family.styles) * cfg.teacher.k

    assert len(set(questions)) == len(questions)  # so no twins: a failed sample is a failed key

    def failed(t):
        return sum(t["rejected_by_reason"].get(r, 0)
                   for r in ("request_failed", "malformed_response"))

    def check(t, cache_hits):
        why = _teacher_counts(t)
        assert t["samples"] == samples and t["twins"] == samples - distinct, why
        assert t["cache_hits"] == cache_hits, why
        assert t["requests"] - t["retries"] == distinct - cache_hits, why
        assert t["kept"] + sum(t["rejected_by_reason"].values()) == samples, why
        assert t["responses"] == samples - failed(t), why

    calls = engine.batcher.sampler_calls
    card = build.build(cfg, str(tmp_path / "out"))
    t = card["teacher"]
    assert t["kind"] == "openai" and t["responses"] > 0, _teacher_counts(t)
    check(t, cache_hits=0)
    assert engine.batcher.sampler_calls > calls  # answered by the sampler, batched
    assert t["tokens"]["completion"] > 0
    again = build.build(cfg, str(tmp_path / "again"))  # another --out: its own cache...
    check(again["teacher"], cache_hits=0)
    # ...or the first one's, which holds one reply per key that got one.
    cache = tmp_path / "out" / "openai_cache"
    held = sum(1 for f in cache.rglob("*.json"))
    assert held == distinct - failed(t), _teacher_counts(t)
    cfg.teacher.cache_dir = str(cache)
    before = engine.batcher.sampler_calls
    cached = build.build(cfg, str(tmp_path / "cached"))
    check(cached["teacher"], cache_hits=held)
    # Only keys the first run failed on are asked again (none, unless it failed).
    assert (cached["teacher"]["requests"] == 0) == (held == distinct)
    assert (engine.batcher.sampler_calls == before) == (held == distinct)


# ----------------------------------------------- a workdir alone, as OpenAI clients expect

def test_a_workdir_alone_serves_what_its_config_serves(trained, engine):
    """config.json round-trips: the engine from the workdir alone decodes what
    the one from --config does; a --config with another model is one line."""
    from rtt_jax.config_error import ConfigError
    from rtt_jax.evaluation.standalone import workdir_spec
    cfg, workdir = trained
    alone = _load(workdir_spec(workdir), workdir)
    try:
        assert alone.sampler.generate([PROMPT], 8, temperature=0.0) == \
            engine.sampler.generate([PROMPT], 8, temperature=0.0)
    finally:
        alone.close()
    assert workdir_spec(workdir, cfg).model == validate(cfg).model  # the same: it wins
    wider = cfg.copy_and_resolve_references()
    wider.model.d_model = 128
    with pytest.raises(ConfigError, match="model.d_model: 64 -> 128"):
        workdir_spec(workdir, wider)


def _openai(url, key="unused"):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=120)


def test_the_openai_client_streams_completions(server, engine):
    c = _openai(server)
    req = dict(model=engine.model_name, prompt=PROMPT, max_tokens=8, temperature=0)
    full = c.completions.create(**req)
    calls = engine.batcher.sampler_calls
    chunks = list(c.completions.create(**req, stream=True,
                                       stream_options={"include_usage": True}))
    # Decoded 3 tokens a round (a prefill of the prompt and the tokens so far
    # each), sent as they came, and the same text as the reply without stream.
    rounds = -(-full.usage.completion_tokens // 3)
    assert engine.batcher.sampler_calls - calls == rounds
    assert {ch.object for ch in chunks} == {"text_completion"}
    assert len({ch.id for ch in chunks}) == 1
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == full.choices[0].text
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices]
    assert finishes[-1] == full.choices[0].finish_reason and not any(finishes[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage == full.usage
    # The wire format: events, then the closing [DONE].
    with httpx.stream("POST", f"{server}/v1/completions", json=dict(req, stream=True),
                      timeout=120) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert events[-1] == "data: [DONE]" and all(e.startswith("data: {") for e in events[:-1])


def test_the_openai_client_streams_chat_with_n_choices(server, engine):
    c = _openai(server)
    req = dict(model=engine.model_name, messages=[dict(role="user", content="What is 2 + 9?")],
               max_tokens=6, temperature=1.0, n=3, seed=11)
    full = c.chat.completions.create(**req)
    texts, roles, finishes = {}, {}, {}
    for chunk in c.chat.completions.create(**req, stream=True):
        assert chunk.object == "chat.completion.chunk" and chunk.model == engine.model_name
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
            roles.setdefault(choice.index, choice.delta.role)
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    # Seeded: the stream carries the same three samples as the plain reply.
    assert texts == {ch.index: ch.message.content for ch in full.choices}
    assert finishes == {ch.index: ch.finish_reason for ch in full.choices}
    assert roles == {0: "assistant", 1: "assistant", 2: "assistant"}


def test_an_unknown_model_is_404_model_not_found(server, engine):
    import openai
    c = _openai(server)
    assert c.models.retrieve(engine.model_name).id == engine.model_name
    calls = [lambda: c.completions.create(model="gpt-4o", prompt=PROMPT, max_tokens=2),
             lambda: c.chat.completions.create(model="gpt-4o", max_tokens=2,
                                               messages=[dict(role="user", content="1+1")]),
             lambda: c.completions.create(model="gpt-4o", prompt=PROMPT, stream=True),
             lambda: c.models.retrieve("gpt-4o")]
    for call in calls:
        with pytest.raises(openai.NotFoundError) as e:
            call()
        assert e.value.status_code == 404 and e.value.code == "model_not_found"
        assert "gpt-4o" in e.value.message


def test_an_api_key_guards_every_request(engine):
    import openai
    with _serving(make_app(engine, api_key="sk-test-1")) as url:
        good = _openai(url, "sk-test-1")
        assert [m.id for m in good.models.list()] == [engine.model_name]
        assert good.completions.create(model=engine.model_name, prompt=PROMPT, max_tokens=2,
                                       temperature=0).choices
        assert list(good.completions.create(model=engine.model_name, prompt=PROMPT,
                                            max_tokens=2, temperature=0, stream=True))
        for key in ("sk-test-2", "sk-test-1x", "sk-test-"):
            with pytest.raises(openai.AuthenticationError) as e:
                _openai(url, key).models.list()
            assert e.value.status_code == 401 and e.value.code == "invalid_api_key"
        for path in ("/v1/models", "/v1/completions", "/v1/chat/completions", "/nowhere"):
            r = httpx.post(url + path, json={}, timeout=60) if "comp" in path else \
                httpx.get(url + path, timeout=60)
            assert r.status_code == 401, (path, r.text)
            assert r.json()["error"]["code"] == "invalid_api_key"


def test_the_server_refuses_to_listen_beyond_loopback_without_a_key(tmp_path):
    for host in ("127.0.0.1", "127.0.0.9", "localhost", "::1", "[::1]"):
        assert is_loopback(host)
        check_exposure(host, None, False)
    for host in ("0.0.0.0", "::", "10.1.2.3", "tpu-vm-0"):
        assert not is_loopback(host)
        with pytest.raises(ValueError, match=f"--host={host} listens beyond loopback"):
            check_exposure(host, None, False)
        check_exposure(host, "sk-x", False)
        check_exposure(host, None, True)
    # The command line says so in one line before it loads anything.
    env = {k: v for k, v in os.environ.items() if k != "RTT_JAX_API_KEY"}
    r = subprocess.run([sys.executable, "-m", "rtt_jax.serve", f"--workdir={tmp_path}",
                        "--host=0.0.0.0"], capture_output=True, text=True, timeout=300,
                       env=env, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip().splitlines() == [
        "error: --host=0.0.0.0 listens beyond loopback with no API key, so anyone who can "
        "reach the port could use the model: pass --api_key (or set $RTT_JAX_API_KEY), "
        "or --allow_no_key"]
