"""Runs and pipelines of an unchecked config, in this process, built the way
``rtt_jax.main`` builds them: the config checked once
(``config_validation.validate``), evaluation during training wired into the
loop (``evaluation.during_training.make_periodic_eval``)."""
from rtt_jax.config_validation import validate
from rtt_jax.evaluation.during_training import make_periodic_eval
from rtt_jax.train.loop import train


def train_config(config, workdir, devices=None, stop_at_step=None) -> dict:
    """``rtt_jax.train.loop.train`` of an unchecked ``config``; returns its last metrics."""
    spec = validate(config)
    return train(spec, str(workdir), devices, stop_at_step,
                 make_eval=lambda layout: make_periodic_eval(spec, layout))


def pipeline_batches(config, n: int) -> list[dict]:
    """The first ``n`` batches the real curriculum pipeline makes for ``config``
    (one process: the whole global batch), as numpy rows."""
    from rtt_jax.data.pipeline import first_global_batches
    spec = validate(config)
    return first_global_batches(spec.data, spec.tokenizer, n)


def data_pipeline(config, *shard):
    """``make_curriculum_data`` of ``config.data`` (checked alone, as the data
    CLIs do); ``shard`` = (process_index, process_count)."""
    from rtt_jax.data.pipeline import make_curriculum_data
    from rtt_jax.data.spec import data_spec
    from rtt_jax.data.tokenizer import make_tokenizer
    return make_curriculum_data(data_spec(config.data, config.seed),
                                make_tokenizer(config.data.tokenizer), *shard)


def curriculum(config, tokenizer=None):
    """``Curriculum`` of ``config.data`` (its sources opened), byte tokens by default."""
    from rtt_jax.data.curriculum import Curriculum
    from rtt_jax.data.spec import data_spec
    from rtt_jax.data.tokenizer import make_tokenizer
    return Curriculum.from_spec(data_spec(config.data, config.seed),
                                tokenizer or make_tokenizer("bytes"))
