"""Why a trace model fails beyond its trained length: two diagnoses of a checkpoint.

    python -m rtt_jax.evaluation.length_diagnosis \
        --config=configs/experiments/traces_vs_answer.py:cpu/traces \
        --workdir=RUN --levels=8,9,10,11,12 --n=100 --out=DIR

For each level, on the run's held-out evaluation problems (``eval_seed``):

(a) **The stop decision.** Greedy decoding as evaluation does it (``free``),
    and again with the answer marker's first token (``#``) blocked until the
    completion has as many lines as the reference trace (``forced``). If
    stopping too early were the failure, ``forced`` would recover accuracy.
(b) **Finding the next operand.** The reference completion is fed whole
    (teacher forcing) and each line is scored as greedy decoding would write
    it given the first k lines: a line is right when the argmax at each of its
    tokens is the reference token (that is exactly when greedy decoding after
    the right k lines writes it). Lines ``x±y=z`` (``modular``'s ``running``
    and ``hinted`` styles) are split into the *carry* (x, the previous result
    carried), the *operand* (``±y``, copied from the question: finding the
    (k+1)-th term) and the *result* (z, arithmetic on the two). At each line
    start the model may instead begin the answer line: ``premature`` counts
    that before the last line, ``stops`` that it does so after the last.

Outputs ``DIR/diagnosis.json`` (everything, per level and per line index)
and ``DIR/diagnosis.md`` (the summary table, and operand accuracy by line
index for every level). Model text is only compared and parsed, never run.
The token spans assume a tokenizer that encodes text piecewise (the byte
tokenizer every shipped recipe uses); another one is refused with one line.
"""
from __future__ import annotations

import json
import os
import re
import time

import numpy as np
from absl import app, flags
from ml_collections import config_flags

from rtt_jax import cli_errors

# x±y=z lines: carry, operand (sign, an optional index hint, the term), result.
LINE_RE = re.compile(r"^(-?[0-9]+)([+-][A-Za-z]?[0-9]+)=(-?[0-9]+)$", re.ASCII)
PARTS = ("carry", "operand", "result")


def _define_flags():
    flags.DEFINE_string("workdir", None, "The run's workdir (its latest checkpoint is read).")
    flags.DEFINE_string("out", None, "Output directory (diagnosis.json, diagnosis.md).")
    flags.DEFINE_list("levels", ["8", "9", "10", "11", "12"], "Levels to diagnose.")
    flags.DEFINE_integer("n", 100, "Problems per level (the first n evaluation problems).",
                         lower_bound=1)
    flags.DEFINE_string("family", "modular", "Task family.")
    flags.DEFINE_string("style", "", "Trace style (default: the config's eval style).")
    flags.DEFINE_integer("batch", 128, "Rows per forward pass or decode.", lower_bound=1)
    flags.DEFINE_enum("tf_positions", "contiguous", ["contiguous", "random"],
                      "Position ids of the teacher-forced pass: 0, 1, 2, ... (what decoding "
                      "uses), or drawn as random_rope draws them in training (a sorted random "
                      "subset of [0, model.max_position) per sequence).")
    flags.mark_flags_as_required(["workdir", "out"])
    return config_flags.DEFINE_config_file("config", None, "The run's config: "
                                           "FILE[:VARIANT/ARM], as rtt_jax.main takes it.")


# --- (b) teacher forcing -----------------------------------------------------

def line_spans(prompt_tokens: int, completion: str):
    """Token spans of each completion line: [(line, {part: (start, stop)})],
    token indices into [BOS] prompt completion; a line's ``all`` span takes
    its newline too (writing it ends the line)."""
    out, offset = [], 1 + prompt_tokens
    for line in completion.split("\n"):
        spans = {"all": (offset, offset + len(line) + 1), "start": (offset, offset + 1)}
        m = LINE_RE.match(line)
        if m:
            for i, part in enumerate(PARTS, 1):
                spans[part] = (offset + m.start(i), offset + m.end(i))
        out.append((line, spans))
        offset += len(line) + 1
    return out


def forced_line_scores(correct: np.ndarray, predicted: np.ndarray, spans, hash_id: int) -> dict:
    """Per line k: which parts greedy decoding would write right after the
    first k reference lines. ``correct[t]``: the argmax at t - 1 is token t;
    ``predicted[t]``: that argmax."""
    lines = []
    last = len(spans) - 1  # the answer line
    for k, (_, span) in enumerate(spans):
        row = {part: bool(correct[a:b].all()) for part, (a, b) in span.items()
               if part in PARTS + ("all",)}
        starts_answer = int(predicted[span["start"][0]]) == hash_id
        row["begins_answer"] = starts_answer
        row["is_answer_line"] = k == last
        lines.append(row)
    return {"lines": lines}


