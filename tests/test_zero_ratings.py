"""Fixed k-shot pools, the friends' scores, the weighted iALS fold-in and the
zero-ratings curves (jaxrec.data.kshot, jaxrec.baselines.friends, jaxrec.zero_ratings)."""

import dataclasses
import functools

import numpy as np
import pytest

from experiments.configs import maml_synthetic
from jaxrec import baselines
from jaxrec import metrics
from jaxrec import prepare
from jaxrec import zero_ratings
from jaxrec.baselines import friends as friends_lib
from jaxrec.data import graph
from jaxrec.data import kshot
from jaxrec.data import splits


@functools.cache
def prepared(num_users=300):
  config = maml_synthetic.get_config()
  config.data.dataset = "synthetic-lastfm"
  config.data.synthetic = {"num_users": num_users, "num_artists": 150, "seed": 0,
                           "artists_per_user": (12, 40)}
  config.data.negatives = 0
  config.data.min_ratings = 1
  return prepare.prepare(config)


def test_pools_are_fixed_disjoint_training_items_of_the_group():
  p = prepared()
  inter, split = p.interactions, p.split
  pools = kshot.kshot_pools(inter, split, "val", pool_size=10, query_size=5, seed=3)
  again = kshot.kshot_pools(inter, split, "val", pool_size=10, query_size=5, seed=3)
  np.testing.assert_array_equal(pools.pool, again.pool)
  np.testing.assert_array_equal(pools.query, again.query)
  assert len(pools.users) + pools.num_dropped == len(split.val_users)
  assert len(pools.users) > 10 and set(pools.users) <= set(split.val_users)
  train_items = set(split.train_items.tolist())
  for b, u in enumerate(pools.users):
    own = set(inter.item[(inter.user == u)].tolist()) & train_items
    query = set(pools.query[b][pools.query_mask[b] > 0].tolist())
    pool = set(pools.pool[b].tolist())
    assert len(pool) == 10 and query and not pool & query
    assert pool | query <= own
    assert pools.query_mask[b].sum() == min(5, len(own) - 10)
  assert not (pools.pool == kshot.kshot_pools(inter, split, "val", pool_size=10,
                                               query_size=5, seed=4).pool).all()


def test_pools_count_the_users_left_out():
  p = prepared()
  pools = kshot.kshot_pools(p.interactions, p.split, "test", pool_size=30, query_size=5)
  train_items = set(p.split.train_items.tolist())
  enough = [u for u in p.split.test_users
            if len(set(p.interactions.item[p.interactions.user == u].tolist())
                   & train_items) >= 31]
  assert pools.users.tolist() == enough and pools.num_dropped == len(p.split.test_users) - len(
      enough)
  with pytest.raises(ValueError, match="held-out users"):
    kshot.kshot_pools(p.interactions, p.split, "train")


def test_friends_listening_counts_training_friends_training_rows():
  p = prepared()
  inter, split = p.interactions, p.split
  users = split.test_users[:8]
  listening, counts = friends_lib.friends_listening(inter, split, users)
  train_rows = splits.training_mask(inter, split)
  for b, u in enumerate(users):
    friends = [v for v in graph.friends_of(inter, int(u)) if v in set(split.train_users)]
    assert counts[b] == len(friends)
    expected = np.zeros(inter.num_items)
    for v in friends:
      expected[np.unique(inter.item[train_rows & (inter.user == v)])] += 1.0 / len(friends)
    np.testing.assert_allclose(listening[b], expected)
  popularity = friends_lib.training_popularity(inter, split)
  assert popularity[split.test_items].max() == 0.0 and popularity.max() <= 1.0


def test_weighted_fold_in_is_the_fold_in_at_unit_weights_and_minimises_its_objective():
  rng = np.random.default_rng(0)
  users, items = rng.integers(0, 20, 300), rng.integers(0, 40, 300)
  als = baselines.ImplicitALS(factors=4, reg=2.0, alpha=5.0, cg_steps=4).fit(
      users, items, np.ones(300), 20, 40)
  support = rng.integers(0, 40, (3, 5))
  x, _ = als.fold_in(support, np.ones((3, 5)), np.ones((3, 5)))
  np.testing.assert_allclose(als.fold_in_weighted(support, np.ones((3, 5))), x, rtol=1e-10)
  padded = np.concatenate([support, np.zeros((3, 2), int)], axis=1)
  np.testing.assert_allclose(
      als.fold_in_weighted(padded, np.concatenate([np.ones((3, 5)), np.zeros((3, 2))], 1)),
      x, rtol=1e-10)
  # the gradient of sum_i (0 - s_i)^2 + sum_j w_j [c (1 - s_j)^2 - s_j^2] + reg |x|^2 is 0
  weights = rng.uniform(0, 1, (3, 5))
  solved = als.fold_in_weighted(support, weights)
  c, y = als.support_confidence, als.item_factors
  for b in range(3):
    s = y @ solved[b]
    grad = 2 * y.T @ s + 2 * als.reg * solved[b]
    for item, w in zip(support[b], weights[b]):
      grad += w * (-2 * c * (1 - s[item]) - 2 * s[item]) * y[item]
    np.testing.assert_allclose(grad, 0.0, atol=1e-8)
  with pytest.raises(ValueError, match=">= 0"):
    als.fold_in_weighted(support, -weights)


