"""The meta-learned fold-in model and the "solve" adapter."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.configs import maml_synthetic
from jaxrec import adapters
from jaxrec import baselines
from jaxrec import meta
from jaxrec import models
from jaxrec import prepare
from jaxrec import recommend as rec_lib
from jaxrec import scoring
from jaxrec import train
from jaxrec import train_step
from jaxrec.data import episodes as episodes_lib
from jaxrec.data import splits
from tests.test_models import NUM_ITEMS, make_part, ml1m_like
from tests.test_recommend import new_user


def lastfm_foldin_config(*, num_users, num_artists, rank):
  """The implicit fold-in (softmax loss, unobserved weight 0.05) of ``rank`` on the
  synthetic Last.fm, positives only (no sampled negatives)."""
  config = maml_synthetic.get_config()
  config.data.dataset = "synthetic-lastfm"
  config.data.synthetic = {"num_users": num_users, "num_artists": num_artists, "seed": 0}
  config.data.negatives = 0
  config.model.name = "foldin"
  config.model.kwargs = {"rank": rank, "unobserved_weight": 0.05, "loss": "softmax"}
  return config


def warm_lastfm_config(*, num_users, num_artists, rank):
  """:func:`lastfm_foldin_config` started from implicit ALS (as the Last.fm config:
  solve adapter, no inner step) and trained for one epoch at a small rate, selected
  on full-catalogue nDCG@10: a serving run in seconds."""
  config = lastfm_foldin_config(num_users=num_users, num_artists=num_artists, rank=rank)
  config.meta.adapter = "solve"
  config.meta.num_steps = 0
  config.model.warm_start = {"reg": 3.0, "alpha": 10.0}
  config.optimizer.learning_rate = 1e-4
  config.best_metric = "full_ndcg@10"
  config.num_epochs = 1
  config.eval_every = 1000
  return config


def build(**kwargs):
  model = models.make_model("foldin", *ml1m_like(), rank=3, **kwargs)
  params = model.init(jax.random.key(0))
  rng = np.random.default_rng(1)
  # a non-trivial prior and shrinkage, so the test sees them
  params = jax.tree.map(lambda x: x + 0.3 * rng.normal(size=np.shape(x)), params)
  return model, params


def item_side(model, params):
  """``(mu + b float64[I], q float64[I, r])`` read off ``predict`` with unit users."""
  rank = params["user"]["factors"].shape[0]
  items = jnp.arange(NUM_ITEMS)

  def scores(factors, bias):
    user = {"factors": jnp.asarray(factors, jnp.float32), "bias": jnp.asarray(bias)}
    return np.asarray(model.predict({**params, "user": user}, jnp.int32(0), items),
                      np.float64)
  base = scores(np.zeros(rank), 0.0)
  q = np.stack([scores(np.eye(rank)[d], 0.0) - base for d in range(rank)], axis=1)
  return base, q


@pytest.mark.parametrize("set_prior", [False, True])
def test_solve_is_the_ridge_fold_in_towards_the_prior(set_prior):
  model, params = build(set_prior=set_prior)
  support = make_part(seed=3, size=7, real=5)
  solved = model.solve(params, support)
  base, q = item_side(model, params)
  real = np.asarray(support["mask"]) > 0
  items, y = np.asarray(support["item"])[real], np.asarray(support["y"])[real]
  x = np.concatenate([q[items], np.ones((len(items), 1))], axis=1)
  t = y - base[items]
  lam = np.exp(np.asarray(params["log_scale"])
               + np.asarray(params["size_slope"]) * np.log1p(len(items)))
  prior = np.append(params["user"]["factors"], params["user"]["bias"])
  if set_prior:
    ids = np.asarray(ml1m_like()[1]["item_id"])[items]
    prior = prior + (np.asarray(params["rated"])[ids]
                     + t[:, None] * np.asarray(params["residual"])[ids]).mean(axis=0)
  expected = np.linalg.solve(x.T @ x + np.diag(lam), x.T @ t + lam * prior)
  got = np.append(solved["user"]["factors"], solved["user"]["bias"])
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
  # only the user part is replaced
  for key in params:
    if key != "user":
      assert solved[key] is params[key]


@pytest.mark.parametrize("set_prior", [False, True])
def test_a_row_of_weight_two_is_that_row_twice(set_prior):
  """The mask weighs support rows linearly (serving's friend and description rows
  have fractional weights): mask 2 on a row solves as the row given twice."""
  model, params = build(set_prior=set_prior)
  part = make_part(seed=3, size=7, real=5)
  doubled = {**part, "mask": jnp.asarray(part["mask"]).at[0].set(2.0)}
  twice = {key: jnp.asarray(part[key]).at[5].set(part[key][0])
           for key in ("item", "y")}
  twice = {**part, **twice, "mask": jnp.asarray(part["mask"]).at[5].set(1.0)}
  np.testing.assert_allclose(model.solve(params, doubled)["user"]["factors"],
                             model.solve(params, twice)["user"]["factors"],
                             rtol=1e-4, atol=1e-5)


def test_a_lone_row_of_weight_under_one_keeps_the_set_encoders_mean():
  """``φ⁰`` reads the support's weighted mean ``Σ m_j e_j / Σ m_j`` also when
  ``Σ m_j < 1`` (serving's friend and description rows)."""
  model, params = build(set_prior=True)
  part = make_part(seed=3, size=4, real=1)
  part = {**part, "mask": jnp.asarray(part["mask"]) * 0.25}
  base, q = item_side(model, params)
  item, y = int(part["item"][0]), float(part["y"][0])
  x = np.append(q[item], 1.0)
  t = y - base[item]
  lam = np.exp(np.asarray(params["log_scale"])
               + np.asarray(params["size_slope"]) * np.log1p(0.25))
  ids = int(np.asarray(ml1m_like()[1]["item_id"])[item])
  prior = (np.append(params["user"]["factors"], params["user"]["bias"])
           + np.asarray(params["rated"])[ids] + t * np.asarray(params["residual"])[ids])
  expected = np.linalg.solve(0.25 * np.outer(x, x) + np.diag(lam), 0.25 * x * t + lam * prior)
  solved = model.solve(params, part)
  np.testing.assert_allclose(np.append(solved["user"]["factors"], solved["user"]["bias"]),
                             expected, rtol=1e-4, atol=1e-5)


def test_solve_with_an_empty_support_is_the_prior():
  model, params = build()
  support = make_part(size=4, real=0)
  solved = model.solve(params, support)
  np.testing.assert_allclose(solved["user"]["factors"], params["user"]["factors"],
                             rtol=1e-6)
  np.testing.assert_allclose(solved["user"]["bias"], params["user"]["bias"], rtol=1e-6)


def test_the_solve_adapter_meta_gradient_is_the_gradient_through_the_solve():
  model, params = build(set_prior=True)
  adapter = adapters.make_adapter("solve", model, model.adapt_mask)
  support, query = make_part(seed=4), make_part(seed=5)
  batch = jax.tree.map(lambda x: jnp.asarray(x)[None], {"support": support,
                                                         "query": query})
  optimizer = optax.sgd(1.0)
  step = meta.make_maml_step(model.loss, optimizer, inner_lr=0.1, num_steps=0,
                             trainable=model.adapt_mask, start=model.solve, donate=False)
  state = meta.init_meta_state(params, optimizer)
  new_state, metrics = step(state, batch)
  grads = jax.grad(lambda p: model.loss(adapter(p, 0.1, 0, support), query))(params)
  expected = jax.tree.map(lambda p, g: p - g, params, grads)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
               new_state.params, expected)
  np.testing.assert_allclose(metrics["query_loss_after"],
                             model.loss(model.solve(params, support), query), rtol=1e-6)
  # item side, prior and shrinkage all receive gradient through the solve
  for key in ("item", "user", "log_scale", "size_slope", "rated", "residual"):
    assert any(np.abs(g).max() > 0 for g in jax.tree.leaves(grads[key])), key


