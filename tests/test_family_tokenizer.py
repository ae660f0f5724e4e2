"""``data.tokenizer = "family:NAME:VOCAB"``: a tokenizer trained on a task
family's own text (``rtt_jax.data.family_tokenizer``)."""
import numpy as np
import pytest

from rtt_jax import tasks
from rtt_jax.config_error import ConfigError
from rtt_jax.configs import base
from rtt_jax.config_validation import validate
from rtt_jax.data import family_tokenizer as ft
from rtt_jax.data.tokenizer import load_tokenizer, make_tokenizer

SPEC = "family:word_problem:640"


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer(SPEC)


def test_the_same_spec_builds_the_same_tokenizer(tok):
    again = make_tokenizer(SPEC)
    problem = tasks.get("word_problem").generate(123, 4, 3)
    prompt, completion = tasks.get("word_problem").format_example(problem, "backward")
    text = prompt + completion
    assert tok.vocab_size == again.vocab_size == 640
    np.testing.assert_array_equal(tok.encode(text), again.encode(text))


def test_names_and_words_are_one_id_and_digits_stay_apart(tok):
    family = tasks.get("word_problem")
    for name in ("Tom", "Anna", "Quinn"):
        assert len(tok.encode(" " + name)) == 1, name
    assert len(tok.encode(" apples")) == 1
    assert len(tok.encode("2048")) == 4  # split_digits: one id per digit
    problem = family.generate(99, 0, 3)
    text = "".join(family.format_example(problem, "forward"))
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert len(ids) * 2.5 < len(text.encode())  # ~3x shorter than bytes


def test_any_text_round_trips(tok):
    for text in ("Zoë hat 3½ Äpfel ▁ 😀", "", "\n\n  x  \t", "#### -17"):
        assert tok.decode(tok.encode(text)) == text


def test_it_saves_and_loads_like_any_sentencepiece_tokenizer(tok, tmp_path):
    tok.save(str(tmp_path / "t"))
    loaded = load_tokenizer(str(tmp_path / "t"))
    text = "Anna has 5 + 3 = 8 apples."
    np.testing.assert_array_equal(loaded.encode(text), tok.encode(text))


def test_several_families_share_one_vocabulary():
    families, vocab = ft.parse_spec("family:counting, word_problem:768")
    assert families == ("counting", "word_problem") and vocab == 768


@pytest.mark.parametrize("spec, message", [
    ("family:word_problem", "expected 'family:NAME"),
    ("family::640", "expected 'family:NAME"),
    ("family:word_problem:lots", "expected 'family:NAME"),
    ("family:nonesuch:640", "unknown family 'nonesuch'"),
    ("family:word_problem:100", "at least 261"),
])
def test_a_bad_spec_is_one_config_error_line(spec, message):
    c = base.get_config("tiny")
    c.data.tokenizer = spec
    with pytest.raises(ConfigError, match=message) as e:
        validate(c)
    assert "config.data.tokenizer" in str(e.value) and "\n" not in str(e.value)


def test_the_model_must_have_room_for_its_ids():
    c = base.get_config("tiny")
    c.data.tokenizer = SPEC
    c.model.vocab_size = 384
    with pytest.raises(ConfigError, match="model.vocab_size"):
        validate(c)


def test_the_vocabulary_size_is_an_upper_bound():
    # expressions' text has ~519 distinct pieces: a smaller vocabulary, not an error.
    tok = make_tokenizer("family:expressions:640")
    assert 261 < tok.vocab_size < 640
