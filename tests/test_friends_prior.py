"""A fold-in whose prior reads user fields (the training friends), k-shot training
supports and a partly frozen outer optimizer."""

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jaxrec import prepare
from jaxrec import recommend as rec_lib
from jaxrec import train
from jaxrec import train_step
from jaxrec.data import episodes as episodes_lib
from jaxrec.data import graph
from jaxrec.data import splits
from jaxrec.serving import server
from tests.test_foldin import lastfm_foldin_config, warm_lastfm_config


def with_friends(config, **kwargs):
  """``config`` with the training friends as input and in the fold-in's prior
  (plus the model ``kwargs`` given)."""
  config.data.friends = True
  config.model.kwargs = {**config.model.kwargs, "user_fields": ("friends",), **kwargs}
  return config


def friends_config(**kwargs):
  return with_friends(lastfm_foldin_config(num_users=60, num_artists=80, rank=4), **kwargs)


@pytest.fixture(scope="module")
def prepared():
  return prepare.prepare(friends_config())


def test_friends_field_holds_the_training_friends_only(prepared):
  inter, split = prepared.interactions, prepared.split
  table, mask = prepared.user_table["friends"], prepared.user_table["friends_mask"]
  codes = prepared.user_table["user_id"]
  assert prepared.vocab_sizes["friends"] == len(split.train_users) + 1
  held_out_friend = False
  for u in range(inter.num_users):
    want = codes[graph.friends_of(inter, u, among=split.train_users)]
    got = table[u][mask[u] > 0]
    np.testing.assert_array_equal(np.sort(got), np.sort(want))
    assert (table[u][mask[u] == 0] == 0).all()
    held_out_friend |= len(graph.friends_of(inter, u)) > len(want)
  assert held_out_friend  # the synthetic graph has held-out friends to leave out


def test_friends_need_a_friend_graph(prepared):
  inter = prepared.interactions
  bare = dataclasses.replace(inter, friend_offsets=None, friend_ids=None)
  with pytest.raises(ValueError, match="config.data.friends needs a friend graph"):
    splits.build_tables(bare, prepared.split, friends=True)
  assert "friends" not in splits.build_tables(inter, prepared.split)[0]