def test_gradient_maml_adapts_the_user_part_from_the_prior():
  """The "gradient" adapter on the fold-in is MAML over its user part ``(p_u, b_u)``:
  K steps from the prior change exactly those leaves, lower the support loss, and
  one step is ``φ⁰ − α ∇L_support(φ⁰)``."""
  model, params = build()
  adapter = adapters.make_adapter("gradient", model, model.adapt_mask)
  support = make_part(seed=4)
  adapted = adapter(params, 0.05, 5, support)
  for path, before in jax.tree_util.tree_leaves_with_path(params):
    after = dict(jax.tree_util.tree_leaves_with_path(adapted))[path]
    user_part = jax.tree_util.keystr(path).startswith("['user']")
    assert user_part == (not np.array_equal(before, after)), jax.tree_util.keystr(path)
  assert model.loss(adapted, support) < model.loss(params, support)
  grads = jax.grad(model.loss)(params, support)["user"]
  one = adapter(params, 0.05, 1, support)["user"]
  jax.tree.map(lambda p, g, a: np.testing.assert_allclose(a, p - 0.05 * g, rtol=1e-5,
                                                          atol=1e-7),
               params["user"], grads, one)


def test_the_solve_adapter_needs_a_model_with_a_solve():
  model = models.make_model("melu", *ml1m_like())
  with pytest.raises(ValueError, match="adapter 'solve' needs a model with a closed-form"):
    adapters.make_adapter("solve", model, model.adapt_mask)
  with pytest.raises(ValueError, match="unknown adapter 'ridge'"):
    adapters.make_adapter("ridge", model, model.adapt_mask)


