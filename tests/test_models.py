"""Tests for jaxrec.models: losses, feature handling, MeLU, hybrid, two-tower."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

from jaxrec import meta
from jaxrec import models
from jaxrec.models.features import select_features
from jaxrec.models.layers import FeatureMLP, FieldEmbedding, pooled_embedding

NUM_USERS, NUM_ITEMS, TEXT_DIM = 9, 11, 16


def ml1m_like(seed=0):
  """An ML-1M-like table: 4 user fields, 4 item fields (genre multi-hot), text."""
  rng = np.random.default_rng(seed)
  vocab = {"gender": 3, "age": 8, "occupation": 22, "zip": 30, "genre": 19, "year": 12,
           "director": 15, "rate": 6, "user_id": 7, "item_id": 9}
  ids = lambda n, v: rng.integers(0, v, n).astype(np.int32)  # noqa: E731
  user = {"user_id": ids(NUM_USERS, vocab["user_id"])}
  user.update({f: ids(NUM_USERS, vocab[f]) for f in ("gender", "age", "occupation", "zip")})
  genre = rng.integers(1, vocab["genre"], (NUM_ITEMS, 4)).astype(np.int32)
  genre_mask = (np.arange(4)[None, :] < rng.integers(1, 5, NUM_ITEMS)[:, None])
  item = {"item_id": ids(NUM_ITEMS, vocab["item_id"]),
          "genre": np.where(genre_mask, genre, 0).astype(np.int32),
          "genre_mask": genre_mask.astype(np.float32),
          "year": ids(NUM_ITEMS, vocab["year"]), "director": ids(NUM_ITEMS, vocab["director"]),
          "rate": ids(NUM_ITEMS, vocab["rate"]),
          "text": rng.normal(size=(NUM_ITEMS, TEXT_DIM)).astype(np.float32)}
  return user, item, vocab


def lastfm_like(seed=0):
  """A Last.fm-like table: no user side fields, multi-hot item tags, no text."""
  rng = np.random.default_rng(seed)
  tag = rng.integers(1, 10, (NUM_ITEMS, 3)).astype(np.int32)
  tag_mask = np.ones((NUM_ITEMS, 3), np.float32)
  tag_mask[::2, 2] = 0.0
  tag[::2, 2] = 0
  user = {"user_id": np.arange(NUM_USERS, dtype=np.int32)}
  item = {"item_id": np.arange(NUM_ITEMS, dtype=np.int32), "tag": tag, "tag_mask": tag_mask}
  return user, item, {"tag": 10, "user_id": NUM_USERS, "item_id": NUM_ITEMS}


def make_part(seed=0, size=6, real=4, implicit=False):
  """One task part with ``real`` real rows and ``size - real`` padded rows."""
  rng = np.random.default_rng(seed)
  mask = (np.arange(size) < real).astype(np.float32)
  y = rng.integers(0, 2, size) if implicit else rng.integers(1, 6, size)
  return {"user": jnp.int32(rng.integers(NUM_USERS)),
          "item": jnp.asarray(np.where(mask > 0, rng.integers(0, NUM_ITEMS, size), 0),
                              jnp.int32),
          "y": jnp.asarray(y * mask, jnp.float32), "mask": jnp.asarray(mask)}


ALL_MODELS = [("melu", {}), ("hybrid", {}), ("two_tower", {"use_text": True})]


def build(name, kwargs, loss="mse"):
  return models.make_model(name, *ml1m_like(), loss=loss, **kwargs)


def shapes(model):
  """The parameter shapes of ``model``, without compiling its init."""
  return jax.eval_shape(model.init, jax.random.key(0))


@functools.cache
def _built(name, loss):
  model = build(name, dict(ALL_MODELS)[name], loss)
  params = model.init(jax.random.key(0)) if loss == "mse" else built(name)[1]
  return model, params


def built(name, loss="mse"):
  """``(model, params)`` of ``ALL_MODELS[name]`` on ``ml1m_like()``, built once.

  The params do not depend on the loss, so every loss shares the "mse" ones.
  """
  return _built(name, loss)


@functools.cache
def _value_and_grad(name, loss):
  return jax.jit(jax.value_and_grad(built(name, loss)[0].loss))


def value_and_grad(name, loss="mse"):
  """The jitted ``value_and_grad`` of ``built(name, loss)``'s loss, compiled once."""
  return _value_and_grad(name, loss)


