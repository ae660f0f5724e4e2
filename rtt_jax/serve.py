"""Serve a trained checkpoint as OpenAI-compatible completions (docs/serve.md).

    python -m rtt_jax.serve --workdir=W --port=8000 [--config=configs/base.py:tiny]

Endpoints: ``GET /v1/models`` (and ``/v1/models/{id}``), ``POST
/v1/completions`` and ``POST /v1/chat/completions``, with ``stream: true`` as
server-sent events in OpenAI's chunk format (``rtt_jax.serve_stream``).
Generation runs through the KV-cache sampler; requests that arrive within
``--batch_window_ms`` of each other are decoded together
(``rtt_jax.serve_batching``). The config is the one the run saved in
``W/config.json``; a ``--config`` given as well wins, unless it changes the
model or tokenizer the checkpoint was trained with. Model output is only
ever returned as a string.

Like the OpenAI API: a request naming another model than the one served is
a 404 ``model_not_found``; with ``--api_key`` (or ``$RTT_JAX_API_KEY``) every
request without ``Authorization: Bearer <key>`` is a 401 ``invalid_api_key``.
The server refuses to listen beyond loopback (``--host=0.0.0.0``, say)
without a key, unless ``--allow_no_key``: anyone who can reach the port
could use the model.

Chat rendering: the model was trained on ``<BOS>{problem text}{completion}``,
so a chat becomes one prompt: the system message (if any) and a newline, then
the last user message's content, the problem text as a family's prompt writes
it. A newline is appended unless the prompt already ends in one or in ``=``
(Lee et al. addition prompts end in ``=``). Earlier turns are not rendered.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import os
import sys
import time
import uuid
from typing import Annotated, Literal

import numpy as np
from absl import app, flags
from ml_collections import config_flags
from pydantic import BaseModel, ConfigDict, Field, Strict

from rtt_jax import cli_errors



API_KEY_ENV = "RTT_JAX_API_KEY"


def _define_flags() -> None:
    """Flags are defined only when run as a program, so that importing this
    module (tests, a notebook, another CLI) never clashes with another
    module's ``--config``."""
    global _CONFIG, _WORKDIR, _HOST, _PORT, _MODEL_NAME, _MAX_LEN, _MAX_BATCH, _WINDOW_MS, _MAX_N
    global _API_KEY, _ALLOW_NO_KEY, _STREAM_CHUNK
    _CONFIG = config_flags.DEFINE_config_file(
        "config", None, "The run's config file[:variant] (default: the one the workdir saved, "
        "config.json).", lock_config=True)
    _WORKDIR = flags.DEFINE_string("workdir", None, "Run directory holding the checkpoint.")
    _HOST = flags.DEFINE_string("host", "127.0.0.1", "Address to listen on.")
    _PORT = flags.DEFINE_integer("port", 8000, "Port to listen on.")
    _MODEL_NAME = flags.DEFINE_string("model_name", None,
                                      "Model id (default: the workdir's name).")
    _MAX_LEN = flags.DEFINE_integer("max_len", None, "Prompt + completion tokens per row "
                                    "(default: config.eval.max_len).")
    _MAX_BATCH = flags.DEFINE_integer("max_batch", None, "Rows per sampler call "
                                      "(default: config.eval.batch_size).")
    _WINDOW_MS = flags.DEFINE_float("batch_window_ms", 10.0,
                                    "How long the worker waits for more requests to batch.")
    _MAX_N = flags.DEFINE_integer("max_n", 16, "Largest n (samples per prompt) accepted.")
    _STREAM_CHUNK = flags.DEFINE_integer(
        "stream_chunk_tokens", 16, "A streamed request is decoded this many tokens at a time "
        "and sent after each round (other requests are served between rounds).", lower_bound=1)
    _API_KEY = flags.DEFINE_string(
        "api_key", None, f"Require 'Authorization: Bearer KEY' on every request (default: "
        f"${API_KEY_ENV}; the variable keeps the key out of the process list).")
    _ALLOW_NO_KEY = flags.DEFINE_bool(
        "allow_no_key", False, "Listen beyond loopback without an API key (anyone who can "
        "reach the port may use the model).")
    flags.mark_flags_as_required(["workdir"])


Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]  # strict floats still accept JSON integers
Str = Annotated[str, Strict()]
DEFAULT_MAX_TOKENS = 256


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: Str | None = None
    max_tokens: Int | None = Field(None, ge=1)
    temperature: Float = Field(1.0, ge=0.0, le=100.0)
    top_p: Float = Field(1.0, gt=0.0, le=1.0)
    n: Int = Field(1, ge=1)
    stop: Str | list[Str] | None = None
    seed: Int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None


class CompletionRequest(_Sampling):
    prompt: Str | list[Str]


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: Str