def test_foldin_rejects_bad_settings():
  with pytest.raises(ValueError, match="rank must be >= 1"):
    models.make_model("foldin", *ml1m_like(), rank=0)
  with pytest.raises(ValueError, match="set_prior reads item ids"):
    models.make_model("foldin", *ml1m_like(), use_ids=False, set_prior=True)


def foldin_config():
  config = maml_synthetic.get_config()
  config.data.synthetic = {"num_users": 120, "num_items": 150, "seed": 0}
  config.model.name = "foldin"
  config.model.kwargs = {"rank": 4, "init_bias": 3.0}
  config.meta.adapter = "solve"
  config.meta.num_steps = 1
  config.optimizer.weight_decay = 0.1
  config.num_epochs = 2
  config.eval_every = 5
  config.buckets = (128,)
  return config


def test_a_reptile_config_cannot_use_the_solve_adapter():
  config = foldin_config()
  config.meta.algorithm = "reptile"
  with pytest.raises(ValueError, match="needs a MAML-family algorithm"):
    train_step.make_train_step(config, train.model_of(config, prepare.prepare(config)))


@pytest.mark.slow
def test_a_solve_run_trains_evaluates_and_serves(tmp_path):
  config = foldin_config()
  out = train.train(config, tmp_path, progress=False)
  assert np.isfinite(out["best"]["val_rmse"])
  recommender = rec_lib.load_recommender(tmp_path)
  assert recommender.adapter.start is not None
  ratings = [(str(raw), 5.0) for raw in recommender.item_ids[:3].tolist()]
  recs = rec_lib.recommend(recommender, ratings, k=5)
  assert len(recs) == 5
  # the served scores are those of the solved-and-refined user part
  items = np.asarray([recommender.index[r] for r, _ in ratings], np.int32)
  user = new_user(recommender)
  support = {"user": user, "item": items, "y": np.full(3, 5.0, np.float32),
             "mask": np.ones(3, np.float32)}
  phi = recommender.adapter(recommender.params, recommender.inner_lr,
                            recommender.num_steps, support)
  scores = np.asarray(recommender.model.predict(phi, user,
                                                jnp.arange(len(recommender.item_ids))))
  np.testing.assert_allclose([r.score for r in recs],
                             scores[[recommender.index[str(r.item_id)] for r in recs]],
                             rtol=1e-4)