def test_solve_is_the_ridge_fold_in_towards_the_friends_prior(prepared):
  """``(XᵀMX + Λ + wG) φ = XᵀMt + Λ(φ⁰ + m) + w X_cᵀ(ρ(n) r̂_c(m) − μ − b_c)`` with
  ``r̂_c(m) = μ + b_c + x_c·m``."""
  config = friends_config()
  model = train.model_of(config, prepared)
  params = model.init(jax.random.key(0))
  rng = np.random.default_rng(0)
  params = jax.tree.map(lambda x: x + 0.3 * rng.normal(size=np.shape(x)), params)
  user = int(np.flatnonzero(prepared.user_table["friends_mask"].sum(1) > 1)[0])
  items = prepared.split.train_items[[1, 4, 6]]
  part = {"user": jnp.int32(user), "item": jnp.asarray(np.append(items, 0), jnp.int32),
          "y": jnp.ones(4), "mask": jnp.asarray([1.0, 0.5, 1.0, 0.0])}
  got = model.solve(params, part)["user"]

  table = np.asarray(params["item"]["embed"]["item_id"], np.float64)
  tags = params["item"]["embed"]["tag"]
  item_table = prepared.item_table

  def rows(ids):
    tag_mask = item_table["tag_mask"][ids]
    tag = (np.asarray(tags)[item_table["tag"][ids]] * tag_mask[..., None]).sum(1)
    tag /= np.maximum(tag_mask.sum(1), 1.0)[:, None]
    return table[item_table["item_id"][ids]] + tag
  support = rows(np.asarray(part["item"]))
  catalogue = rows(np.arange(len(item_table["item_id"])))
  known = (item_table["item_id"] > 0).astype(np.float64)
  mu = float(params["global_bias"])
  x = np.concatenate([support[:, :-1], np.ones((4, 1))], 1)
  xc = np.concatenate([catalogue[:, :-1], np.ones((len(catalogue), 1))], 1) * known[:, None]
  m_mask = np.asarray(part["mask"], np.float64)
  n = m_mask.sum()
  lam = np.exp(np.asarray(params["log_scale"]) + np.asarray(params["size_slope"]) * np.log1p(n))
  w = float(np.exp(params["log_unobserved"]))
  codes = prepared.user_table["friends"][user][prepared.user_table["friends_mask"][user] > 0]
  m = np.asarray(params["user_prior"]["friends"], np.float64)[codes].mean(0)
  prior = np.append(params["user"]["factors"], params["user"]["bias"]) + m
  a, b = np.asarray(params["prior_pull"], np.float64)
  pull = 1.0 / (1.0 + np.exp(-(a + b * np.log1p(n))))
  t = 1.0 - mu - support[:, -1]
  gram = (x * m_mask[:, None]).T @ x + np.diag(lam) + w * xc.T @ xc
  offset = (mu + catalogue[:, -1]) * known
  rhs = (x * m_mask[:, None]).T @ t + lam * prior + w * xc.T @ (pull * (offset + xc @ m)
                                                                 - offset)
  want = np.linalg.solve(gram, rhs)
  np.testing.assert_allclose(np.asarray(got["factors"]), want[:-1], rtol=2e-4, atol=2e-5)
  np.testing.assert_allclose(float(got["bias"]), want[-1], rtol=2e-4, atol=2e-5)
  # with rho -> 1 and no rating, the fold-in is m plus the shrunk plain prior,
  # whatever mu and the item biases are
  params = {**params, "prior_pull": jnp.asarray([30.0, 0.0])}
  empty = {**part, "mask": jnp.zeros(4)}
  got = model.solve(params, empty)["user"]
  lam0 = np.exp(np.asarray(params["log_scale"], np.float64))
  plain = np.append(params["user"]["factors"], params["user"]["bias"])
  want = m + np.linalg.solve(np.diag(lam0) + w * xc.T @ xc, lam0 * plain)
  np.testing.assert_allclose(np.append(got["factors"], got["bias"]), want,
                             rtol=2e-4, atol=2e-5)


def test_warm_friends_prior_at_zero_ratings_is_the_friends_mean_vector(prepared):
  """Warm-started from implicit ALS with ``ρ(0) → 1``, a user with no rating is
  folded in at the mean of their training friends' ALS vectors (at the fold-in's
  scale ``(c − 1) / c``)."""
  from jaxrec import baselines  # pylint: disable=import-outside-toplevel
  config = friends_config(user_pull=(30.0, 0.0))
  model = train.model_of(config, prepared)
  params = train.warm_params({"reg": 3.0, "alpha": 10.0}, model, prepared,
                             model.init(jax.random.key(0)))
  inter, split = prepared.interactions, prepared.split
  rows = splits.training_mask(inter, split)
  als = baselines.ImplicitALS(factors=4, reg=3.0, alpha=10.0).fit(
      inter.user[rows], inter.item[rows], inter.rating[rows], inter.num_users,
      inter.num_items)
  c = als.support_confidence
  user = int(split.test_users[np.argmax([len(graph.friends_of(inter, int(u),
                                                               among=split.train_users))
                                         for u in split.test_users])])
  friends = graph.friends_of(inter, user, among=split.train_users)
  assert len(friends) >= 2
  empty = {"user": jnp.int32(user), "item": jnp.zeros(4, jnp.int32), "y": jnp.zeros(4),
           "mask": jnp.zeros(4)}
  solved = model.solve(params, empty)["user"]
  np.testing.assert_allclose(np.asarray(solved["factors"]),
                             als.user_factors[friends].mean(0) * (c - 1.0) / c,
                             rtol=1e-4, atol=1e-6)
  with pytest.raises(ValueError, match="no 'friends' user field"):
    train.warm_params({"reg": 3.0, "alpha": 10.0}, model, prepared,
                      {**params, "user_prior": {}})


