"""OpenAI-compatible teacher against a fake server (httpx.MockTransport; no network)."""
from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from rtt_jax.configs.traces import openai as openai_config
from rtt_jax import tasks
from rtt_jax.traces import build
from rtt_jax.traces.openai_teacher import FAILED, MALFORMED, OpenAITeacher

FAMILY = "subtraction"


def _problems(n=2, family=FAMILY, level=1):
    fam = tasks.get(family)
    return [fam.generate(0, i, level) for i in range(n)]


def _solutions(problems, style="column_borrow"):
    """user prompt -> the program solver's completion (a correct trace)."""
    out = {}
    for p in problems:
        prompt, completion = tasks.get(p.family).format_example(p, style)
        out[prompt] = completion
    return out


class FakeServer:
    """Counts requests; ``script`` is a list of per-request behaviours used in order
    ("429", "500", "timeout", a dict body, a str body); afterwards it answers well."""

    def __init__(self, solutions, script=(), text_fn=None):
        self.solutions, self.script, self.text_fn = solutions, list(script), text_fn
        self.requests: list[dict] = []
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        self.paths.append(request.url.path)
        if self.script:
            action = self.script.pop(0)
            if action == "timeout":
                raise httpx.ReadTimeout("slow", request=request)
            if action in ("429", "500"):
                return httpx.Response(int(action), json={"error": "busy"})
            if isinstance(action, dict):
                return httpx.Response(200, json=action)
            return httpx.Response(200, content=action.encode())
        user = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
        text = self.text_fn(user) if self.text_fn else next(
            (c for p, c in self.solutions.items() if user.endswith(p)), "no idea")
        choice = ({"message": {"role": "assistant", "content": text}} if "messages" in body
                  else {"text": text})
        return httpx.Response(200, json={"choices": [choice],
                                         "usage": {"prompt_tokens": 10, "completion_tokens": 5}})


def _teacher(server, tmp_path=None, **kw):
    kw.setdefault("k", 2)
    kw.setdefault("styles", {FAMILY: ["column_borrow"]})
    return OpenAITeacher("http://fake/v1", "m", transport=httpx.MockTransport(server),
                         cache_dir=str(tmp_path / "cache") if tmp_path else None,
                         sleep=lambda s: None, backoff_s=0.01, **kw)


def test_k_samples_per_problem_and_prompt():
    problems = _problems(2)
    server = FakeServer(_solutions(problems))
    t = _teacher(server, k=3)
    records = list(t.teach(problems))
    assert len(records) == 6 and len(server.requests) == 6
    assert {r.style for r in records} == {"column_borrow"} and records[0].source == "model"
    assert server.paths[0] == "/v1/chat/completions"
    system, user = server.requests[0]["messages"]
    assert "#### <answer>" in system["content"] and "Example solution" in system["content"]
    assert user["content"] == tasks.get(FAMILY).format_example(problems[0], "column_borrow")[0]
    assert t.stats.prompt_tokens == 60 and t.stats.completion_tokens == 30
    assert records[0].answer == problems[0].answer


def test_completions_api():
    problems = _problems(1)
    server = FakeServer(_solutions(problems))
    records = list(_teacher(server, api="completions", k=1).teach(problems))
    assert server.paths == ["/v1/completions"] and "prompt" in server.requests[0]
    assert records and records[0].answer == problems[0].answer


def test_retry_after_429_and_500():
    problems = _problems(1)
    server = FakeServer(_solutions(problems), script=["429", "500"])
    t = _teacher(server, k=1, concurrency=1)
    records = list(t.teach(problems))
    assert len(records) == 1 and t.stats.retries == 2 and t.stats.requests == 3
    assert not t.stats.rejected