def test_warm_start_makes_solve_the_mf_fold_in():
  from jaxrec import baselines  # pylint: disable=import-outside-toplevel
  from jaxrec.models.foldin import warm_start  # pylint: disable=import-outside-toplevel
  user_table, item_table, vocab = ml1m_like()
  item_table = {**item_table, "item_id": np.arange(NUM_ITEMS, dtype=np.int32)}
  vocab = {**vocab, "item_id": NUM_ITEMS}
  model = models.make_model("foldin", user_table, item_table, vocab, rank=2,
                            set_prior=True)
  rng = np.random.default_rng(0)
  users, items = rng.integers(0, 5, 60), rng.integers(1, NUM_ITEMS, 60)
  mf = baselines.MatrixFactorization(rank=2, reg=1.0, reg_bias=2.0, fold_in_reg=3.0).fit(
      users, items, rng.integers(1, 6, 60).astype(float), 5, NUM_ITEMS)
  params = warm_start(model.init(jax.random.key(0)), item_table["item_id"], mf.mu,
                      mf.item_factors, mf.item_bias, 3.0, 2.0)
  support = make_part(seed=2, size=6, real=4)
  query = jnp.arange(1, NUM_ITEMS)
  got = model.predict(model.solve(params, support), support["user"], query)
  expected = mf.predict(np.asarray(support["item"])[None], np.asarray(support["y"])[None],
                        np.asarray(support["mask"])[None], np.asarray(query)[None])[0]
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def held_out_mf(pooling):
  """A genre + year ``foldin`` over ``ml1m_like`` items of which every fourth is held
  out of training (item_id 0), warm-started from an MF fit on random ratings of
  the others but item 1 (a training item nobody rated):
  ``(model, item_table, params, mf, fit, trained items)``."""
  from jaxrec.models.foldin import warm_start  # pylint: disable=import-outside-toplevel
  user_table, item_table, vocab = ml1m_like()
  held_out = np.arange(NUM_ITEMS) % 4 == 0
  item_id = np.where(held_out, 0, np.cumsum(~held_out)).astype(np.int32)
  item_table = {**item_table, "item_id": item_id}
  model = models.make_model("foldin", user_table, item_table,
                            {**vocab, "item_id": int(item_id.max()) + 1}, rank=2,
                            item_fields=["genre", "year"], item_pooling=pooling)
  rng = np.random.default_rng(0)
  fit = (rng.integers(0, 5, 80), rng.choice(np.flatnonzero(~held_out)[1:], 80),
         rng.integers(1, 6, 80).astype(float), 5, NUM_ITEMS)
  mf = baselines.MatrixFactorization(rank=2, reg=1.0, fold_in_reg=3.0).fit(*fit)
  params = warm_start(model.init(jax.random.key(0)), item_id, mf.mu, mf.item_factors,
                      mf.item_bias, 3.0, mf.reg_bias)
  return model, item_table, params, mf, fit, np.bincount(fit[1], minlength=NUM_ITEMS) > 0