def test_the_pull_is_learned_through_the_solve(prepared):
  model = train.model_of(friends_config(), prepared)
  params = train.warm_params({"reg": 3.0, "alpha": 10.0}, model, prepared,
                             model.init(jax.random.key(0)))
  user = int(np.flatnonzero(prepared.user_table["friends_mask"].sum(1) > 1)[0])
  query = {"user": jnp.int32(user), "item": jnp.asarray(prepared.split.train_items[:5]),
           "y": jnp.ones(5), "mask": jnp.ones(5)}
  support = {**query, "item": jnp.asarray(prepared.split.train_items[5:7]),
             "y": jnp.ones(2), "mask": jnp.ones(2)}
  grads = jax.grad(lambda p: model.loss(model.solve(p, support), query))(params)
  assert float(jnp.abs(grads["prior_pull"]).max()) > 0
  assert float(jnp.abs(grads["user_prior"]["friends"]).max()) > 0


def test_subsample_support_draws_each_support_size(prepared):
  episodes = episodes_lib.training_episodes(prepared.interactions, prepared.split,
                                            epoch=0, seed=0)
  cut = episodes_lib.subsample_support(episodes, (0, 2, 5), seed=3)
  again = episodes_lib.subsample_support(episodes, (0, 2, 5), seed=3)
  np.testing.assert_array_equal(cut.support_item, again.support_item)
  assert len(cut) == len(episodes)
  np.testing.assert_array_equal(cut.query_item, episodes.query_item)
  sizes = cut.support_sizes
  assert set(sizes.tolist()) <= {0, 1, 2, 3, 4, 5} and {0, 2, 5} <= set(sizes.tolist())
  for e in range(len(episodes)):
    kept = cut.support_item[cut.support_offsets[e]:cut.support_offsets[e + 1]]
    full = episodes.support_item[episodes.support_offsets[e]:episodes.support_offsets[e + 1]]
    assert np.isin(kept, full).all()
    assert len(kept) in (0, min(2, len(full)), min(5, len(full)))
  for bad in ((), (1, -1)):
    with pytest.raises(ValueError, match="support sizes"):
      episodes_lib.subsample_support(episodes, bad, seed=0)


def test_only_the_trainable_parameters_learn():
  config = ml_collections.ConfigDict({"optimizer": {
      "learning_rate": 0.1, "grad_clip": 10.0, "weight_decay": 0.0,
      "trainable": ("user_prior",)}})
  params = {"user_prior": {"friends": jnp.ones((3, 2))}, "item": {"e": jnp.ones(4)},
            "global_bias": jnp.ones(())}
  opt = train_step.make_optimizer(config)
  grads = jax.tree.map(jnp.ones_like, params)
  updates, _ = opt.update(grads, opt.init(params), params)
  new = optax.apply_updates(params, updates)
  assert float(jnp.abs(new["user_prior"]["friends"] - 1.0).min()) > 0.05
  np.testing.assert_array_equal(new["item"]["e"], params["item"]["e"])
  np.testing.assert_array_equal(new["global_bias"], params["global_bias"])
  config.optimizer.trainable = ("user_priors",)
  with pytest.raises(ValueError, match=r"trainable names \['user_priors'\]"):
    train_step.make_optimizer(config).init(params)
  with pytest.raises(ValueError, match="not the model's parameter dict"):
    train_step.make_optimizer(config).init((params, jnp.ones(())))


def test_user_fields_need_the_solve_adapter(prepared):
  config = friends_config()
  config.meta.adapter = "gradient"
  with pytest.raises(ValueError, match="reads them in its solve only"):
    train_step.make_train_step(config, train.model_of(config, prepared))


