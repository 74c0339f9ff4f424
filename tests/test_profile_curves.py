"""The profile back-off means, the prior fold-in and the ML-100K k-shot curves with
and without profile (jaxrec.baselines.profile, jaxrec.profile_curves)."""

import dataclasses
import functools

import numpy as np
import pytest

from experiments.configs import maml_synthetic
from jaxrec import baselines
from jaxrec import prepare
from jaxrec import profile_curves
from jaxrec import zero_ratings
from jaxrec.baselines import profile as profile_lib
from jaxrec.data import splits


@functools.cache
def prepared(num_users=400):
  config = maml_synthetic.get_config()
  config.data.dataset = "synthetic"
  config.data.synthetic = {"num_users": num_users, "num_items": 200, "seed": 0,
                           "demographic_share": 0.8}
  return prepare.prepare(config)


def test_backoff_means_by_hand():
  # training users (age, gender): A (1, 1), B (1, 2), C (2, 1), D (1, 1)
  profiles = np.array([[1, 1], [1, 2], [2, 1], [1, 1]])
  values = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
  query = np.array([[1, 1], [1, 0], [3, 1], [0, 1], [1, 2]])
  got = profile_lib.backoff_means(values, profiles, query, shrinkage=2.0)
  s0 = np.array([0.5, 0.25])
  s1 = (np.array([2.0, 1.0]) + 2.0 * s0) / (3 + 2)  # age 1: A, B, D
  np.testing.assert_allclose(got[0], (np.array([2.0, 0.0]) + 2.0 * s1) / (2 + 2))  # A, D
  np.testing.assert_allclose(got[1], s1)  # unknown gender: the chain stops at age
  np.testing.assert_allclose(got[2], s0)  # nobody aged 3: back off to everyone
  np.testing.assert_allclose(got[3], s0)  # unknown age
  np.testing.assert_allclose(got[4], (np.array([0.0, 1.0]) + 2.0 * s1) / (1 + 2))  # B
  raw = profile_lib.backoff_means(values, profiles, query, shrinkage=0.0)
  np.testing.assert_allclose(raw[0], [1.0, 0.0])
  with pytest.raises(ValueError, match="shrinkage"):
    profile_lib.backoff_means(values, profiles, query, shrinkage=-1.0)
  with pytest.raises(ValueError, match="query_profiles"):
    profile_lib.backoff_means(values, profiles, query[:, :1], shrinkage=1.0)


