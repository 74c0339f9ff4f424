"""Baselines on tiny hand-made data."""

import numpy as np
import pytest

from jaxrec import baselines, metrics

# Training interactions: mu = (5 + 3 + 4 + 2 + 1) / 5 = 3.
# item 0: ratings 5, 4 (sum 9, n 2); item 1: 3, 1 (sum 4, n 2); item 2: 2 (n 1);
# item 3: never rated.
TRAIN = dict(user=np.array([0, 0, 1, 1, 2]), item=np.array([0, 1, 0, 2, 1]),
             y=np.array([5.0, 3.0, 4.0, 2.0, 1.0]), num_users=3, num_items=4)


def _batch(tasks, width_s=3, width_q=3):
  """Pads ``[(support [(item, y)], query [(item, y)])]`` into an episode batch."""
  def part(rows_of_tasks, width):
    item = np.zeros((len(tasks), width), np.int32)
    y = np.zeros((len(tasks), width), np.float32)
    mask = np.zeros((len(tasks), width), np.float32)
    for b, rows in enumerate(rows_of_tasks):
      for s, (i, r) in enumerate(rows):
        item[b, s], y[b, s], mask[b, s] = i, r, 1.0
    return {"user": np.arange(len(tasks), dtype=np.int32), "item": item, "y": y,
            "mask": mask}
  return {"support": part([t[0] for t in tasks], width_s),
          "query": part([t[1] for t in tasks], width_q)}


# Task 0: support (item 0, 5), (item 2, 4); query items 1, 3.
# Task 1: empty support; query item 0. Task 2: a padded task.
BATCH = _batch([([(0, 5.0), (2, 4.0)], [(1, 0.0), (3, 0.0)]), ([], [(0, 0.0)]), ([], [])])


def test_global_and_user_mean():
  np.testing.assert_allclose(baselines.GlobalMean().fit(**TRAIN).predict_batch(BATCH)[:2],
                             [[3, 3, 3], [3, 3, 3]])
  # Task 0: mean(5, 4) = 4.5; task 1 (empty support) falls back to mu = 3.
  pred = baselines.UserMean().fit(**TRAIN).predict_batch(BATCH)
  np.testing.assert_allclose(pred[:2], [[4.5] * 3, [3.0] * 3])


def test_item_mean_damping_formula():
  # damping 2: m0 = (9 + 2*3)/(2 + 2) = 3.75, m1 = (4 + 6)/4 = 2.5,
  # m2 = (2 + 6)/(1 + 2) = 8/3, m3 = (0 + 6)/(0 + 2) = 3 = mu.
  model = baselines.ItemMean(damping=2.0).fit(**TRAIN)
  np.testing.assert_allclose(model.item_mean, [3.75, 2.5, 8 / 3, 3.0])
  np.testing.assert_allclose(model.predict_batch(BATCH)[:2, :2], [[2.5, 3.0], [3.75, 3.75]])
  # damping 0: plain means; the unseen item falls back to mu.
  np.testing.assert_allclose(baselines.ItemMean(damping=0.0).fit(**TRAIN).item_mean,
                             [4.5, 2.0, 2.0, 3.0])


def test_item_mean_user_bias_formula():
  model = baselines.ItemMeanUserBias(item_damping=2.0, user_damping=1.0).fit(**TRAIN)
  # Task 0 residuals: 5 - 3.75 = 1.25, 4 - 8/3 = 4/3 -> b = (31/12) / (2 + 1) = 31/36.
  bias = model.user_bias(BATCH["support"]["item"], BATCH["support"]["y"],
                         BATCH["support"]["mask"])
  np.testing.assert_allclose(bias, [31 / 36, 0.0, 0.0])
  pred = model.predict_batch(BATCH)
  np.testing.assert_allclose(pred[0, :2], [2.5 + 31 / 36, 3.0 + 31 / 36])
  np.testing.assert_allclose(pred[1, 0], 3.75)  # empty support: no bias


def test_popularity_counts_training_users():
  # item 0: users 0, 1; item 1: users 0, 2; item 2: user 1; item 3: nobody.
  pred = baselines.Popularity().fit(**TRAIN).predict_batch(BATCH)
  np.testing.assert_array_equal(pred[0, :2], [2.0, 0.0])
  np.testing.assert_array_equal(pred[1, 0], 2.0)


def _low_rank(num_users, num_items, rank, seed):
  """Noiseless ratings ``3 + b_u + b_i + P Q^T`` and the generating factors."""
  rng = np.random.default_rng(seed)
  p, q = rng.normal(size=(num_users, rank)), rng.normal(size=(num_items, rank))
  b_u, b_i = rng.normal(0, 0.5, num_users), rng.normal(0, 0.5, num_items)
  return 3.0 + b_u[:, None] + b_i[None] + p @ q.T, q, b_i