def teacher_forced(forward, tokenizer, family, problems, style: str, batch: int,
                   hash_id: int) -> list[dict]:
    """Per problem, the line scores of ``forced_line_scores``; ``forward(tokens,
    positions, targets, chunk)`` returns the argmax ids of a chunk of rows."""
    rows, meta = [], []
    for p in problems:
        prompt, completion = family.format_example(p, style)
        ptoks, ctoks = tokenizer.encode(prompt), tokenizer.encode(completion)
        if list(tokenizer.encode(prompt + completion)) != list(ptoks) + list(ctoks) or \
                len(ctoks) != len(completion):
            raise ValueError(f"tokenizer {tokenizer.name!r} does not encode text piecewise "
                             "(one token per character); the line spans need the byte tokenizer")
        rows.append(np.concatenate([[tokenizer.bos_id], ptoks, ctoks, [tokenizer.eos_id]]))
        meta.append(line_spans(len(ptoks), completion))
    out = []
    for a in range(0, len(rows), batch):
        chunk = rows[a:a + batch]
        width = max(len(r) for r in chunk)
        tokens = np.zeros((len(chunk), width), np.int32)
        positions = np.zeros((len(chunk), width), np.int32)  # padding: segments of one
        targets = np.zeros((len(chunk), width), np.int32)  # the completion, as training marks it
        for i, r in enumerate(chunk):
            tokens[i, :len(r)] = r
            positions[i, :len(r)] = np.arange(len(r))
            targets[i, meta[a + i][0][1]["all"][0]:len(r)] = 1
        predicted = np.asarray(forward(tokens, positions, targets, a))  # argmax at t predicts t + 1
        for i, r in enumerate(chunk):
            pred = np.concatenate([[-1], predicted[i, :len(r) - 1]])  # pred[t] for token t
            out.append(forced_line_scores(pred == r, pred, meta[a + i], hash_id))
    return out


# --- (a) decoding, free and with the end blocked --------------------------------

def lines_written(completion: str) -> int:
    """Trace lines before the answer line (all lines if there is none)."""
    lines = completion.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("####"):
            return i
    return len([x for x in lines if x])


def forced_decoder(sampler, max_new: int):
    """``decode(prompts, need) -> completions``: greedy decoding with token ``#``
    blocked until a row has written ``need[row]`` newlines (the KV-cache path
    of ``rtt_jax.model.sampler``, with the block folded into its logits)."""
    import jax
    import jax.numpy as jnp
    from flax import nnx
    from rtt_jax.model.positions import coupled_step
    from rtt_jax.model.sampler import bucket, decode_loop

    hash_id = int(sampler.tokenizer.encode("#")[0])
    newline = int(sampler.tokenizer.encode("\n")[0])
    c = sampler.cfg

    def program(params, tokens, lengths, need, opts, ids, states):
        model = nnx.merge(sampler.graphdef, params)
        b, w = tokens.shape
        positions = jnp.broadcast_to(jnp.arange(w, dtype=jnp.int32), (b, w))
        cache = model.init_cache(b, w + max_new)
        hidden, cache = model.forward_cached(tokens, sampler.prompt_ids(tokens, positions, lengths),
                                             cache, positions)
        last = jnp.take_along_axis(hidden, (lengths - 1)[:, None, None], axis=1)

        def blocked(logits, lines):
            return logits.at[:, hash_id].set(jnp.where(lines < need, -jnp.inf,
                                                       logits[:, hash_id]))

        def step(state, tok, pos):
            cache, lines, offset = state
            rope = pos  # coupled: the id follows the line, as the sampler does it
            if c.positions == "coupled":
                rope, _, offset = coupled_step(tok, lines, offset, c.coupling_anchor,
                                               c.coupling_stride, c.newline_id)
            lines = lines + (tok == newline).astype(jnp.int32)
            h, cache = model.forward_cached(tok[:, None], rope[:, None], cache, pos[:, None])
            return blocked(model.logits(h)[:, 0], lines), (cache, lines, offset)

        zeros = jnp.zeros((b,), jnp.int32)
        prompt_last = jnp.take_along_axis(tokens, (lengths - 1)[:, None], axis=1)[:, 0]
        return decode_loop(step, (cache, zeros, zeros), blocked(model.logits(last)[:, 0], zeros),
                           lengths, prompt_last, jnp.ones((b,), bool), jnp.arange(b), opts,
                           ids, max_new, rules=sampler.stop_rules, states=states)

    jitted = jax.jit(program)
    # The sampler's own stop rules with their default switches (evaluation's:
    # the answer line on), as ``Sampler.decode_rows`` runs them.
    ids = jax.tree.map(lambda v: jnp.asarray(v, jnp.int32),
                       dict(sampler.ids, rules=sampler.rule_ids))
    opts = dict(max_new=jnp.int32(max_new), temperature=jnp.float32(0.0),
                top_p=jnp.float32(1.0), seed=jnp.int32(0), stop_on_eos=jnp.bool_(True),
                stops={k: jnp.bool_(v) for k, v in sampler.switches(None).items()})

    def decode(prompts: list[str], need: list[int]) -> list[str]:
        encoded = [sampler.encode_prompt(p) for p in prompts]
        width = bucket(max(len(e) for e in encoded), 16)
        tokens = np.full((len(encoded), width), sampler.ids["pad"], np.int32)
        for i, e in enumerate(encoded):
            tokens[i, :len(e)] = e
        lengths = np.array([len(e) for e in encoded], np.int32)
        states = {r.name: np.asarray([r.state(sampler.rule_ids[r.name], e, e[:0])
                                      for e in encoded], np.int32)
                  for r in sampler.stop_rules}
        out, count = jitted(sampler.params, tokens, lengths, np.asarray(need, np.int32),
                            opts, ids, states)
        out, count = np.asarray(out), np.asarray(count)
        return [sampler.tokenizer.decode(out[i, :count[i]]) for i in range(len(prompts))]

    return decode