def test_profile_means_count_likes_of_training_rows_once():
  profiles = np.array([[1, 1], [1, 2], [2, 1], [1, 1], [1, 1]])  # user 4 held out
  user = np.array([0, 0, 0, 1, 2, 3, 3])
  item = np.array([0, 0, 1, 1, 2, 0, 2])
  y = np.array([5.0, 4.0, 3.0, 4.0, 5.0, 4.0, 2.0])
  likes = baselines.ProfileMeans(like_threshold=4.0).fit(user, item, y, [0, 1, 2, 3],
                                                          profiles, num_items=3)
  np.testing.assert_array_equal(likes.liked.toarray(),
                                [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
  np.testing.assert_allclose(likes.scores(np.array([[1, 1]]), 2.0), profile_lib.backoff_means(
      likes.liked.toarray(), profiles[:4], np.array([[1, 1]]), 2.0))
  with pytest.raises(ValueError, match="user 4 is not a training user"):
    baselines.ProfileMeans().fit(np.append(user, 4), np.append(item, 0), np.append(y, 5.0),
                                 [0, 1, 2, 3], profiles, num_items=3)


def test_profile_matrix_reads_the_user_fields_in_backoff_order():
  inter = prepared().interactions
  got = profile_lib.profile_matrix(inter, np.array([3, 0]))
  for f, field in enumerate(profile_lib.BACKOFF_FIELDS):
    assert got[:, f].tolist() == inter.user_features[field][[3, 0]].tolist()
  with pytest.raises(ValueError, match="no user field 'shoe'"):
    profile_lib.profile_matrix(inter, np.array([0]), ("age", "shoe"))


def test_prior_fold_in_is_the_fold_in_at_zero_prior_and_minimises_its_objective():
  rng = np.random.default_rng(0)
  users, items = rng.integers(0, 30, 400), rng.integers(0, 40, 400)
  mf = baselines.MatrixFactorization(rank=3, reg=2.0, fold_in_reg=5.0, epochs=3).fit(
      users, items, rng.integers(1, 6, 400).astype(float), 30, 40)
  support, ratings = rng.integers(0, 40, (4, 3)), rng.integers(1, 6, (4, 3)).astype(float)
  p, b = mf.fold_in(support, ratings, np.ones((4, 3)))
  zero = profile_curves.prior_fold_in(mf, support, ratings, np.zeros((4, 4)))
  np.testing.assert_allclose(zero, np.concatenate([p, b[:, None]], axis=1), rtol=1e-10)
  prior = rng.normal(size=(4, 4))
  np.testing.assert_allclose(profile_curves.prior_fold_in(mf, support[:, :0], ratings[:, :0],
                                                          prior), prior)
  w = profile_curves.prior_fold_in(mf, support, ratings, prior)
  design = np.concatenate([mf.item_factors[support], np.ones((4, 3, 1))], axis=-1)
  residual = ratings - mf.mu - mf.item_bias[support] - np.einsum("bkd,bd->bk", design, w)
  reg = np.array([5.0, 5.0, 5.0, mf.reg_bias])
  grad = -2 * np.einsum("bkd,bk->bd", design, residual) + 2 * reg * (w - prior)
  np.testing.assert_allclose(grad, 0.0, atol=1e-9)


def test_liked_pools_keep_users_with_a_liked_query_item():
  p = prepared()
  inter, split = p.interactions, p.split
  group = profile_curves.liked_pools(inter, split, "test", pool_size=3, query_size=8, seed=1)
  pools = group.pools
  assert len(pools.users) + group.num_no_liked + pools.num_dropped == len(split.test_users)
  assert len(pools.users) > 10
  rating = {(u, i): r for u, i, r in zip(inter.user, inter.item, inter.rating)}
  for b, u in enumerate(pools.users):
    assert group.support_y[b].tolist() == [rating[(u, i)] for i in pools.pool[b]]
    liked = [rating[(u, i)] >= 4 for i in pools.query[b]]
    assert pools.query_mask[b].tolist() == [float(x) for x in liked]  # padding is 0, unliked
    assert pools.query_mask[b].sum() >= 1
  np.testing.assert_array_equal(group.profiles,
                                profile_lib.profile_matrix(inter, pools.users))
  with pytest.raises(ValueError, match="needs explicit ratings"):
    profile_curves.liked_pools(dataclasses.replace(inter, implicit=True), split, "test")


def test_held_out_users_rows_do_not_enter_the_profile_means():
  """Every held-out user likes every item in the altered data: the profile
  scores and the profile prior of the test users must not move."""
  p = prepared()
  inter, split = p.interactions, p.split
  held_out = ~splits.user_rows(inter, split.train_users)
  altered = dataclasses.replace(inter, rating=np.where(held_out, 5.0, inter.rating).astype(
      inter.rating.dtype))
  group = profile_curves.liked_pools(inter, split, "test", seed=0)
  params = {"profile_shrinkage": 3.0, "prior_shrinkage": {0: 3.0}}
  for method in ("profile", "popularity", "mf_foldin+profile"):
    scores = [profile_curves._scores(method, 0, group, profile_curves.fit_training(
        data, split, {"rank": 4, "epochs": 3}), params) for data in (inter, altered)]
    np.testing.assert_array_equal(scores[0], scores[1], err_msg=method)


def test_curves_choose_on_validation_and_summarise():
  p = prepared()
  run = profile_curves.evaluate_seed(p.interactions, p.split, seed=0)
  per_user = run["per_user"]
  assert set(per_user) == set(profile_curves.METHODS)
  assert 0 not in per_user["mf_foldin"]
  assert set(per_user["mf_foldin+profile"]) == set(profile_curves.K_SHOTS)
  assert run["users"]["test"] == len(per_user["profile"][0]["ndcg@10"]) > 10
  # planted tastes follow age and gender: the profile means beat popularity at k = 0
  assert (np.mean(per_user["profile"][0]["ndcg@10"])
          > np.mean(per_user["popularity"][0]["ndcg@10"]))
  validation, chosen = run["validation"], run["chosen"]
  assert chosen["profile_shrinkage"] == max(validation["profile_shrinkage"],
                                            key=validation["profile_shrinkage"].get)
  for k, m in chosen["prior_shrinkage"].items():
    assert m == max(validation["prior_shrinkage"][k], key=validation["prior_shrinkage"][k].get)
  assert str(chosen["mf"]) == max(validation["mf"], key=validation["mf"].get)
  summary = zero_ratings.pool_seeds({0: run, 1: run}, profile_curves.METHODS,
                                    profile_curves.K_SHOTS, profile_curves.COMPARISONS)
  mean, ci = summary["table"]["profile"][0]["ndcg@10"]
  assert mean == pytest.approx(np.mean(per_user["profile"][0]["ndcg@10"])) and ci == 0.0
  paired = {(d["method"], d["reference"], d["k"], d["metric"]): d for d in summary["paired"]}
  assert paired[("mf_foldin+profile", "mf_foldin", 2, "recall@10")]["mean"] == pytest.approx(
      np.mean(np.asarray(per_user["mf_foldin+profile"][2]["recall@10"])
              - np.asarray(per_user["mf_foldin"][2]["recall@10"])))


def test_test_users_are_scored_once_with_the_validation_choice(monkeypatch):
  p = prepared()
  calls = []
  curves = profile_curves._curves

  def spy(group, fitted, candidates, params, methods, ks=profile_curves.K_SHOTS):
    calls.append((len(group.pools.users), dict(params), tuple(methods)))
    return curves(group, fitted, candidates, params, methods, ks)
  monkeypatch.setattr(profile_curves, "_curves", spy)
  run = profile_curves.evaluate_seed(p.interactions, p.split, seed=0)
  final = [c for c in calls if c[2] == profile_curves.METHODS]
  assert len(final) == 1 and final[0][0] == run["users"]["test"]
  assert final[0][1] == {"profile_shrinkage": run["chosen"]["profile_shrinkage"],
                         "prior_shrinkage": run["chosen"]["prior_shrinkage"]}
  assert all(c[0] == run["users"]["val"] for c in calls if c is not final[0])