class ChatRequest(_Sampling):
    messages: list[Message] = Field(min_length=1)


class BadRequest(ValueError):
    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


class ModelNotFound(LookupError):
    """A request for a model this server does not serve: 404 ``model_not_found``."""


def render_chat(messages: list[Message]) -> str:
    """The one prompt a chat becomes (module docstring: "Chat rendering")."""
    system = [m.content for m in messages if m.role in ("system", "developer")]
    users = [m.content for m in messages if m.role == "user"]
    if not users:
        raise BadRequest("messages: at least one message with role 'user' is required",
                         "messages")
    text = (system[0] + "\n" if system else "") + users[-1]
    return text if text.endswith(("\n", "=")) else text + "\n"


def error_body(message: str, param: str | None = None, kind: str = "invalid_request_error",
               code: str | None = None):
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_exposure(host: str, api_key: str | None, allow_no_key: bool) -> None:
    """ValueError (one line) when the server would listen beyond loopback
    with no key and ``--allow_no_key`` was not given."""
    if api_key is None and not allow_no_key and not is_loopback(host):
        raise ValueError(f"--host={host} listens beyond loopback with no API key, so anyone "
                         f"who can reach the port could use the model: pass --api_key (or set "
                         f"${API_KEY_ENV}), or --allow_no_key")