def test_pools_count_a_repeated_row_once():
  p = prepared()
  inter = p.interactions
  u = kshot.kshot_pools(inter, p.split, "val", pool_size=10).users[0]
  rows = np.flatnonzero((inter.user == u) & np.isin(inter.item, p.split.train_items))
  repeated = dataclasses.replace(
      inter, **{f: np.concatenate([getattr(inter, f), getattr(inter, f)[rows]])
                for f in ("user", "item", "rating")},
      timestamp=None if inter.timestamp is None else np.concatenate(
          [inter.timestamp, inter.timestamp[rows]]))
  twice = kshot.kshot_pools(repeated, p.split, "val", pool_size=10)
  once = kshot.kshot_pools(inter, p.split, "val", pool_size=10)
  np.testing.assert_array_equal(twice.pool, once.pool)
  np.testing.assert_array_equal(twice.query, once.query)


def test_per_user_metrics_rank_the_training_items_but_the_pool():
  p = prepared()
  inter, split = p.interactions, p.split
  pools = kshot.kshot_pools(inter, split, "test", pool_size=10, query_size=5)
  scores = np.random.default_rng(0).normal(size=(len(pools.users), inter.num_items))
  got = zero_ratings.per_user(scores, pools, split.train_items)
  held_out = np.setdiff1d(np.arange(inter.num_items), split.train_items)
  exclude = [np.concatenate([pool, held_out]) for pool in pools.pool]
  expected = metrics.per_user_full_catalogue(
      scores, [q[m > 0] for q, m in zip(pools.query, pools.query_mask)], exclude, ks=10)
  for name in zero_ratings.METRICS:
    np.testing.assert_allclose(got[name], expected[name])


def test_friends_find_planted_tastes_at_zero_ratings_and_curves_summarise():
  """Synthetic friendships follow the planted tastes: at k = 0 the friends' listening
  beats popularity for the test users; every method has its curve."""
  p = prepared()
  run = zero_ratings.evaluate_seed(p.interactions, p.split, seed=0)
  assert run["users"]["test"] > 10
  per_user = run["per_user"]
  assert set(per_user) == set(zero_ratings.METHODS)
  assert 0 not in per_user["ials"] and set(per_user["ials+friends"]) == set(zero_ratings.K_SHOTS)
  popular = np.nanmean(per_user["popularity"][0]["ndcg@10"])
  for method in ("friends", "friends+popularity", "ials+friends"):
    friends = np.nanmean(per_user[method][0]["ndcg@10"])
    assert friends > popular, (method, friends, popular)
  # every choice is the best validation value of its grid
  validation, chosen = run["validation"], run["chosen"]
  assert chosen["blend"] == max(validation["blend"], key=validation["blend"].get)
  assert set(chosen["friends_weight"]) == set(zero_ratings.K_SHOTS)
  for k, weight in chosen["friends_weight"].items():
    assert weight == max(validation["friends_weight"][k],
                         key=validation["friends_weight"][k].get)
  assert str(chosen["ials"]) == max(validation["ials"], key=validation["ials"].get)
  summary = zero_ratings.pool_seeds({0: run, 1: run})
  mean, ci = summary["table"]["friends"][0]["ndcg@10"]
  assert mean == pytest.approx(np.nanmean(per_user["friends"][0]["ndcg@10"])) and ci == 0.0
  paired = {(d["method"], d["reference"], d["k"], d["metric"]): d for d in summary["paired"]}
  assert paired[("friends", "popularity", 0, "ndcg@10")]["mean"] == pytest.approx(
      np.nanmean(np.asarray(per_user["friends"][0]["ndcg@10"])
                 - np.asarray(per_user["popularity"][0]["ndcg@10"])))


def test_test_users_are_scored_once_with_the_validation_choice(monkeypatch):
  p = prepared()
  calls = []
  curves = zero_ratings._curves

  def spy(pools, listening, popularity, als, candidates, params, methods, ks):
    calls.append((len(pools.users), dict(params), tuple(methods)))
    return curves(pools, listening, popularity, als, candidates, params, methods, ks)
  monkeypatch.setattr(zero_ratings, "_curves", spy)
  run = zero_ratings.evaluate_seed(p.interactions, p.split, seed=0)
  test_users = run["users"]["test"]
  final = [c for c in calls if c[2] == zero_ratings.METHODS]
  assert len(final) == 1 and final[0][0] == test_users
  assert final[0][1] == {"blend": run["chosen"]["blend"],
                         "friends_weight": run["chosen"]["friends_weight"]}
  assert all(c[0] == run["users"]["val"] for c in calls if c is not final[0])