# --- the whole diagnosis ----------------------------------------------------------

def _mean(xs) -> float | None:
    xs = list(xs)
    return float(np.mean(xs)) if xs else None


def summarise_level(problems, style, family, free, forced, forced_lines) -> dict:
    """One level's numbers from its completions and teacher-forced line scores."""
    need = [len(family.solve(p, style).steps) for p in problems]
    per_k: dict[int, dict[str, list]] = {}
    premature, stops = [], []
    for scores in forced_lines:
        for k, row in enumerate(scores["lines"]):
            if row["is_answer_line"]:
                stops.append(row["begins_answer"])
                continue
            premature.append(row["begins_answer"])
            cell = per_k.setdefault(k, {})
            for part in PARTS + ("all",):
                if part in row:
                    cell.setdefault(part, []).append(row[part])
    by_line = {str(k + 1): {part: _mean(v) for part, v in cell.items()}
               for k, cell in sorted(per_k.items())}
    return {
        "free_accuracy": _mean(family.check_answer(p, t, style) for p, t in zip(problems, free)),
        "forced_accuracy": _mean(family.check_answer(p, t, style)
                                 for p, t in zip(problems, forced)),
        "lines_needed": _mean(need),
        "free_lines": _mean(lines_written(t) for t in free),
        "free_exact_length": _mean(lines_written(t) == n for t, n in zip(free, need)),
        "free_short": _mean(lines_written(t) < n for t, n in zip(free, need)),
        "forced_lines": _mean(lines_written(t) for t in forced),
        "tf_premature_stop": _mean(premature),
        "tf_stops_after_last": _mean(stops),
        **{f"tf_{part}": _mean(v for cell in per_k.values() for v in cell.get(part, []))
           for part in PARTS + ("all",)},
        "tf_by_line": by_line,
        "examples": [{"prompt": family.format_example(p, style)[0], "free": f, "forced": g}
                     for p, f, g in list(zip(problems, free, forced))[:3]],
    }