@pytest.mark.parametrize("pooling", ["sum", "mean"])
def test_side_from_factors_scores_held_out_items_from_their_features(pooling):
  """Rated training items score as before; held-out items, alike before, now
  differ by their features, and with summed genres they and the unrated training
  item score exactly as content_to_factor scores them from the genre counts and
  year; side tables that were not 0 are taken into account."""
  from jaxrec.models.foldin import side_from_factors  # pylint: disable=import-outside-toplevel
  model, item_table, params, mf, fit, trained = held_out_mf(pooling)
  assert not trained[1] and item_table["item_id"][1] > 0
  moved = side_from_factors(params, item_table, 0.5, trained=trained, pooling=pooling)
  assert jax.tree.structure(moved) == jax.tree.structure(params)
  assert jax.tree.map(lambda x: x.dtype, moved) == jax.tree.map(lambda x: x.dtype, params)
  support = {"user": jnp.int32(0), "item": jnp.asarray([2, 3, 5, 6, 0], jnp.int32),
             "y": jnp.asarray([5.0, 3.0, 4.0, 1.0, 0.0]),
             "mask": jnp.asarray([1.0, 1.0, 1.0, 1.0, 0.0])}
  every = jnp.arange(NUM_ITEMS)
  before, after = (np.asarray(model.predict(model.solve(p, support), support["user"], every))
                   for p in (params, moved))
  held_out = item_table["item_id"] == 0
  np.testing.assert_allclose(after[trained], before[trained], rtol=1e-5, atol=1e-5)
  assert np.ptp(before[held_out]) < 1e-6 < 1e-3 < np.ptp(after[held_out])
  embed = params["item"]["embed"]
  genre = np.random.default_rng(3).normal(size=embed["genre"].shape)
  shifted = {**params, "item": {**params["item"], "embed": {
      **embed, "genre": jnp.asarray(genre, jnp.float32)}}}
  for start, end in zip(item_side(model, shifted), item_side(model, side_from_factors(
      shifted, item_table, 0.5, trained=trained, pooling=pooling))):
    np.testing.assert_allclose(end[trained], start[trained], rtol=1e-5, atol=1e-5)
  if pooling == "sum":
    vectors = np.zeros((NUM_ITEMS, 19 + 12))
    for i in range(NUM_ITEMS):  # genre counts (a random genre may repeat), year one-hot
      np.add.at(vectors[i], item_table["genre"][i][item_table["genre_mask"][i] > 0], 1.0)
      vectors[i, 19 + item_table["year"][i]] = 1.0
    content = baselines.ContentToFactor(vectors, mf, l2=0.5).fit(*fit)
    expected = content.predict(*(np.asarray(support[k])[None] for k in ("item", "y", "mask")),
                               np.asarray(every)[None])[0]
    np.testing.assert_allclose(after, expected, rtol=1e-4, atol=1e-4)
  with pytest.raises(ValueError, match="l2 must be > 0"):
    side_from_factors(params, item_table, 0.0, trained=trained, pooling=pooling)
  with pytest.raises(ValueError, match="no trained item"):
    side_from_factors(params, item_table, 1.0, trained=np.zeros(NUM_ITEMS, bool),
                      pooling=pooling)
  ids_only = models.make_model("foldin", *ml1m_like(), rank=2, use_side=False)
  with pytest.raises(ValueError, match="at least one side field"):
    side_from_factors(ids_only.init(jax.random.key(0)), item_table, 1.0, trained=trained,
                      pooling=pooling)
  with pytest.raises(ValueError, match="item_pooling must be one of"):
    models.make_model("foldin", *ml1m_like(), item_pooling="max")


def test_warm_params_content_l2_moves_the_content_part_into_the_tags():
  """With ``content_l2`` the warm start scores training artists as without it and
  held-out artists from their tags (no longer all alike)."""
  config = lastfm_foldin_config(num_users=60, num_artists=80, rank=4)
  config.model.kwargs["item_pooling"] = "sum"
  prepared = prepare.prepare(config)
  model = train.model_of(config, prepared)
  init = model.init(jax.random.key(0))
  plain = train.warm_params({"reg": 3.0, "alpha": 10.0}, model, prepared, init)
  content = train.warm_params({"reg": 3.0, "alpha": 10.0, "content_l2": 1.0}, model,
                              prepared, init)
  items = jnp.arange(prepared.interactions.num_items)
  support_items = prepared.split.train_items[[0, 3, 7, 9]]
  part = {"user": jnp.int32(0), "item": jnp.asarray(support_items, jnp.int32),
          "y": jnp.ones(4), "mask": jnp.ones(4)}
  before, after = (np.asarray(model.predict(model.solve(p, part), part["user"], items))
                   for p in (plain, content))
  held_out = prepared.item_table["item_id"] == 0
  assert held_out.any()
  np.testing.assert_allclose(after[~held_out], before[~held_out], rtol=1e-4, atol=1e-5)
  assert np.ptp(before[held_out]) < 1e-6 < 1e-3 < np.ptp(after[held_out])