NAMES = [name for name, _ in ALL_MODELS]


# ----------------------------------------------------------------------------- losses


def test_mse_hand_computed():
  s, y, m = jnp.array([1.0, 2.0, 5.0]), jnp.array([0.0, 4.0, -3.0]), jnp.array([1.0, 1.0, 0.0])
  assert models.mse(s, y, m) == pytest.approx((1.0 + 4.0) / 2)


def test_bce_hand_computed():
  s, y, m = jnp.array([0.0, 2.0, -1.0, 9.0]), jnp.array([1.0, 0.0, 0.0, 1.0]), \
      jnp.array([1.0, 1.0, 1.0, 0.0])
  expected = (math.log(2.0) + math.log(1 + math.exp(2.0)) + math.log(1 + math.exp(-1.0))) / 3
  assert models.bce(s, y, m) == pytest.approx(expected, rel=1e-6)


def test_bpr_hand_computed():
  # Positives 0 and 2, negatives 1 and 3; row 3 is padding: pairs (0,1), (2,1).
  s = jnp.array([2.0, 0.5, -1.0, 7.0])
  y = jnp.array([1.0, 0.0, 1.0, 0.0])
  m = jnp.array([1.0, 1.0, 1.0, 0.0])
  nll = lambda x: math.log(1 + math.exp(-x))  # noqa: E731
  assert models.bpr(s, y, m) == pytest.approx((nll(1.5) + nll(-1.5)) / 2, rel=1e-6)


@pytest.mark.parametrize("loss", sorted(models.LOSSES))
def test_losses_empty_mask_is_zero_with_zero_grad(loss):
  fn = models.get_loss(loss)
  s, y, m = jnp.array([3.0, -2.0]), jnp.array([1.0, 0.0]), jnp.zeros(2)
  assert fn(s, y, m) == 0.0
  np.testing.assert_array_equal(jax.grad(fn)(s, y, m), np.zeros(2))


@pytest.mark.parametrize("loss", sorted(models.LOSSES))
def test_losses_ignore_padded_rows_even_extreme_ones(loss):
  fn = models.get_loss(loss)
  s, y, m = jnp.array([0.5, -1.0, 2.0]), jnp.array([1.0, 0.0, 0.0]), jnp.array([1.0, 1.0, 0.0])
  value, grad = jax.value_and_grad(fn)(s, y, m)
  value2, grad2 = jax.value_and_grad(fn)(s.at[2].set(1e30), y.at[2].set(1e30), m)
  assert value == value2
  np.testing.assert_array_equal(grad, grad2)


@pytest.mark.parametrize("loss", sorted(models.LOSSES))
def test_loss_gradients_match_finite_differences(loss):
  fn = models.get_loss(loss)
  y, m = jnp.array([1.0, 0.0, 1.0, 0.0]), jnp.array([1.0, 1.0, 1.0, 0.0])
  check_grads(lambda s: fn(s, y, m), (jnp.array([0.3, -0.2, 1.1, 0.5]),), order=1,
              modes=["rev"], eps=1e-3, atol=1e-2, rtol=1e-2)


def test_unknown_loss_raises():
  with pytest.raises(ValueError, match="unknown loss 'hinge'"):
    models.get_loss("hinge")
  with pytest.raises(ValueError, match="unknown loss 'hinge'"):
    build("melu", {}, loss="hinge")


def test_part_without_mask_raises():
  model, params = built("melu")
  part = {k: v for k, v in make_part().items() if k != "mask"}
  with pytest.raises(ValueError, match="missing \\['mask'\\].*needs .*'mask'"):
    model.loss(params, part)


# --------------------------------------------------------------------- feature tables


def test_pooled_embedding_is_masked_mean_or_sum():
  table = jnp.arange(12.0).reshape(4, 3)
  ids = jnp.array([[1, 3, 0], [0, 0, 0]])
  mask = jnp.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
  out = pooled_embedding(table, ids, mask)
  np.testing.assert_allclose(out, [[(3 + 9) / 2, (4 + 10) / 2, (5 + 11) / 2], [0, 0, 0]])
  summed = pooled_embedding(table, ids, mask, "sum")
  np.testing.assert_allclose(summed, [[3 + 9, 4 + 10, 5 + 11], [0, 0, 0]])
  with pytest.raises(ValueError, match="pooling must be one of"):
    pooled_embedding(table, ids, mask, "max")


