"""A teacher that samples traces from any OpenAI-compatible HTTP endpoint.

``OpenAITeacher`` sends each problem to ``{base_url}/chat/completions``
(``api="chat"``) or ``{base_url}/completions`` (``api="completions"``) ``k``
times, with a system prompt that asks for the family's trace style (one
solved example of that style, written by the family's own solver, is shown)
and the family's problem prompt as the user message. It yields one
``TraceRecord`` per well-formed completion (``source="model"``,
``teacher=model``, ``style`` = the prompted style, so the checkers hold the
text to that style; ``style_label="model"`` labels them ``model`` instead and
the checkers accept any of the family's styles); judging them is left to
the build's filters (answer, every step, near-duplicates, format), exactly as
for every other teacher. Model text is untrusted and only ever parsed by the
families' checkers, never executed.

* Requests run ``concurrency`` at a time (a thread pool over one
  ``httpx.Client``); records come out in problem order whatever the order of
  the replies.
* 429, 5xx, timeouts and connection errors are retried ``max_retries`` times
  with exponential backoff (``backoff_s * 2**attempt``, full jitter); every
  request has a ``timeout_s`` limit. A sample whose retries run out (or that
  gets another 4xx) is counted as ``request_failed`` and skipped; it is not
  cached, so a rerun asks again.
* A reply without ``choices``, with non-string content or that is not JSON
  is counted as ``malformed_response`` and skipped.
* Every well-formed reply is cached as one JSON file named by its key: the
  sha256 of everything that changes a reply, i.e. the family, the prompted
  style, the api, the whole request body (model, messages or prompt, every
  sampling field) and the sample index. The style is in the key because two
  styles' requests can be byte-identical (a system prompt without
  ``{style}``, a family whose prompts carry no style cue), yet they are
  separate draws, each checked in its own style. Written atomically (temp
  file + ``os.replace``): an interrupted build run again pays only for what
  it had not received.
* One request per key, ever, in a run (single-flight): a sample whose key an
  earlier sample of the run already has (two generated problems with the
  same question, say) is a *twin*; it waits for the first and takes its
  reply, or its rejection, and is counted in ``twins``, never sent. So the
  counts are exact whatever the threads' timing: ``requests - retries ==
  samples - twins - cache_hits``.
* ``prompt="plain"`` sends the family's problem prompt alone (no system
  message, no example): for a model trained on our prompt formats, e.g. one
  of ours behind ``rtt_jax.serve`` (the distillation experiment).
  ``"instructed"`` (default) is for general chat models.
* ``stats`` counts requests, retries, cache hits, twins, failures and the
  tokens of ``usage.prompt_tokens`` / ``usage.completion_tokens`` (0 if
  absent).
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import random
import tempfile
import threading
import time
from typing import Any, Iterable, Iterator, Mapping, Sequence

import httpx

from rtt_jax import tasks
from rtt_jax.tasks import FamilyLookup
from rtt_jax.tasks.answers import ANSWER_MARKER, extract_final_answer
from rtt_jax.tasks.base import Problem
from rtt_jax.traces.record import TraceRecord

APIS = ("chat", "completions")
PROMPTS = ("instructed", "plain")
MALFORMED = "malformed_response"
FAILED = "request_failed"
_IN_CACHE = object()  # a settled key whose reply is in the disk cache

DEFAULT_SYSTEM_PROMPT = (
    "You solve {family} problems step by step. Write one step per line, in exactly the "
    "style of the example below: each line one exact operation and its result, no other "
    "commentary, no Markdown. {final_line}\n\n{example}")
FINAL_LINE_MARKER = f"The last line must be `{ANSWER_MARKER} <answer>` and nothing else."
FINAL_LINE_PLAIN = "End exactly as the example does."


@dataclasses.dataclass
class TeacherStats:
    problems: int = 0
    samples: int = 0  # asked for: problems x styles x k
    requests: int = 0  # HTTP requests sent, retries included
    retries: int = 0
    cache_hits: int = 0  # distinct keys answered by the reply cache (an earlier run)
    twins: int = 0  # samples whose key an earlier sample of this run has: not sent
    responses: int = 0  # samples with a well-formed reply (live, cached or a twin's)
    prompt_tokens: int = 0  # live replies only: what was paid for
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    rejected: dict[str, int] = dataclasses.field(default_factory=dict)
    last_error: str = ""

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["tokens"] = {"prompt": self.prompt_tokens, "completion": self.completion_tokens,
                         "total": self.prompt_tokens + self.completion_tokens}
        return out


class ResponseError(ValueError):
    """A reply that does not have the shape of an OpenAI completion."""


def _usage(body: Mapping[str, Any]) -> tuple[int, int]:
    usage = body.get("usage")
    if not isinstance(usage, Mapping):
        return 0, 0
    vals = []
    for key in ("prompt_tokens", "completion_tokens"):
        v = usage.get(key)
        vals.append(v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0)
    return vals[0], vals[1]


def completion_text(body: Any, api: str) -> str:
    """The first choice's text; ResponseError if the reply is malformed."""
    if not isinstance(body, Mapping):
        raise ResponseError("reply is not a JSON object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise ResponseError("reply has no choices")
    if api == "chat":
        message = choices[0].get("message")
        text = message.get("content") if isinstance(message, Mapping) else None
    else:
        text = choices[0].get("text")
    if not isinstance(text, str):
        raise ResponseError("choice content is not a string")
    return text


class OpenAITeacher:
    """Samples ``k`` completions per (problem, style) from an OpenAI-compatible server."""

    def __init__(self, base_url: str, model: str, *, api: str = "chat", k: int = 4,
                 temperature: float = 0.7, max_tokens: int = 512,
                 system_prompt: str = DEFAULT_SYSTEM_PROMPT,
                 system_prompts: Mapping[str, str] | None = None,
                 styles: Mapping[str, Sequence[str]] | None = None,
                 api_key: str | None = None, concurrency: int = 8, max_retries: int = 5,
                 backoff_s: float = 1.0, timeout_s: float = 60.0, cache_dir: str | None = None,
                 transport: httpx.BaseTransport | None = None, style_label: str = "prompted",
                 prompt: str = "instructed",
                 family_lookup: FamilyLookup = tasks.get, sleep=time.sleep):
        if api not in APIS:
            raise ValueError(f"teacher.api must be one of {APIS}, got {api!r}")
        if k < 1 or concurrency < 1 or max_retries < 0 or timeout_s <= 0 or backoff_s < 0:
            raise ValueError("teacher: need k >= 1, concurrency >= 1, max_retries >= 0, "
                             "timeout_s > 0, backoff_s >= 0")
        if style_label not in ("prompted", "model"):
            raise ValueError(f"teacher.style_label must be 'prompted' or 'model', "
                             f"got {style_label!r}")
        if not base_url:
            raise ValueError("teacher.base_url is empty")
        if prompt not in PROMPTS:
            raise ValueError(f"teacher.prompt must be one of {PROMPTS}, got {prompt!r}")
        self.prompt = prompt
        self.base_url = base_url.rstrip("/")
        self.model, self.api, self.k = model, api, k
        self.temperature, self.max_tokens = float(temperature), int(max_tokens)
        self._system_prompt = system_prompt
        self._system_prompts = {f: p for f, p in (system_prompts or {}).items() if p}
        self._styles = {f: list(s) for f, s in (styles or {}).items() if s}
        self.concurrency, self.max_retries = concurrency, max_retries
        self.backoff_s, self.timeout_s = backoff_s, timeout_s
        self.cache_dir = cache_dir
        self.style_label = style_label
        if cache_dir:
            os.makedirs(cache_dir, exist_ok=True)
        self._lookup = family_lookup
        self._sleep = sleep
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers,
                                    timeout=httpx.Timeout(timeout_s), transport=transport)
        self._lock = threading.Lock()
        # key -> Future while in flight (twins wait on it); once settled, what a
        # later twin needs (_settle_flights).
        self._flights: dict[str, Any] = {}
        self.stats = TeacherStats()

    # ------------------------------------------------------------------ prompts

    def styles_for(self, family: Any) -> list[str]:
        known = list(getattr(family, "styles", ()))
        chosen = self._styles.get(family.name, known) if hasattr(family, "name") else known
        unknown = [s for s in chosen if s not in known]
        if unknown:
            raise ValueError(f"{family.name}: unknown styles {unknown}; known: {known}")
        return chosen or ["openai"]

    def _example(self, family: Any, problem: Problem, style: str) -> tuple[str, str] | None:
        """One solved problem of the same family, level and style (not this one)."""
        for index in range(3):
            try:
                ex = family.generate(problem.seed + 1_000_003, index, problem.level)
                if ex.question != problem.question:
                    return family.format_example(ex, style)
            except Exception:  # noqa: BLE001 - gsm8k/rg items may have no generator or style
                return None
        return None

    def messages(self, problem: Problem, style: str) -> list[dict[str, str]]:
        family = self._lookup(problem.family)
        try:
            user = family.format_example(problem, style)[0]
        except Exception:  # noqa: BLE001 - e.g. a reasoning-gym item our solvers cannot write
            user = problem.question + "\n"
        if self.prompt == "plain":
            return [{"role": "user", "content": user}]
        example = self._example(family, problem, style)
        if example is None:
            example_text, final_line = "", FINAL_LINE_MARKER
        else:
            example_text = (f"Example problem:\n{example[0].rstrip()}\n"
                            f"Example solution:\n{example[1]}")
            final_line = FINAL_LINE_MARKER if ANSWER_MARKER in example[1] else FINAL_LINE_PLAIN
        template = self._system_prompts.get(problem.family, self._system_prompt)
        system = template.format(family=problem.family.replace("_", " ").removesuffix(" problem"),
                                 style=style,
                                 final_line=final_line, example=example_text).strip()
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def _payload(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        params = {"model": self.model, "temperature": self.temperature,
                  "max_tokens": self.max_tokens}
        if self.api == "chat":
            return {**params, "messages": messages}
        return {**params, "prompt": "\n\n".join(m["content"] for m in messages)}

    # ------------------------------------------------------------------ requests

    def cache_key(self, family: str, style: str, payload: Mapping[str, Any], sample: int) -> str:
        """The sha256 of everything that changes a reply (see the module docstring)."""
        blob = json.dumps({"v": 2, "family": family, "style": style, "api": self.api,
                           "payload": payload, "sample": sample},
                          sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _cache_path(self, key: str) -> str | None:
        return os.path.join(self.cache_dir, key[:2], key + ".json") if self.cache_dir else None

    def _cache_get(self, key: str) -> dict[str, Any] | None:
        path = self._cache_path(key)
        if path is None or not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                entry = json.load(f)
            if isinstance(entry, dict) and isinstance(entry.get("text"), str):
                prompt, completion = _usage({"usage": entry})
                return {**entry, "prompt_tokens": prompt, "completion_tokens": completion}
        except (OSError, ValueError, RecursionError):
            pass  # a damaged entry is asked again
        return None

    def _cache_put(self, key: str, entry: dict[str, Any]) -> None:
        path = self._cache_path(key)
        if path is None:
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(entry, f, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, d in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + d)

    def _post(self, payload: dict[str, Any]) -> Any:
        """The reply's parsed JSON; raises httpx errors once retries run out."""
        path = "/chat/completions" if self.api == "chat" else "/completions"
        attempt = 0
        while True:
            self._count(requests=1)
            try:
                resp = self._client.post(path, json=payload)
                retryable = resp.status_code == 429 or resp.status_code >= 500
                if not retryable:
                    resp.raise_for_status()
                    try:
                        return resp.json()
                    except (ValueError, RecursionError) as e:  # not JSON, or nested too deep
                        raise ResponseError(f"reply is not JSON: {type(e).__name__}") from None
                error: Exception = httpx.HTTPStatusError(
                    f"HTTP {resp.status_code}", request=resp.request, response=resp)
            except httpx.TransportError as e:  # timeouts, refused connections, resets
                error = e
            if attempt >= self.max_retries:
                raise error
            attempt += 1
            self._count(retries=1)
            self._sleep(random.uniform(0, self.backoff_s * 2 ** (attempt - 1)))

    def sample(self, family: str, style: str, messages: list[dict[str, str]],
               index: int) -> tuple[str | None, str | None]:
        """(text, None) or (None, rejection reason) for sample ``index`` of
        (problem, ``style``). The first sample of a key fetches it (cache,
        else one request with its retries); a twin waits for that and shares it."""
        payload = self._payload(messages)
        key = self.cache_key(family, style, payload, index)
        with self._lock:
            flight = self._flights.get(key)
            if flight is None:
                flight = self._flights[key] = concurrent.futures.Future()
                first = True
            else:
                first = False
                self.stats.twins += 1
        if not first:
            result = self._twin_result(key, payload, flight)
        else:
            try:
                result = self._fetch(key, payload)
            except BaseException as e:  # a twin waiting on it fails the same way
                flight.set_exception(e)
                raise
            flight.set_result(result)
        if result[1] is None:
            self._count(responses=1)
        return result

    def _twin_result(self, key: str, payload: dict[str, Any],
                     flight: Any) -> tuple[str | None, str | None]:
        if isinstance(flight, concurrent.futures.Future):
            return flight.result()
        if flight is _IN_CACHE:  # settled in an earlier batch: its reply is on disk
            entry = self._cache_get(key)
            if entry is not None:
                return entry["text"], None
            return self._fetch(key, payload)  # someone deleted it meanwhile: ask again
        return flight

    def _fetch(self, key: str, payload: dict[str, Any]) -> tuple[str | None, str | None]:
        entry = self._cache_get(key)
        if entry is not None:
            self._count(cache_hits=1, cached_prompt_tokens=entry.get("prompt_tokens", 0),
                        cached_completion_tokens=entry.get("completion_tokens", 0))
            return entry["text"], None
        try:
            body = self._post(payload)
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            with self._lock:
                self.stats.last_error = f"{type(e).__name__}: {e}"[:300]
            return None, FAILED
        except ResponseError:
            return None, MALFORMED
        prompt_tokens, completion_tokens = _usage(body) if isinstance(body, Mapping) else (0, 0)
        self._count(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        try:
            text = completion_text(body, self.api)
        except ResponseError:
            return None, MALFORMED
        self._cache_put(key, {"text": text, "prompt_tokens": prompt_tokens,
                              "completion_tokens": completion_tokens, "model": self.model})
        return text, None

    def _settle_flights(self) -> None:
        """Between batches, when nothing is in flight: a settled key keeps only
        what a later twin needs, so a long build's memory does not grow with
        its replies' text. A reply in the disk cache is read back from there;
        without a cache the text stays in memory; a rejection keeps its reason."""
        with self._lock:
            for key, flight in self._flights.items():
                if isinstance(flight, concurrent.futures.Future) and flight.done() \
                        and flight.exception() is None:
                    text, reason = flight.result()
                    cached = reason is None and self.cache_dir
                    self._flights[key] = _IN_CACHE if cached else (text, reason)

    # ------------------------------------------------------------------ teaching

    def _jobs(self, problem: Problem) -> list[tuple[Problem, str, list[dict[str, str]], int]]:
        family = self._lookup(problem.family)
        return [(problem, style, msgs, i) for style in self.styles_for(family)
                for msgs in [self.messages(problem, style)] for i in range(self.k)]

    def teach(self, problems: Iterable[Problem], on_problem=None) -> Iterator[TraceRecord]:
        """Records for ``problems``, in order. ``on_problem()`` is called per problem."""
        chunk = max(4 * self.concurrency, 8)
        with concurrent.futures.ThreadPoolExecutor(self.concurrency) as pool:
            batch: list[Problem] = []
            for problem in problems:
                batch.append(problem)
                if len(batch) == chunk:
                    yield from self._teach_batch(batch, pool, on_problem)
                    batch = []
            if batch:
                yield from self._teach_batch(batch, pool, on_problem)

    def _teach_batch(self, batch, pool, on_problem) -> Iterator[TraceRecord]:
        per_problem = [[(style, pool.submit(self.sample, problem.family, style, msgs, i))
                        for _, style, msgs, i in self._jobs(problem)] for problem in batch]
        for problem, samples in zip(batch, per_problem):
            self.stats.problems += 1
            for style, fut in samples:
                self.stats.samples += 1
                text, reason = fut.result()
                if reason is not None:
                    self.stats.reject(reason)
                    continue
                label = style if self.style_label == "prompted" else "model"
                yield TraceRecord(problem=problem, style=label, text=text,
                                  answer=extract_final_answer(text), source="model",
                                  teacher=self.model)
            if on_problem is not None:
                on_problem()
        self._settle_flights()

    def close(self) -> None:
        self._client.close()

    def card(self) -> dict[str, Any]:
        """The teacher's part of the dataset card (no API key)."""
        return {"kind": "openai", "base_url": self.base_url, "model": self.model,
                "api": self.api, "k": self.k, "temperature": self.temperature,
                "max_tokens": self.max_tokens, "style_label": self.style_label,
                "prompt": self.prompt,
                **self.stats.to_json()}


def from_config(tc: Any, styles: Mapping[str, Sequence[str]] | None = None,
                cache_dir: str | None = None, transport: httpx.BaseTransport | None = None,
                family_lookup: FamilyLookup = tasks.get) -> OpenAITeacher:
    """An ``OpenAITeacher`` from the ``teacher`` block of a trace build config."""
    key_env = tc.get("api_key_env", "OPENAI_API_KEY") or ""
    prompts = tc.get("system_prompts")
    return OpenAITeacher(
        tc.base_url, tc.model, api=tc.get("api", "chat"), k=int(tc.get("k", 4)),
        temperature=tc.get("temperature", 0.7), max_tokens=tc.get("max_tokens", 512),
        system_prompt=tc.get("system_prompt") or DEFAULT_SYSTEM_PROMPT,
        system_prompts=dict(prompts.items()) if prompts is not None else None, styles=styles,
        api_key=os.environ.get(key_env) if key_env else None,
        concurrency=int(tc.get("concurrency", 8)), max_retries=int(tc.get("max_retries", 5)),
        backoff_s=float(tc.get("backoff_s", 1.0)), timeout_s=float(tc.get("timeout_s", 60.0)),
        cache_dir=tc.get("cache_dir") or cache_dir, transport=transport,
        style_label=tc.get("style_label", "prompted"), prompt=tc.get("prompt", "instructed"),
        family_lookup=family_lookup)