def test_choose_warm_start_takes_the_grid_point_best_on_validation_users(tmp_path):
  """A sequence in ``warm_start`` is a grid: the point chosen is the one whose
  warm-started model (step 0) ranks the validation users' held-out artists
  better; single values stay as given; a run records the choice."""
  config = warm_lastfm_config(num_users=80, num_artists=90, rank=4)
  config.model.warm_start = {"reg": (0.3, 30.0), "alpha": 10.0, "content_l2": 1.0}
  config.model.kwargs["item_pooling"] = "sum"
  prepared = prepare.prepare(config)
  model = train.model_of(config, prepared)
  chosen = train.choose_warm_start(config, model, prepared)
  assert set(chosen) == {"reg", "alpha", "content_l2"}
  assert (chosen["alpha"], chosen["content_l2"]) == (10.0, 1.0)
  batches = scoring.validation_batches(config, prepared)
  adapter = scoring.make_adapter(config, model)
  ndcg = {}
  for reg in (0.3, 30.0):
    params = train.warm_params({"reg": reg, "alpha": 10.0}, model, prepared,
                               model.init(jax.random.key(0)))
    _, score_all = scoring.model_scoring(model, adapter)(params, 0.0, 0)
    ndcg[reg] = scoring.catalogue_metrics(score_all, batches, prepared.split.train_items,
                                          prepared)[0]["full_ndcg@10"]
  assert ndcg[0.3] != ndcg[30.0]
  assert chosen["reg"] == max(ndcg, key=ndcg.get), ndcg
  config.num_epochs = 0
  train.train(config, tmp_path, progress=False)
  assert json.loads((tmp_path / train.WARM_START_FILE).read_text()) == chosen
  config.model.warm_start = {"reg": 3.0, "alpha": 10.0, "content_l2": (1.0, 10.0)}
  with pytest.raises(ValueError, match=r"may be grids .* \['content_l2'\]"):
    train.choose_warm_start(config, model, prepared)
  config.model.warm_start = {"reg": 3.0, "alpha": 10.0}
  assert train.choose_warm_start(config, model, prepared) == {"reg": 3.0, "alpha": 10.0}


def test_implicit_solve_is_the_implicit_als_fold_in():
  user_table, item_table, vocab = ml1m_like()
  model = models.make_model("foldin", user_table, item_table, vocab, rank=3,
                            unobserved_weight=0.2, loss="softmax")
  params = jax.tree.map(lambda x: x + 0.2 * np.random.default_rng(2).normal(
      size=np.shape(x)), model.init(jax.random.key(0)))
  support = make_part(seed=6, size=6, real=4, implicit=True)
  support = {**support, "y": support["mask"]}  # positives only
  base, q = item_side(model, params)
  real = np.asarray(support["mask"]) > 0
  items = np.asarray(support["item"])[real]
  known = (np.asarray(item_table["item_id"]) > 0).astype(float)
  x = np.concatenate([q, np.ones((NUM_ITEMS, 1))], axis=1)
  w = np.exp(float(params["log_unobserved"]))
  lam = np.exp(np.asarray(params["log_scale"])
               + np.asarray(params["size_slope"]) * np.log1p(len(items)))
  prior = np.append(params["user"]["factors"], params["user"]["bias"])
  gram = x[items].T @ x[items] + w * (x * known[:, None]).T @ x + np.diag(lam)
  rhs = x[items].T @ (1.0 - base[items]) - w * x.T @ (known * base) + lam * prior
  solved = model.solve(params, support)
  np.testing.assert_allclose(np.append(solved["user"]["factors"], solved["user"]["bias"]),
                             np.linalg.solve(gram, rhs), rtol=1e-3, atol=1e-4)


def test_catalogue_softmax_is_the_cross_entropy_over_training_items():
  user_table, item_table, vocab = ml1m_like()
  model = models.make_model("foldin", user_table, item_table, vocab, rank=3,
                            loss="softmax")
  params = jax.tree.map(lambda x: x + 0.3 * np.random.default_rng(3).normal(
      size=np.shape(x)), model.init(jax.random.key(0)))
  part = make_part(seed=7, size=6, real=5, implicit=True)
  scores = np.asarray(model.predict(params, part["user"], jnp.arange(NUM_ITEMS)),
                      np.float64)
  candidates = np.asarray(item_table["item_id"]) > 0
  log_z = np.log(np.exp(scores[candidates]).sum())
  positive = (np.asarray(part["mask"]) > 0) & (np.asarray(part["y"]) > 0)
  expected = np.mean(log_z - scores[np.asarray(part["item"])[positive]])
  np.testing.assert_allclose(model.loss(params, part), expected, rtol=1e-5)
  empty = make_part(size=4, real=0, implicit=True)
  assert float(model.loss(params, empty)) == 0.0