def diagnose(spec, workdir: str, levels: list[int], n: int, family_name: str, style: str,
             batch: int = 128, tf_positions: str = "contiguous") -> dict:
    """Both diagnoses at each level; returns diagnosis.json's dict."""
    import jax
    import jax.numpy as jnp
    from flax import nnx
    from rtt_jax import tasks
    from rtt_jax.evaluation.eval_sets import eval_seed
    from rtt_jax.evaluation.standalone import sampler_from_workdir

    family = tasks.get(family_name)
    family.check_style(style)
    problems = {lv: [family.generate(eval_seed(spec.eval.seed), i, lv) for i in range(n)]
                for lv in levels}
    longest = max(len(family.format_example(p, style)[0]) + len(family.format_example(p, style)[1])
                  for ps in problems.values() for p in ps)
    max_new = max(len(family.format_example(p, style)[1]) for ps in problems.values()
                  for p in ps) + 24
    sampler, step = sampler_from_workdir(spec, workdir, max_len=longest + max_new + 8,
                                         max_batch=batch)
    hash_id = int(sampler.tokenizer.encode("#")[0])
    from rtt_jax.model.positions import random_positions, step_keys, train_positions

    @jax.jit
    def model_forward(params, t, pos, targets, chunk):
        if tf_positions == "random":  # ids drawn as training draws them, keyed by the chunk
            pos = random_positions(step_keys(spec.config.seed, chunk, t.shape[0]), pos,
                                   spec.model.max_position)
        elif spec.model.positions == "coupled":  # the ids decoding gives, from the completion
            pos = train_positions(spec.model, dict(tokens=t, positions=pos, loss_mask=targets),
                                  spec.config.seed, chunk)
        segments = jnp.ones_like(t)  # right padding sits after each row's end: causally unseen
        return jnp.argmax(nnx.merge(sampler.graphdef, params)(t, pos, segments), axis=-1)
    if tf_positions == "random" and spec.model.positions != "random_rope":
        raise ValueError(f"--tf_positions=random: the run's model.positions is "
                         f"{spec.model.positions!r}, not random_rope")
    decode_forced = forced_decoder(sampler, max_new)
    result = {"workdir": workdir, "step": step, "family": family_name, "style": style, "n": n,
              "tf_positions": tf_positions, "levels": {}}
    for lv in levels:
        start = time.time()
        ps = problems[lv]
        prompts = [family.format_example(p, style)[0] for p in ps]
        need = [len(family.solve(p, style).steps) for p in ps]
        free = sampler.generate(prompts, max_new, temperature=0.0)
        forced = []
        for a in range(0, len(prompts), batch):
            forced += decode_forced(prompts[a:a + batch], need[a:a + batch])
        tf = teacher_forced(lambda t, pos, m, a: model_forward(sampler.params, t, pos, m, a),
                            sampler.tokenizer,
                            family, ps, style, batch, hash_id)
        result["levels"][str(lv)] = summarise_level(ps, style, family, free, forced, tf)
        result["levels"][str(lv)]["seconds"] = round(time.time() - start, 1)
    return result


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def markdown(result: dict) -> str:
    levels = result["levels"]
    lines = [f"# Length diagnosis: {result['family']} ({result['style']}), step {result['step']}",
             "", f"`{result['workdir']}`, {result['n']} problems per level. Teacher-forced "
             "(tf) columns: a part is right when greedy decoding after the right lines "
             f"writes it (position ids: {result['tf_positions']}).", "",
             "| level | lines | free acc | forced acc | free lines | exact length | "
             "tf line | tf carry | tf operand | tf result | tf premature stop | "
             "tf stops after last |", "|" + "---|" * 12]
    for lv, r in levels.items():
        lines.append(f"| {lv} | {r['lines_needed']:.0f} | {_pct(r['free_accuracy'])} | "
                     f"{_pct(r['forced_accuracy'])} | {r['free_lines']:.2f} | "
                     f"{_pct(r['free_exact_length'])} | {_pct(r['tf_all'])} | "
                     f"{_pct(r['tf_carry'])} | {_pct(r['tf_operand'])} | "
                     f"{_pct(r['tf_result'])} | {_pct(r['tf_premature_stop'])} | "
                     f"{_pct(r['tf_stops_after_last'])} |")
    width = max(len(r["tf_by_line"]) for r in levels.values())
    lines += ["", "Teacher-forced operand accuracy by line (line k copies the (k+1)-th term):",
              "", "| level | " + " | ".join(str(k) for k in range(1, width + 1)) + " |",
              "|" + "---|" * (width + 1)]
    for lv, r in levels.items():
        cells = [_pct(r["tf_by_line"].get(str(k), {}).get("operand"))
                 for k in range(1, width + 1)]
        lines.append(f"| {lv} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv) -> int:
    del argv
    f = flags.FLAGS

    def body() -> None:
        from rtt_jax import tasks
        from rtt_jax.config_validation import validate
        if f.config is None:
            raise ValueError("--config=FILE[:VARIANT/ARM] (the run's) is required")
        spec = validate(f.config)
        try:
            levels = [int(x) for x in f.levels]
        except ValueError:
            raise ValueError(f"--levels={','.join(f.levels)}: expected integers") from None
        family = tasks.get(f.family)
        bad = [lv for lv in levels if lv not in family.levels]
        if bad:
            raise ValueError(f"--levels: {bad[0]} is not a level of {f.family} "
                             f"({family.levels.start}-{family.levels.stop - 1})")
        style = f.style or spec.eval.styles.get(f.family) or family.styles[0]
        result = diagnose(spec, f.workdir, levels, f.n, f.family, style, f.batch,
                          f.tf_positions)
        os.makedirs(f.out, exist_ok=True)
        with open(os.path.join(f.out, "diagnosis.json"), "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1)
        text = markdown(result)
        with open(os.path.join(f.out, "diagnosis.md"), "w", encoding="utf-8") as fh:
            fh.write(text)
        print(text)
        print(os.path.join(f.out, "diagnosis.json"))
    return cli_errors.run_reporting(body, path=f.out)


if __name__ == "__main__":
    app.run(main, flags_parser=cli_errors.flags_parser(_define_flags()))