def test_timeout_then_success_and_always():
    problems = _problems(1)
    t = _teacher(FakeServer(_solutions(problems), script=["timeout"]), k=1)
    assert len(list(t.teach(problems))) == 1 and t.stats.retries == 1
    # Always timing out: each sample is rejected as request_failed after its retries.
    server = FakeServer({}, script=["timeout"] * 100)
    t = _teacher(server, k=2, max_retries=2)
    assert list(t.teach(problems)) == []
    assert t.stats.rejected == {FAILED: 2} and t.stats.requests == 6
    assert "ReadTimeout" in t.stats.last_error


def test_cache_hit_on_rerun(tmp_path):
    problems = _problems(2)
    first = FakeServer(_solutions(problems))
    a = list(_teacher(first, tmp_path).teach(problems))
    second = FakeServer(_solutions(problems))
    t = _teacher(second, tmp_path)
    b = list(t.teach(problems))
    assert len(first.requests) == 4 and second.requests == []
    assert t.stats.cache_hits == 4 and t.stats.prompt_tokens == 0
    assert t.stats.cached_prompt_tokens == 40
    assert [r.text for r in a] == [r.text for r in b]
    assert not [f for _, _, fs in os.walk(tmp_path) for f in fs if f.endswith(".tmp")]


def test_malformed_responses_are_rejected():
    problems = _problems(1)
    bad = [{"nope": 1}, {"choices": []}, {"choices": [{"message": {"content": 5}}]},
           "<html>not json</html>", {"choices": "x"}]
    server = FakeServer(_solutions(problems), script=bad)
    t = _teacher(server, k=5, concurrency=1)
    assert list(t.teach(problems)) == []
    assert t.stats.rejected == {MALFORMED: 5}


def _cfg(**teacher):
    cfg = openai_config.get_config()
    cfg.families, cfg.levels, cfg.problems_per_level = FAMILY, "1", 3
    cfg.styles[FAMILY] = "column_borrow"
    cfg.teacher.base_url = "http://fake/v1"
    cfg.teacher.backoff_s = 0.0
    for k, v in teacher.items():
        cfg.teacher[k] = v
    return cfg


def test_hostile_completions_never_run(tmp_path):
    sentinel = tmp_path / "pwned"
    hostile = [f"__import__('os').system('touch {sentinel}')\n#### {{a}}",
               f"<<os.system('touch {sentinel}')=1>>\n#### {{a}}",
               "eval(compile('1','x','exec'))\n" * 50 + "#### {a}"]
    answers = {}
    for p in _problems(3):
        answers[tasks.get(FAMILY).format_example(p, "column_borrow")[0]] = p.answer
    calls = iter(range(10**6))

    def text(user):
        return hostile[next(calls) % 3].replace("{a}", answers[user])
    card = build.build(_cfg(k=3), str(tmp_path / "out"),
                       transport=httpx.MockTransport(FakeServer({}, text_fn=text)))
    assert card["records"] == 0 and not sentinel.exists()
    rejected = card["teacher"]["rejected_by_reason"]
    assert sum(rejected.values()) == 9
    assert {r.split(":")[0] for r in rejected} <= {"steps_invalid", "answer_wrong", "format"}


def test_build_end_to_end_card(tmp_path):
    problems = _problems(3)
    good = _solutions(problems)
    server = FakeServer(good, script=[{"choices": []}])  # first request malformed
    out = tmp_path / "out"
    card = build.build(_cfg(k=2, concurrency=1), str(out), transport=httpx.MockTransport(server))
    t = card["teacher"]
    assert t["kind"] == "openai" and t["model"] == "rtt" and t["api"] == "chat" and t["k"] == 2
    assert t["requests"] == 6 and t["samples"] == 6 and t["responses"] == 5
    assert t["tokens"] == {"prompt": 50, "completion": 25, "total": 75}
    # 5 identical correct texts: one per problem kept, repeats dropped as duplicates.
    assert card["records"] == 3 and t["kept"] == 3
    assert t["rejected_by_reason"] == {MALFORMED: 1, "exact_duplicate": 2}
    assert (out / "traces.jsonl").exists() and not (out / "traces.jsonl.partial").exists()
    md = (out / "dataset_card.md").read_text()
    assert "## Teacher" in md and "malformed_response 1" in md
    # A rerun sharing the cache asks only for the sample that was malformed
    # (not cached); the 5 good replies come from the cache.
    server2 = FakeServer(good)
    card2 = build.build(_cfg(k=2, cache_dir=str(out / "openai_cache")), str(tmp_path / "again"),
                        transport=httpx.MockTransport(server2))
    assert len(server2.requests) == 1 and card2["teacher"]["cache_hits"] == 5
    assert card2["teacher"]["tokens"]["total"] == 15 and card2["records"] == 3