class Engine:
    """Validation, batching and response building around one ``Sampler``."""

    def __init__(self, sampler, model_name: str, window_s: float = 0.01,
                 max_batch: int | None = None, max_n: int = 16, stream_chunk: int = 16):
        """``stream_chunk``: new tokens per row per round of a streamed request
        (``serve_batching``): smaller sends text sooner, at one prefill a round."""
        from rtt_jax.serve_batching import Batcher
        if stream_chunk < 1:
            raise ValueError(f"stream_chunk={stream_chunk}: expected at least 1 token")
        self.sampler, self.model_name, self.max_n = sampler, model_name, max_n
        # A round continues a row by reading its tokens so far as prompt. Under
        # model.positions=coupled a completion's ids follow its lines and a
        # prompt's do not, so such a model streams in one round (sent at the end).
        coupled = getattr(getattr(sampler, "cfg", None), "positions", "rope") == "coupled"
        self.stream_chunk = None if coupled else stream_chunk
        self.batcher = Batcher(sampler, window_s=window_s, max_batch=max_batch)
        self.created = int(time.time())

    def close(self):
        self.batcher.close()

    def check_model(self, name: str | None) -> None:
        """``ModelNotFound`` unless ``name`` is the served model (or absent)."""
        if name is not None and name != self.model_name:
            raise ModelNotFound(f"The model `{name}` does not exist; this server serves "
                                f"`{self.model_name}`.")

    def _check(self, req: _Sampling, prompts: list[str]):
        """Encoded prompts and the per-row token limit, or ``BadRequest``."""
        if req.stream_options is not None and not req.stream:
            raise BadRequest("stream_options: only allowed with stream=true", "stream_options")
        if req.n > self.max_n:
            raise BadRequest(f"n={req.n}: at most {self.max_n} samples per prompt", "n")
        stops = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        if len(stops) > 4 or any(not s for s in stops):
            raise BadRequest("stop: up to 4 non-empty strings", "stop")
        if not prompts:
            raise BadRequest("prompt: an empty list", "prompt")
        ids = [self.sampler.encode_prompt(p) for p in prompts]
        max_len, longest = self.sampler.max_len, max(len(i) for i in ids)
        if longest >= max_len:
            raise BadRequest(f"the prompt is {longest} tokens; this model's max_len is {max_len}"
                             f" tokens (prompt + completion), which leaves no room to generate",
                             "prompt" if isinstance(req, CompletionRequest) else "messages")
        room = max_len - longest
        if req.max_tokens is not None and req.max_tokens > room:
            raise BadRequest(f"max_tokens={req.max_tokens}: the prompt is {longest} tokens and "
                             f"this model's max_len is {max_len}, so at most {room}", "max_tokens")
        return ids, req.max_tokens or min(room, DEFAULT_MAX_TOKENS), stops

    def _job(self, req: _Sampling, prompts: list[str], **stream):
        """The batcher's job for ``req``, its rows (prompt ids, ``n`` each), the
        token limit, the stop strings and the prompt tokens; ``BadRequest``
        or ``ModelNotFound`` first."""
        from rtt_jax.serve_batching import Job
        self.check_model(req.model)
        ids, limit, stops = self._check(req, prompts)
        rows = [p for p in ids for _ in range(req.n)]
        seed = None if req.seed is None else req.seed % 2**31
        job = Job(rows, limit, temperature=req.temperature, top_p=req.top_p, seed=seed, **stream)
        return job, rows, limit, stops, sum(len(i) for i in ids)

    async def _generate(self, req: _Sampling, prompts: list[str]):
        """[(text, finish_reason, completion tokens, token ids)] per prompt x n,
        and prompt tokens."""
        job, rows, limit, stops, prompt_tokens = self._job(req, prompts)
        out = await asyncio.wrap_future(self.batcher.submit(job))
        return [self._finish(p, t, limit, stops) for p, t in zip(rows, out)], prompt_tokens

    def _finish(self, prompt: np.ndarray, tokens: np.ndarray, limit: int, stops: list[str]):
        s = self.sampler
        text = s.tokenizer.decode(tokens)
        stopped = len(tokens) < limit or s.stopped_at_end(prompt, tokens)
        cut = min((text.find(x) for x in stops if x in text), default=-1)
        if cut >= 0:
            text, stopped = text[:cut], True
        return text, "stop" if stopped else "length", len(tokens), tokens

    def _usage(self, results, prompt_tokens: int):
        done = sum(r[2] for r in results)
        return dict(prompt_tokens=prompt_tokens, completion_tokens=done,
                    total_tokens=prompt_tokens + done)

    def _stream(self, kind: str, response_id: str, req: _Sampling, prompts: list[str]):
        """The server-sent events of a streamed reply, as its tokens are decoded
        (``serve_stream``). The request is checked before the first event, so
        a bad one is still a 400."""
        from rtt_jax.serve_stream import ChoiceText, EventWriter
        decode = self.sampler.tokenizer.decode
        loop = asyncio.get_running_loop()
        updates: asyncio.Queue = asyncio.Queue()
        end = object()
        texts: list[ChoiceText] = []

        def on_tokens(tokens, finished):  # the batcher's thread
            loop.call_soon_threadsafe(updates.put_nowait, tokens)
            # A stop string ends its row now: nothing after it is sent.
            return [any(x in decode(t) for x in stops) for t in tokens] if stops else None

        job, rows, limit, stops, prompt_tokens = self._job(req, prompts, chunk=self.stream_chunk,
                                                            on_tokens=on_tokens)
        texts += [ChoiceText(decode, stops) for _ in rows]
        future = self.batcher.submit(job)
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(updates.put_nowait, end))
        include = req.stream_options is not None and req.stream_options.include_usage
        writer = EventWriter(kind, response_id, int(time.time()), self.model_name, include)

        async def events():
            try:
                for line in writer.start(len(rows)):
                    yield line
                while (tokens := await updates.get()) is not end:
                    for i, t in enumerate(tokens):
                        for line in writer.pieces(i, texts[i].feed(t)):
                            yield line
                if future.exception() is not None:
                    for line in writer.error(str(future.exception())):
                        yield line
                    return
                results = [self._finish(p, t, limit, stops)
                           for p, t in zip(rows, future.result())]
                for i, (text, finish, _, _) in enumerate(results):
                    for line in writer.pieces(i, texts[i].finish(text)):
                        yield line
                    yield writer.finish(i, finish)
                for line in writer.end(self._usage(results, prompt_tokens)):
                    yield line
            finally:
                job.abandon()  # a client gone mid-stream stops its decode at the next round

        return events()

    async def completions(self, req: CompletionRequest):
        """The reply's JSON, or (``stream``) an iterator of its events."""
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        response_id = f"cmpl-{uuid.uuid4().hex}"
        if req.stream:
            return self._stream("completion", response_id, req, prompts)
        results, prompt_tokens = await self._generate(req, prompts)
        choices = [dict(index=i, text=text, logprobs=None, finish_reason=fin)
                   for i, (text, fin, _, _) in enumerate(results)]
        return dict(id=response_id, object="text_completion",
                    created=int(time.time()), model=self.model_name, choices=choices,
                    usage=self._usage(results, prompt_tokens))

    async def chat(self, req: ChatRequest):
        """The reply's JSON, or (``stream``) an iterator of its events."""
        response_id = f"chatcmpl-{uuid.uuid4().hex}"
        if req.stream:
            return self._stream("chat", response_id, req, [render_chat(req.messages)])
        results, prompt_tokens = await self._generate(req, [render_chat(req.messages)])
        choices = [dict(index=i, message=dict(role="assistant", content=text),
                        logprobs=None, finish_reason=fin)
                   for i, (text, fin, _, _) in enumerate(results)]
        return dict(id=response_id, object="chat.completion",
                    created=int(time.time()), model=self.model_name, choices=choices,
                    usage=self._usage(results, prompt_tokens))