def _dense_training(ratings, observed):
  user, item = np.nonzero(observed)
  return dict(user=user, item=item, y=ratings[user, item], num_users=ratings.shape[0],
              num_items=ratings.shape[1])


def test_mf_fold_in_recovers_planted_user():
  ratings, _, _ = _low_rank(30, 20, 3, seed=0)
  model = baselines.MatrixFactorization(rank=3, reg=1e-8, reg_bias=1e-8, epochs=5).fit(
      **_dense_training(ratings, np.ones_like(ratings, bool)))
  # A new user planted in the model's own item space, rating all 20 items.
  rng = np.random.default_rng(1)
  p_true, b_true = rng.normal(size=3), 0.7
  items = np.arange(20)[None]
  y = model.mu + b_true + model.item_bias[items] + model.item_factors[items] @ p_true
  p, b = model.fold_in(items, y, np.ones_like(y))
  np.testing.assert_allclose(p[0], p_true, atol=1e-5)
  assert b[0] == pytest.approx(b_true, abs=1e-5)


def test_mf_predicts_new_user_on_noiseless_low_rank_data():
  ratings, _, _ = _low_rank(40, 25, 2, seed=3)
  model = baselines.MatrixFactorization(rank=2, reg=1e-6, reg_bias=1e-6, epochs=60).fit(
      **_dense_training(ratings[:-1], np.ones_like(ratings[:-1], bool)))
  # The held-out last user: fold in from 10 items, predict the other 15.
  support, query = np.arange(10)[None], np.arange(10, 25)[None]
  pred = model.predict(support, ratings[-1:, :10], np.ones((1, 10)), query)
  np.testing.assert_allclose(pred, ratings[-1:, 10:], atol=1e-2)


def test_mf_beats_item_mean_on_training_rmse_and_is_deterministic():
  ratings, _, _ = _low_rank(50, 30, 2, seed=4)
  rng = np.random.default_rng(5)
  ratings += rng.normal(0, 0.1, ratings.shape)
  observed = rng.random(ratings.shape) < 0.6
  train = _dense_training(ratings, observed)
  # Warm-user batch: each user's training ratings are both support and query.
  tasks = [[(i, ratings[u, i]) for i in np.flatnonzero(observed[u])] for u in range(50)]
  width = max(len(t) for t in tasks)
  batch = _batch([(t, t) for t in tasks], width, width)
  query = batch["query"]

  def train_rmse(model):
    return metrics.rmse(model.predict_batch(batch), query["y"], query["mask"])

  mf = baselines.MatrixFactorization(rank=2, reg=0.1, reg_bias=0.1, epochs=20, seed=7)
  mf_rmse = train_rmse(mf.fit(**train))
  assert mf_rmse < 0.5 * train_rmse(baselines.ItemMean(damping=0.0).fit(**train))
  assert mf_rmse < 0.5 * train_rmse(baselines.ItemMeanUserBias().fit(**train))
  again = baselines.MatrixFactorization(rank=2, reg=0.1, reg_bias=0.1, epochs=20, seed=7)
  np.testing.assert_array_equal(again.fit(**train).item_factors, mf.item_factors)
  other = baselines.MatrixFactorization(rank=2, reg=0.1, reg_bias=0.1, epochs=20, seed=8)
  assert not np.array_equal(other.fit(**train).item_factors, mf.item_factors)


def test_mf_unseen_item_uses_bias_fallback():
  model = baselines.MatrixFactorization(rank=2, reg=1.0, reg_bias=1.0, epochs=3).fit(
      **TRAIN)
  np.testing.assert_array_equal(model.item_factors[3], [0.0, 0.0])
  assert model.item_bias[3] == 0.0
  p, b = model.fold_in(BATCH["support"]["item"], BATCH["support"]["y"],
                       BATCH["support"]["mask"])
  pred = model.predict_batch(BATCH)
  assert pred[0, 1] == pytest.approx(model.mu + b[0])  # query item 3
  # Empty support: p = 0, b = 0, so the prediction is mu + b_i.
  np.testing.assert_array_equal(p[1], [0.0, 0.0])
  assert pred[1, 0] == pytest.approx(model.mu + model.item_bias[0])


def test_ridge_solve_matches_normal_equations():
  rng = np.random.default_rng(0)
  design, target = rng.normal(size=(6, 3)), rng.normal(size=6)
  reg = np.array([0.5, 1.0, 2.0])
  expected = np.linalg.inv(design.T @ design + np.diag(reg)) @ design.T @ target
  np.testing.assert_allclose(baselines.ridge_solve(design, target, reg), expected)