@pytest.mark.slow
def test_cli_unreachable_server_is_one_line(tmp_path):
    # Port 9 on loopback refuses connections: no network involved.
    proc = subprocess.run(
        [sys.executable, "-m", "rtt_jax.traces.build", "--config=configs/traces/openai.py",
         "--config.teacher.base_url=http://127.0.0.1:9/v1", "--config.teacher.max_retries=0",
         "--config.families=subtraction", "--config.problems_per_level=1",
         "--config.levels=1", f"--out={tmp_path}/o"],
        capture_output=True, text=True, timeout=600,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert lines and "no usable reply" in lines[0] and "127.0.0.1:9" in lines[0]


def test_interrupted_build_resumes_from_cache(tmp_path):
    problems = _problems(3)
    good = _solutions(problems)

    class Crash(FakeServer):
        def __call__(self, request):
            if len(self.requests) >= 3:
                raise RuntimeError("killed")
            return super().__call__(request)
    out = str(tmp_path / "out")
    with pytest.raises(RuntimeError):
        build.build(_cfg(k=2, concurrency=1), out, transport=httpx.MockTransport(Crash(good)))
    assert not os.path.exists(os.path.join(out, "traces.jsonl"))
    server = FakeServer(good)  # the same command again: only the 3 missing samples are asked
    card = build.build(_cfg(k=2, concurrency=1), out, transport=httpx.MockTransport(server))
    assert len(server.requests) == 3 and card["teacher"]["cache_hits"] == 3
    assert card["records"] == 3


def test_api_key_from_env_only_in_header(tmp_path, monkeypatch):
    seen = []

    def handler(request):
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"choices": [{"message": {"content": "#### 1"}}]})
    monkeypatch.setenv("RTT_TEST_KEY", "sk-secret")
    card = build.build(_cfg(k=1, api_key_env="RTT_TEST_KEY"), str(tmp_path / "a"),
                       transport=httpx.MockTransport(handler))
    assert seen and set(seen) == {"Bearer sk-secret"}
    assert "sk-secret" not in (tmp_path / "a" / "dataset_card.json").read_text()
    assert card["teacher"]["tokens"]["total"] == 0  # no usage in the reply
    monkeypatch.delenv("RTT_TEST_KEY")
    seen.clear()
    build.build(_cfg(k=1, api_key_env="RTT_TEST_KEY"), str(tmp_path / "b"),
                transport=httpx.MockTransport(handler))
    assert set(seen) == {None}


def test_deeply_nested_reply_is_malformed():
    problems = _problems(1)
    server = FakeServer(_solutions(problems), script=["[" * 100_000 + "]" * 100_000])
    t = _teacher(server, k=1, concurrency=1)
    assert list(t.teach(problems)) == [] and t.stats.rejected == {MALFORMED: 1}


# ---------------------------------------------- the reply cache and single-flight

def _numbered_server():
    """Answers every request with a new text, so each reply is told apart."""
    calls = iter(range(10**6))
    return FakeServer({}, text_fn=lambda user: f"reply {next(calls)}\n#### 0")