@pytest.fixture(scope="module")
def friends_run(tmp_path_factory):
  """A warm-started friends-prior run on a synthetic Last.fm (one short epoch)."""
  config = with_friends(warm_lastfm_config(num_users=200, num_artists=150, rank=8))
  workdir = tmp_path_factory.mktemp("friends") / "run"
  train.train(config, workdir, progress=False)
  return rec_lib.load_recommender(workdir), prepare.prepare(config)


def test_serving_puts_the_friends_in_the_users_row(friends_run):
  """``recommend(friends=...)`` of a friends-prior model is the solve from the row
  holding the training friends (no friends' rows), and another user's friends
  compile nothing."""
  recommender, prepared = friends_run
  inter, split = prepared.interactions, prepared.split
  user = max(split.test_users,
             key=lambda u: len(graph.friends_of(inter, int(u), among=split.train_users)))
  friends = graph.friends_of(inter, int(user), among=split.train_users)
  raw = inter.user_ids[friends].tolist()
  recs = rec_lib.recommend(recommender, [], friends=raw, k=10, explain=False)
  codes = tuple(prepared.user_table["user_id"][friends].tolist())
  row = {f: jnp.asarray(v[0]) for f, v in server.new_user_rows(
      recommender.bundle.user_table, [(("friends", codes),)]).items()}
  support = {"user": row, "item": jnp.zeros(16, jnp.int32), "y": jnp.zeros(16),
             "mask": jnp.zeros(16)}  # the friends are in the row, not extra rows
  phi = recommender.adapter(recommender.params, recommender.inner_lr, 0, support)
  scores = np.asarray(recommender.model.predict(phi, row, jnp.arange(recommender.num_items)))
  np.testing.assert_allclose([r.score for r in recs],
                             np.sort(scores)[::-1][:10], rtol=1e-4, atol=1e-6)
  alone = rec_lib.recommend(recommender, [], friends=raw[:1], k=10, explain=False)
  assert [r.item_id for r in alone] != [r.item_id for r in recs]
  # the friends' listening still drives the explanations
  assert any(r.explanation.friends > 0 for r in rec_lib.recommend(
      recommender, [], friends=raw, k=10))
  other = next(f for f in (graph.friends_of(inter, int(u), among=split.train_users)
                           for u in split.test_users if u != user)
               if len(f) and not np.array_equal(f, friends))
  before = recommender.server._cache_size()  # pylint: disable=protected-access
  rec_lib.recommend(recommender, [], friends=inter.user_ids[other].tolist(), k=10,
                    explain=False)
  assert recommender.server._cache_size() == before  # pylint: disable=protected-access
  with pytest.raises(ValueError, match="friends are given twice"):
    rec_lib.recommend(recommender, [], friends=raw, user_features={"friends": [1]}, k=10)


def test_subsample_support_keeps_negatives_per_positive(prepared):
  """With sampled negatives, an episode cut to ``k`` keeps ``min(k, #positives)``
  positives and ``min(k * negatives, #negatives)`` negatives."""
  episodes = episodes_lib.training_episodes(prepared.interactions, prepared.split,
                                            epoch=0, seed=0, negatives=2)
  cut = episodes_lib.subsample_support(episodes, (1, 3), seed=0)
  positives, all_positives = cut.support_positives, episodes.support_positives
  negatives = cut.support_sizes - positives
  all_negatives = episodes.support_sizes - all_positives
  # the drawn k is known where it shows: 3 positives kept, or 1 of at least 3
  k = np.where(positives == 3, 3, np.where((positives == 1) & (all_positives >= 3), 1, 0))
  assert (k == 1).any() and (k == 3).any()
  known = k > 0
  np.testing.assert_array_equal(negatives[known],
                                np.minimum(2 * k[known], all_negatives[known]))
  assert (cut.support_y[cut.support_negative] == 0).all()