def test_grid_search_picks_best_validation_point():
  val = [_batch([([(0, 5.0)], [(0, 5.0), (1, 1.0), (3, 2.0)]),
                 ([(1, 2.0)], [(2, 3.0), (1, 2.0)])])]
  grid = {"damping": [1000.0, 2.0, 0.0]}  # validation RMSE 1.22, 0.85, 0.79
  result = baselines.grid_search(baselines.ItemMean, grid, TRAIN, val, metric="rmse")
  query = val[0]["query"]
  direct = [metrics.rmse(baselines.ItemMean(damping=d).fit(**TRAIN).predict_batch(val[0]),
                         query["y"], query["mask"]) for d in grid["damping"]]
  assert [score for _, score in result.scores] == pytest.approx(direct)
  assert result.best_params == {"damping": grid["damping"][int(np.argmin(direct))]}
  assert result.best_score == pytest.approx(min(direct))
  np.testing.assert_array_equal(
      result.best_baseline.item_mean,
      baselines.ItemMean(**result.best_params).fit(**TRAIN).item_mean)
  assert result.best_params == {"damping": 0.0}
  # nDCG@2 is maximised: 0.978, 1, 1 -> the tie keeps the earlier point, damping 2.
  positional = baselines.grid_search(baselines.ItemMean, {"damping": [0.0, 2.0, 1000.0]},
                                     tuple(TRAIN.values()), val, metric="ndcg@2")
  assert positional.best_params == {"damping": 2.0}
  assert positional.best_score == pytest.approx(1.0)


def test_grid_search_errors():
  val = [BATCH]
  with pytest.raises(ValueError, match="grid entry 'damping' has no values"):
    baselines.grid_search(baselines.ItemMean, {"damping": []}, TRAIN, val)
  with pytest.raises(ValueError, match="unknown metric 'bogus'"):
    baselines.grid_search(baselines.ItemMean, {}, TRAIN, val, metric="bogus")
  with pytest.raises(ValueError, match="must end in '@<integer k>'"):
    baselines.grid_search(baselines.ItemMean, {}, TRAIN, val, metric="ndcg@x")


def test_baseline_input_errors():
  with pytest.raises(ValueError, match="ItemMean.predict called before fit"):
    baselines.ItemMean().predict_batch(BATCH)
  with pytest.raises(ValueError, match="'damping' must be finite and >= 0"):
    baselines.ItemMean(damping=-1.0)
  with pytest.raises(ValueError, match=r"'item' has id 4 outside \[0, 4\)"):
    baselines.GlobalMean().fit(TRAIN["user"], [0, 1, 0, 2, 4], TRAIN["y"], 3, 4)
  with pytest.raises(ValueError, match="training arrays differ in length"):
    baselines.GlobalMean().fit([0], [0, 1], [1.0], 3, 4)
  model = baselines.GlobalMean().fit(**TRAIN)
  with pytest.raises(ValueError, match=r"'query_item' has id 9 outside \[0, 4\)"):
    model.predict([[0]], [[1.0]], [[1.0]], [[9]])
  with pytest.raises(ValueError, match="support shapes differ"):
    model.predict([[0, 1]], [[1.0]], [[1.0]], [[0]])
  with pytest.raises(ValueError, match="'reg', 'reg_bias' and 'fold_in_reg' must be > 0"):
    baselines.MatrixFactorization(reg=0.0)


def test_grid_search_on_a_full_catalogue_metric():
  """``full_*`` metrics rank every candidate but the support positives."""
  val = [_batch([([(0, 5.0)], [(1, 4.0), (3, 2.0)]), ([(2, 4.0)], [(0, 5.0)]), ([], [])])]
  candidates = np.arange(4)
  result = baselines.grid_search(baselines.ItemMean, {"damping": [0.0, 1000.0]}, TRAIN,
                                 val, metric="full_recall@1", candidates=candidates)
  for params, score in result.scores:
    model = baselines.ItemMean(**params).fit(**TRAIN)
    scores = model.predict(val[0]["support"]["item"], val[0]["support"]["y"],
                           val[0]["support"]["mask"], np.broadcast_to(candidates, (3, 4)))
    # task 0 excludes item 0 and has one liked item (1); task 1 excludes 2, likes 0
    expected = metrics.per_user_full_catalogue(scores[:2], [[1], [0]], [[0], [2]], ks=1)
    assert score == pytest.approx(np.mean(expected["recall@1"]))
  with pytest.raises(ValueError, match="ranks a candidate catalogue: pass candidates"):
    baselines.grid_search(baselines.ItemMean, {}, TRAIN, val, metric="full_ndcg@10")