def test_a_style_free_prompt_keeps_each_style_its_own_reply(tmp_path):
    """With a system prompt that has no {style}, and a family whose prompts
    carry no style cue, the two styles' requests are byte-identical; each style
    is still its own draw, and a rerun serves each style its own reply."""
    problems = _problems(2)
    styles = {FAMILY: ["column_borrow", "count_up"]}
    first = _numbered_server()
    t = _teacher(first, tmp_path, k=1, styles=styles, system_prompt="Solve.")
    a = list(t.teach(problems))
    # Requests arrive in any order; each body was sent twice (once per style).
    bodies = collections.Counter(json.dumps(b, sort_keys=True) for b in first.requests)
    assert sorted(bodies.values()) == [2, 2]
    assert len(first.requests) == 4 and t.stats.twins == 0 and t.stats.cache_hits == 0
    assert [r.style for r in a] == ["column_borrow", "count_up"] * 2
    assert len({r.text for r in a}) == 4
    second = _numbered_server()
    t2 = _teacher(second, tmp_path, k=1, styles=styles, system_prompt="Solve.")
    b = list(t2.teach(problems))
    assert second.requests == [] and t2.stats.cache_hits == 4
    assert [(r.style, r.text) for r in b] == [(r.style, r.text) for r in a]


def test_the_cache_key_changes_with_everything_that_changes_a_reply():
    t = _teacher(FakeServer({}))
    msgs = [{"role": "user", "content": "What is 9 - 1?\n"}]
    base = dict(family=FAMILY, style="count_up", payload=t._payload(msgs), sample=0)
    changed = [dict(family="addition"), dict(style="column_borrow"), dict(sample=1),
               *({"payload": {**base["payload"], field: value}} for field, value in (
                   ("model", "other"), ("temperature", 0.0), ("max_tokens", 7),
                   ("messages", [{"role": "user", "content": "What is 9 - 2?\n"}]),
                   ("top_p", 0.5)))]
    keys = {t.cache_key(**base)} | {t.cache_key(**{**base, **c}) for c in changed}
    assert len(keys) == 1 + len(changed)
    t.close()


def test_twins_in_flight_share_one_request():
    """Two problems with the same question: the second's samples are twins of
    the first's. The server holds each first request until both twins are
    waiting, so they are in flight together; still one request per key."""
    p = _problems(1)[0]
    twin = tasks.get(FAMILY).generate(0, 0, 1)  # an equal problem, another object
    teacher_box = []
    waiting = []

    def text(user):
        for _ in range(30_000):  # a hang guard, not a timing assertion
            if teacher_box[0].stats.twins == 2:
                break
            time.sleep(0.01)
        waiting.append(teacher_box[0].stats.twins)
        return f"reply {len(waiting)}\n#### {p.answer}"
    server = FakeServer({}, text_fn=text)
    t = _teacher(server, k=2, concurrency=4)
    teacher_box.append(t)
    records = list(t.teach([p, twin]))
    assert len(server.requests) == 2 and waiting == [2, 2]
    assert t.stats.twins == 2 and t.stats.responses == 4 and t.stats.samples == 4
    assert [r.text for r in records[:2]] == [r.text for r in records[2:]]
    assert records[0].text != records[1].text  # samples 0 and 1 are separate draws


@pytest.mark.parametrize("cached", [False, True])
def test_a_twin_in_a_later_batch_reuses_the_settled_reply(tmp_path, cached):
    """concurrency=1 teaches 8 problems per batch: problem 8 repeats problem 0,
    after problem 0's batch has settled (from the disk cache, or from memory
    when there is none)."""
    problems = _problems(8) + _problems(1)
    server = _numbered_server()
    t = _teacher(server, tmp_path if cached else None, k=1, concurrency=1)
    records = list(t.teach(problems))
    assert len(server.requests) == 8 and t.stats.twins == 1 and t.stats.responses == 9
    assert records[8].text == records[0].text and t.stats.cache_hits == 0


def test_a_twin_shares_a_rejection():
    problems = _problems(1) * 2
    server = FakeServer({}, script=["500"] * 10)
    t = _teacher(server, k=1, max_retries=0)
    assert list(t.teach(problems)) == []
    assert len(server.requests) == 1 and t.stats.twins == 1
    assert t.stats.rejected == {FAILED: 2}