def test_multi_hot_padding_ids_are_ignored():
  _, item, vocab = ml1m_like()
  specs = models.select_fields(item, vocab, kind="item", fields=["genre"])
  assert specs == (models.FieldSpec("genre", 19, True),)
  layer = FieldEmbedding(specs, 4)
  feats = {"genre": jnp.asarray(item["genre"]), "genre_mask": jnp.asarray(item["genre_mask"])}
  changed = dict(feats, genre=jnp.where(feats["genre_mask"] > 0, feats["genre"], 7))
  assert np.any(item["genre_mask"] == 0)
  variables = layer.init(jax.random.key(0), feats)
  (out,), (out_changed,) = layer.apply(variables, feats), layer.apply(variables, changed)
  assert out.shape == (NUM_ITEMS, 4)
  np.testing.assert_array_equal(out, out_changed)


def test_default_fields_come_from_tables():
  user, item, vocab = ml1m_like()
  assert models.melu(user, item, vocab).config["user_fields"] == [
      "gender", "age", "occupation", "zip"]
  assert models.hybrid(user, item, vocab).config["item_fields"] == [
      "item_id", "genre", "year", "director", "rate"]
  lf_user, lf_item, lf_vocab = lastfm_like()
  assert models.melu(lf_user, lf_item, lf_vocab).config["user_fields"] == []


def test_id_vocab_defaults_to_max_id_plus_one():
  user, item, vocab = lastfm_like()
  del vocab["item_id"]
  params = shapes(models.hybrid(user, item, vocab, use_text=False))
  assert params["item"]["embed"]["item_id"].shape == (NUM_ITEMS, 32)


@pytest.mark.parametrize("change, match", [
    (lambda u, i, v: (u, i, {k: x for k, x in v.items() if k != "year"}),
     "vocab_sizes has no entry for item field 'year'"),
    (lambda u, i, v: (u, dict(i, year=i["year"] + 20), v),
     "item field 'year' has ids in .* outside its vocabulary \\[0, 12\\)"),
    (lambda u, i, v: (u, {k: x for k, x in i.items() if k != "genre_mask"}, v),
     "multi-hot item field 'genre' has no 'genre_mask'"),
    (lambda u, i, v: (dict(u, age=u["age"][:3]), i, v),
     "user table fields disagree on the number of rows"),
])
def test_bad_tables_raise(change, match):
  with pytest.raises(ValueError, match=match):
    models.melu(*change(*ml1m_like()))


def test_bad_field_selection_raises():
  user, item, vocab = ml1m_like()
  with pytest.raises(ValueError, match="item table has no field 'actor'"):
    models.melu(user, item, vocab, item_fields=["genre", "actor"])
  with pytest.raises(ValueError, match="names 'user_id'; select it with use_ids"):
    models.melu(user, item, vocab, user_fields=["user_id"])
  with pytest.raises(ValueError, match="melu: the item representation is empty"):
    models.melu(user, item, vocab, item_fields=[])


# ----------------------------------------------------------------------------- models


def test_melu_ml1m_has_256_wide_mlp_input_and_expected_param_count():
  user, item, vocab = ml1m_like()
  mlp = shapes(models.melu(user, item, vocab))["mlp"]
  assert mlp["hidden_0"]["kernel"].shape == (256, 64)
  assert mlp["hidden_1"]["kernel"].shape == (64, 64)
  assert mlp["out"]["kernel"].shape == (64, 1)
  embed_rows = sum(vocab[f] for f in vocab if not f.endswith("_id"))
  expected = 32 * embed_rows + (256 * 64 + 64) + (64 * 64 + 64) + (64 + 1)
  assert models.count_params(built("melu")[1]) == expected


@pytest.mark.parametrize("name", NAMES)
def test_adapt_mask_matches_params(name):
  model, params = built(name)
  assert (jax.tree_util.tree_structure(model.adapt_mask)
          == jax.tree_util.tree_structure(params))
  flat = jax.tree_util.tree_flatten_with_path(model.adapt_mask)[0]
  adapted = {tuple(k.key for k in path) for path, leaf in flat if leaf}
  if name == "two_tower":
    assert adapted == {("user_tower", "user_vec"), ("user_tower", "proj", "kernel"),
                       ("user_tower", "proj", "bias")}
  else:
    assert adapted and all(path[0] == "mlp" for path in adapted)
    assert len(adapted) == len(jax.tree_util.tree_leaves(params["mlp"]))