@pytest.mark.slow
def test_positives_only_requests_find_the_planted_taste(tmp_path):
  """New listeners who give only the artists they play (positives, no ratings) are
  served their held-out artists far above chance and above popularity."""
  config = lastfm_foldin_config(num_users=200, num_artists=300, rank=8)
  config.meta.adapter = "solve"
  config.meta.num_steps = 0
  config.optimizer.learning_rate = 3e-3
  config.best_metric = "full_ndcg@10"
  config.num_epochs = 60
  config.eval_every = 20
  train.train(config, tmp_path, progress=False)
  recommender = rec_lib.load_recommender(tmp_path)
  prepared = prepare.prepare(config)
  inter, split = prepared.interactions, prepared.split
  served, popular, chance = [], [], []
  for group in ("val", "test"):
    episodes = episodes_lib.make_episodes(inter, split, "new_users", group=group,
                                          query_size=10, seed=0)
    for e in range(len(episodes)):
      support, _ = episodes.part("support", e)
      held_out = set(episodes.part("query", e)[0].tolist())
      request = [(str(inter.item_ids[i]), 1.0) for i in support]
      top = {recommender.index[str(r.item_id)]
             for r in rec_lib.recommend(recommender, request, k=10, explain=False)}
      candidates = np.setdiff1d(split.train_items, support)
      by_popularity = candidates[np.argsort(-prepared.popularity[candidates],
                                            kind="stable")[:10]]
      n = min(10, len(held_out))
      served.append(len(top & held_out) / n)
      popular.append(len(set(by_popularity.tolist()) & held_out) / n)
      chance.append(10 * len(held_out & set(candidates.tolist())) / len(candidates) / n)
  assert len(served) >= 20
  assert np.mean(served) > 3 * np.mean(chance), (np.mean(served), np.mean(chance))
  assert np.mean(served) > np.mean(popular), (np.mean(served), np.mean(popular))


def test_implicit_foldin_needs_item_ids():
  with pytest.raises(ValueError, match="range over the training items"):
    models.make_model("foldin", *ml1m_like(), use_ids=False, loss="softmax")
  with pytest.raises(ValueError, match="range over the training items"):
    models.make_model("foldin", *ml1m_like(), use_ids=False, unobserved_weight=0.1)


def test_implicit_warm_start_is_the_implicit_als_fold_in():
  """Warm-started from implicit ALS, ``solve`` gives iALS's fold-in factors up to the
  factor ``(c - 1) / c`` (the same ranking), with the user bias held near 0."""
  config = lastfm_foldin_config(num_users=60, num_artists=80, rank=4)
  prepared = prepare.prepare(config)
  model = train.model_of(config, prepared)
  params = train.warm_params({"reg": 3.0, "alpha": 10.0}, model, prepared,
                             model.init(jax.random.key(0)))
  inter = prepared.interactions
  rows = splits.training_mask(inter, prepared.split)
  als = baselines.ImplicitALS(factors=4, reg=3.0, alpha=10.0).fit(
      inter.user[rows], inter.item[rows], inter.rating[rows], inter.num_users,
      inter.num_items)
  support_items = prepared.split.train_items[[0, 3, 7, 9]]
  part = {"user": jnp.int32(0), "item": jnp.asarray(np.append(support_items, 0), jnp.int32),
          "y": jnp.asarray([1.0, 1.0, 1.0, 1.0, 0.0]),
          "mask": jnp.asarray([1.0, 1.0, 1.0, 1.0, 0.0])}
  solved = model.solve(params, part)["user"]
  x, _ = als.fold_in(*(np.asarray(part[k])[None] for k in ("item", "y", "mask")))
  c = als.support_confidence
  np.testing.assert_allclose(np.asarray(solved["factors"]) * c / (c - 1.0), x[0],
                             rtol=1e-3, atol=1e-4 * np.abs(x).max())
  assert abs(float(solved["bias"])) < 1e-2
  with pytest.raises(ValueError, match=r"implicit data needs \['reg', 'alpha'\]; "
                     r"\['alpha'\] missing"):
    train.warm_params({"reg": 3.0}, model, prepared, params)
  with pytest.raises(ValueError, match="'alpha' > 0"):
    train.warm_params({"reg": 3.0, "alpha": 0.0}, model, prepared, params)