def _param(loc) -> str | None:
    """The request field a pydantic error location names ("body", "n") -> "n"."""
    parts = [str(p) for p in loc if p != "body" and not isinstance(p, int)]
    known = [p for p in parts if p in ChatRequest.model_fields or p in
             CompletionRequest.model_fields or p in Message.model_fields]
    return ".".join(known) if known else None


def make_app(engine: Engine, api_key: str | None = None):
    """The FastAPI app over ``engine``; with ``api_key``, every request must
    carry ``Authorization: Bearer <api_key>`` (else 401)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.exceptions import HTTPException

    api = FastAPI(title="rtt_jax", docs_url=None, redoc_url=None)
    expected = f"Bearer {api_key}".encode() if api_key else None

    @api.middleware("http")
    async def _authorize(request: Request, call_next):
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):  # the same time for any wrong key
                msg = ("Incorrect API key provided." if given else
                       "Missing API key: send 'Authorization: Bearer <key>'.")
                return JSONResponse(error_body(msg, None, code="invalid_api_key"),
                                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    @api.exception_handler(ModelNotFound)
    async def _no_model(_request: Request, exc: ModelNotFound):
        return JSONResponse(error_body(str(exc), "model", code="model_not_found"),
                            status_code=404)

    @api.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError):
        err = exc.errors()[0] if exc.errors() else {}
        if err.get("type") == "json_invalid":
            msg, param = "the request body is not valid JSON", None
        else:
            param = _param(err.get("loc", ()))
            msg = f"{param or 'body'}: {err.get('msg', 'invalid value')}"
            if err.get("type") == "missing":
                msg = f"{param}: a required field is missing"
        return JSONResponse(error_body(msg, param), status_code=400)

    @api.exception_handler(BadRequest)
    async def _bad(_request: Request, exc: BadRequest):
        return JSONResponse(error_body(str(exc), exc.param), status_code=400)

    @api.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException):
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return JSONResponse(error_body(str(exc.detail), None, kind), status_code=exc.status_code)

    def model_card():
        return dict(id=engine.model_name, object="model", created=engine.created,
                    owned_by="rtt_jax")

    def reply(body):
        if isinstance(body, dict):
            return body
        return StreamingResponse(body, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @api.get("/v1/models")
    async def models():
        return dict(object="list", data=[model_card()])

    @api.get("/v1/models/{model_id:path}")
    async def model(model_id: str):
        engine.check_model(model_id)
        return model_card()

    @api.post("/v1/completions")
    async def completions(req: CompletionRequest):
        return reply(await engine.completions(req))

    @api.post("/v1/chat/completions")
    async def chat(req: ChatRequest):
        return reply(await engine.chat(req))

    return api


def load_engine(spec, workdir: str, *, model_name: str | None = None, max_len: int | None = None,
                max_batch: int | None = None, window_s: float = 0.01, max_n: int = 16,
                stream_chunk: int = 16, devices=None) -> Engine:
    """Restore ``workdir``'s latest checkpoint into a sampler and wrap it;
    ``spec`` is the run's checked config (``config_validation.validate``)."""
    from rtt_jax.evaluation.standalone import sampler_from_workdir
    max_batch = max_batch or spec.eval.batch_size
    sampler, _ = sampler_from_workdir(spec, workdir, max_len or spec.eval.max_len,
                                      max_batch, devices)
    name = model_name or os.path.basename(os.path.normpath(workdir)) or "rtt_jax"
    return Engine(sampler, name, window_s=window_s, max_batch=max_batch, max_n=max_n,
                  stream_chunk=stream_chunk)


def main(argv) -> int:
    del argv
    from rtt_jax.train.checkpoint import CheckpointError

    def body():
        api_key = _API_KEY.value or os.environ.get(API_KEY_ENV) or None
        check_exposure(_HOST.value, api_key, _ALLOW_NO_KEY.value)  # before any loading
        import uvicorn
        from rtt_jax.evaluation.standalone import workdir_spec
        engine = load_engine(workdir_spec(_WORKDIR.value, _CONFIG.value), _WORKDIR.value,
                             model_name=_MODEL_NAME.value, max_len=_MAX_LEN.value,
                             max_batch=_MAX_BATCH.value, window_s=_WINDOW_MS.value / 1000,
                             max_n=_MAX_N.value, stream_chunk=_STREAM_CHUNK.value)
        print(f"serving {engine.model_name!r} on http://{_HOST.value}:{_PORT.value}/v1"
              + (" (API key required)" if api_key else ""), flush=True)
        try:
            uvicorn.run(make_app(engine, api_key), host=_HOST.value, port=_PORT.value,
                        log_level="info")
        finally:
            engine.close()

    try:
        return cli_errors.run_reporting(body, _WORKDIR.value)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    _define_flags()
    app.run(main, flags_parser=cli_errors.flags_parser(_CONFIG))