# The output layer each model declares (``head_mask``, what ANIL adapts).
MLP_OUT = {("mlp", "out", "kernel"), ("mlp", "out", "bias")}
HEADS = {"melu": MLP_OUT, "hybrid": MLP_OUT,
         "two_tower": {("user_tower", "user_vec"), ("user_tower", "proj", "kernel"),
                       ("user_tower", "proj", "bias"), ("item_bias", "kernel"),
                       ("item_bias", "bias"), ("bias",)}}


def selected(mask):
  """The paths of a bool pytree's true leaves."""
  return {tuple(k.key for k in path)
          for path, leaf in jax.tree_util.tree_flatten_with_path(mask)[0] if leaf}


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_adapting_the_head_changes_exactly_the_declared_output_layer(name):
  if name in HEADS:
    model, params = built(name)
  else:  # a model registered without an entry in HEADS: its defaults
    model = models.make_model(name, *ml1m_like())
    params = model.init(jax.random.key(0))
  assert (jax.tree_util.tree_structure(model.head_mask)
          == jax.tree_util.tree_structure(params))
  head = selected(model.head_mask)
  assert head and head == HEADS.get(name, head)
  adapted = meta.adapt(model.loss, params, make_part(), 0.5, 1, trainable=model.head_mask)
  flat = zip(jax.tree_util.tree_flatten_with_path(params)[0], jax.tree.leaves(adapted))
  changed = {tuple(k.key for k in path) for (path, before), after in flat
             if not np.array_equal(before, after)}
  assert changed == head


def test_build_model_rejects_a_head_without_leaves():
  user, item, vocab = ml1m_like()
  user_specs, item_specs = select_features(
      user, item, vocab, model="melu", user_fields=None, item_fields=None, use_ids=False,
      use_side=True, use_text=False, text_proj=0)
  with pytest.raises(ValueError, match="model 'melu': head selects no parameter leaf"):
    models.build_model(name="melu", config={}, module=FeatureMLP(user_specs, item_specs,
                                                                 4, (3,)),
                       user_table=user, user_specs=user_specs, item_table=item,
                       item_specs=item_specs, use_text=False, loss="mse",
                       adapts=lambda path: path[0] == "mlp",
                       head=lambda path: path[:2] == ("mlp", "output"))


@pytest.mark.parametrize("name", NAMES)
def test_init_determinism_shapes_and_finite_grads(name):
  model, params = built(name)
  assert all(jax.tree.leaves(jax.tree.map(np.array_equal, params,
                                          model.init(jax.random.key(0)))))
  other = model.init(jax.random.key(1))
  assert not np.array_equal(params["item"]["embed"]["genre"], other["item"]["embed"]["genre"])
  scores = jax.eval_shape(model.predict, params, jnp.int32(2), jnp.arange(5))
  assert scores.shape == (5,) and scores.dtype == jnp.float32
  loss, grads = value_and_grad(name)(params, make_part())
  assert np.isfinite(float(loss))
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
  assert all(bool(jnp.any(g != 0)) for g in jax.tree.leaves(grads["mlp" if name != "two_tower"
                                                                  else "item_tower"]))
  if "text_proj" in params["item"]:  # the text reaches the scores
    assert bool(jnp.any(grads["item"]["text_proj"]["kernel"] != 0))


@pytest.mark.parametrize("name, loss", [(n, "mse") for n in NAMES]
                         + [("melu", "bpr")])
def test_padded_rows_change_neither_loss_nor_grad(name, loss):
  params = built(name, loss)[1]
  part = make_part(implicit=loss != "mse")
  real = part["mask"] > 0
  other = dict(part, y=jnp.where(real, part["y"], 1.0),
               item=jnp.where(real, part["item"], NUM_ITEMS - 1))
  (l1, g1), (l2, g2) = (value_and_grad(name, loss)(params, p) for p in (part, other))
  assert l1 == l2
  jax.tree.map(np.testing.assert_array_equal, g1, g2)


@pytest.mark.parametrize("name", NAMES)
def test_all_zero_mask_gives_zero_loss_and_grad(name):
  params = built(name)[1]
  loss, grads = value_and_grad(name)(params, dict(make_part(), mask=jnp.zeros(6)))
  assert loss == 0.0
  assert all(bool(jnp.all(g == 0)) for g in jax.tree.leaves(grads))


@pytest.mark.parametrize("name", NAMES)
def test_vmap_and_jit_match_per_part(name):
  model, params = built(name)
  parts = [make_part(seed) for seed in range(3)]
  batch = jax.tree.map(lambda *xs: jnp.stack(xs), *parts)
  batched = jax.jit(jax.vmap(model.loss, in_axes=(None, 0)))(params, batch)
  single = [value_and_grad(name)(params, p)[0] for p in parts]
  np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)
  scores = jax.eval_shape(jax.vmap(model.predict, in_axes=(None, 0, 0)), params,
                          batch["user"], batch["item"])
  assert scores.shape == (3, 6)


@pytest.mark.parametrize("name", ["melu", "two_tower"])
def test_lastfm_like_models_without_user_fields(name):
  model = models.make_model(name, *lastfm_like(), use_ids=False, loss="bce")
  params = shapes(model)
  if name == "melu":
    assert "user_embed" not in params
    assert params["mlp"]["hidden_0"]["kernel"].shape == (32, 64)
  else:
    assert set(params["user_tower"]) == {"user_vec"}
  assert jax.eval_shape(model.loss, params, make_part(implicit=True)).shape == ()


# ----------------------------------------------------------------------------- hybrid


@pytest.mark.parametrize("kwargs, item_keys, width", [
    ({"use_ids": False, "use_side": False}, {"text_proj"}, 32),
    ({"use_text": False, "use_side": False}, {"embed"}, 64),
    ({"use_side": False}, {"embed", "text_proj"}, 96),
    ({}, {"embed", "text_proj"}, 32 * 10 + 32),
])
def test_hybrid_feature_combinations(kwargs, item_keys, width):
  user, item, vocab = ml1m_like()
  model = models.hybrid(user, item, vocab, **kwargs)
  params = shapes(model)
  assert set(params["item"]) == item_keys
  assert params["mlp"]["hidden_0"]["kernel"].shape[0] == width
  assert jax.eval_shape(model.predict, params, 0, jnp.arange(3)).shape == (3,)


def test_hybrid_misconfiguration_raises():
  user, item, vocab = ml1m_like()
  no_text = {k: v for k, v in item.items() if k != "text"}
  with pytest.raises(ValueError, match="use_text=True but item_table has no 'text'"):
    models.hybrid(user, no_text, vocab)
  with pytest.raises(ValueError, match="hybrid: nothing selected"):
    models.hybrid(user, item, vocab, use_ids=False, use_text=False, use_side=False)
  with pytest.raises(ValueError, match="text_proj >= 1"):
    models.hybrid(user, item, vocab, text_proj=0)
  with pytest.raises(ValueError, match="must be \\[I, d\\]"):
    models.hybrid(user, dict(item, text=item["text"][:, 0]), vocab)


def test_unknown_model_name_raises():
  with pytest.raises(ValueError, match="unknown model 'ncf'.*'melu'"):
    models.make_model("ncf", *ml1m_like())


# ------------------------------------------------------------------------------ fit


@pytest.mark.parametrize("name", [
    "melu", pytest.param("hybrid", marks=pytest.mark.slow),
    pytest.param("two_tower", marks=pytest.mark.slow)])
def test_model_fits_small_synthetic_data(name):
  model, params = built(name)
  batch = jax.tree.map(lambda *xs: jnp.stack(xs), *[make_part(s) for s in range(8)])
  loss_fn = lambda p: jnp.mean(jax.vmap(model.loss, in_axes=(None, 0))(p, batch))  # noqa: E731
  opt = optax.adam(1e-2)

  @jax.jit
  def step(params, state):
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, state = opt.update(grads, state)
    return optax.apply_updates(params, updates), state, loss

  state = opt.init(params)
  losses = []
  for _ in range(150):
    params, state, loss = step(params, state)
    losses.append(float(loss))
  assert losses[-1] < 0.2 * losses[0]
