"""The stronger baselines (kNN, EASE, iALS, content, MF fold-in reg) against brute-force
numpy references on tiny data, and against `scikit-surprise` / `implicit` when installed
(the ``baselines-ref`` extra; under CI, which installs it, their absence fails)."""

import importlib
import os
import tempfile
import warnings

import numpy as np
import pytest
from scipy import sparse

from jaxrec import baselines


def _random_ratings(num_users, num_items, density, seed):
  rng = np.random.default_rng(seed)
  observed = rng.random((num_users, num_items)) < density
  user, item = np.nonzero(observed)
  y = rng.integers(1, 6, len(user)).astype(np.float64)
  return observed, dict(user=user, item=item, y=y, num_users=num_users, num_items=num_items)


def _reference(module):
  """The reference library ``module``: the test skips without it, except under CI
  (``CI`` set to anything but ``""``, ``0`` or ``false``; ``.ci/run`` sets it), whose
  test command installs the ``baselines-ref`` extra."""
  if os.environ.get("CI", "").lower() not in ("", "0", "false"):
    return importlib.import_module(module)
  return pytest.importorskip(module)


def _one_task(support_items, support_y, query_items):
  """``[1, S]`` / ``[1, Q]`` arrays of one task with a full mask."""
  support_items = np.asarray(support_items)[None]
  return (support_items, np.asarray(support_y, np.float64)[None],
          np.ones(support_items.shape), np.asarray(query_items)[None])


def test_grid_search_fits_once_per_fit_time_setting(monkeypatch):
  observed, train = _random_ratings(30, 12, 0.5, seed=0)
  fits = []
  original = baselines.MatrixFactorization.fit
  monkeypatch.setattr(baselines.MatrixFactorization, "fit",
                      lambda self, *a, **k: fits.append(self.reg) or original(self, *a, **k))
  val = [{"support": {"item": np.array([[0, 1, 2]]), "y": np.array([[5.0, 3.0, 1.0]]),
                      "mask": np.ones((1, 3))},
          "query": {"item": np.array([[3, 4, 5]]), "y": np.array([[4.0, 2.0, 5.0]]),
                    "mask": np.ones((1, 3))}}]
  grid = {"rank": (2,), "reg": (1.0, 3.0), "fold_in_reg": (0.5, 5.0, 50.0), "epochs": (3,)}
  result = baselines.grid_search(baselines.MatrixFactorization, grid, train, val)
  assert fits == [1.0, 3.0]  # one fit per reg, shared by the three fold-in regs
  batch = val[0]
  for params, score in result.scores:
    direct = baselines.MatrixFactorization(**params).fit(**train).predict_batch(batch)
    rmse = np.sqrt(np.mean((direct - batch["query"]["y"]) ** 2))
    assert score == pytest.approx(rmse)


def test_mf_fold_in_reg_is_the_fold_in_ridge_penalty():
  _, train = _random_ratings(20, 10, 0.6, seed=1)
  model = baselines.MatrixFactorization(rank=3, reg=2.0, reg_bias=0.5, epochs=4).fit(**train)
  other = model.with_params(fold_in_reg=7.0)
  assert other.item_factors is model.item_factors and model.fold_in_reg is None
  items, y, mask, _ = _one_task([0, 2, 5, 7], [4.0, 1.0, 5.0, 3.0], [1])
  design = np.c_[model.item_factors[items[0]], np.ones(4)]
  target = y[0] - model.mu - model.item_bias[items[0]]
  for m, reg in ((model, 2.0), (other, 7.0)):
    expected = np.linalg.solve(design.T @ design + np.diag([reg] * 3 + [0.5]),
                               design.T @ target)
    p, b = m.fold_in(items, y, mask)
    np.testing.assert_allclose(np.r_[p[0], b[0]], expected)
  with pytest.raises(ValueError, match="not prediction-time hyperparameters"):
    model.with_params(rank=2)
  with pytest.raises(ValueError, match="'fold_in_reg' must be > 0"):
    model.with_params(fold_in_reg=0.0)


def _knn_baseline_reference(observed, train, model, support, support_y, query):
  """Brute-force KNNBaseline prediction of one task, loops over items and users."""
  user, item, y = train["user"], train["item"], train["y"]
  m = model.item_mean
  res = y - m[item]
  num_users = observed.shape[0]
  user_bias = np.array([res[user == u].sum() / ((user == u).sum() + model.user_damping)
                        for u in range(num_users)])
  e = np.zeros(observed.shape)
  e[user, item] = y - m[item] - user_bias[user]
  num_items = observed.shape[1]
  sim = np.eye(num_items)
  for i in range(num_items):
    for j in range(num_items):
      common = observed[:, i] & observed[:, j]
      n = common.sum()
      if i == j or n < 2:
        continue
      den = np.sqrt((e[common, i] ** 2).sum() * (e[common, j] ** 2).sum())
      if den > 0:
        sim[i, j] = (e[common, i] * e[common, j]).sum() / den * (n - 1) / (
            n - 1 + model.shrinkage)
  b_u = (support_y - m[support]).sum() / (len(support) + model.user_damping)
  out = []
  for q in query:
    order = sorted(range(len(support)), key=lambda s: -sim[q, support[s]])
    top = order[:model.neighbours or len(support)]
    num = sum(sim[q, support[s]] * (support_y[s] - m[support[s]] - b_u) for s in top
              if sim[q, support[s]] > 0)
    den = sum(sim[q, support[s]] for s in top if sim[q, support[s]] > 0)
    out.append(m[q] + b_u + (num / den if den > 0 else 0.0))
  return np.array(out), sim


@pytest.mark.parametrize("neighbours", [0, 3])
def test_item_knn_baseline_matches_brute_force(neighbours):
  observed, train = _random_ratings(25, 9, 0.5, seed=2)
  model = baselines.ItemKNNBaseline(neighbours=neighbours, shrinkage=4.0, item_damping=2.0,
                                    user_damping=1.0).fit(**train)
  support, support_y = np.array([0, 1, 3, 4, 6]), np.array([5.0, 2.0, 4.0, 1.0, 3.0])
  query = [2, 5, 7, 8]
  expected, sim = _knn_baseline_reference(observed, train, model, support, support_y, query)
  np.testing.assert_allclose(model.similarity, sim, atol=1e-12)
  # Tiny chunks exercise the chunked query loop.
  pred = model.predict(*_one_task(support, support_y, query), max_elements=7)
  np.testing.assert_allclose(pred[0], expected, atol=1e-12)
  # A padded task gets the damped item mean (no support: no bias, no votes).
  empty = model.predict(np.zeros((1, 5), int), np.zeros((1, 5)), np.zeros((1, 5)),
                        np.array([query]))
  np.testing.assert_allclose(empty[0], model.item_mean[query])


def test_item_knn_baseline_matches_surprise():
  surprise = _reference("surprise")
  observed, train = _random_ratings(30, 15, 0.5, seed=3)
  model = baselines.ItemKNNBaseline(neighbours=5, shrinkage=3.0, item_damping=2.0,
                                    user_damping=1.0).fit(**train)
  user, item, y = train["user"], train["item"], train["y"]
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "ratings.txt")
    with open(path, "w") as f:
      f.writelines(f"{u} {i} {r}\n" for u, i, r in zip(user, item, y))
    reader = surprise.Reader(line_format="user item rating", sep=" ", rating_scale=(1, 5))
    trainset = surprise.Dataset.load_from_file(path, reader).build_full_trainset()
  algo = surprise.KNNBaseline(k=5, verbose=False, sim_options={
      "name": "pearson_baseline", "user_based": False, "shrinkage": 3.0})
  # Surprise's baselines replaced by the damped ones (its own are fit by ALS).
  residual = y - model.item_mean[item]
  user_bias = np.bincount(user, residual, 30) / (np.bincount(user, minlength=30) + 1.0)
  inner_users = [int(trainset.to_raw_uid(k)) for k in range(trainset.n_users)]
  inner_items = [int(trainset.to_raw_iid(k)) for k in range(trainset.n_items)]
  algo.compute_baselines = lambda: (user_bias[inner_users],
                                    model.item_mean[inner_items] - y.mean())
  algo.fit(trainset)
  for u in range(30):
    support, query = np.flatnonzero(observed[u]), np.flatnonzero(~observed[u])
    pred = model.predict(*_one_task(support, y[user == u], query))[0]
    theirs = [algo.predict(str(u), str(i), clip=False).est for i in query]
    np.testing.assert_allclose(pred, theirs, atol=1e-10)


def _binary(train):
  x = np.zeros((train["num_users"], train["num_items"]))
  x[train["user"], train["item"]] = 1.0
  return x


@pytest.mark.parametrize("neighbours", [0, 2])
def test_item_knn_cosine_matches_brute_force(neighbours):
  _, train = _random_ratings(20, 8, 0.4, seed=4)
  x = _binary(train)
  norm = np.sqrt(x.sum(axis=0))
  sim = (x.T @ x) / np.maximum(np.outer(norm, norm), 1e-300)
  np.fill_diagonal(sim, 0.0)
  if neighbours:  # row j keeps j's `neighbours` largest similarities
    for j in range(8):
      order = np.lexsort((np.arange(8), -sim[j]))
      sim[j, order[neighbours:]] = 0.0
  model = baselines.ItemKNN(neighbours=neighbours).fit(**train)
  np.testing.assert_allclose(model.similarity.toarray(), sim, atol=1e-12)
  # Support: positives 1, 3 and a sampled negative (y = 0) on item 6, ignored.
  pred = model.predict(*_one_task([1, 3, 6], [1.0, 1.0, 0.0], [0, 2, 6, 7]))
  np.testing.assert_allclose(pred[0], sim[1, [0, 2, 6, 7]] + sim[3, [0, 2, 6, 7]])


def test_item_knn_matches_implicit_cosine_recommender():
  implicit_nn = _reference("implicit.nearest_neighbours")
  _, train = _random_ratings(40, 12, 0.3, seed=5)
  user_items = sparse.csr_matrix(_binary(train))
  theirs = implicit_nn.CosineRecommender(K=12, num_threads=1)
  with warnings.catch_warnings():  # its own coo -> csr conversion warns
    warnings.simplefilter("ignore")
    theirs.fit(user_items, show_progress=False)
  expected = theirs.similarity.toarray()
  np.fill_diagonal(expected, 0.0)  # theirs counts an item among its own neighbours
  ours = baselines.ItemKNN(neighbours=0).fit(**train)
  np.testing.assert_allclose(ours.similarity.toarray(), expected, atol=1e-6)


def test_ease_matches_the_closed_form():
  _, train = _random_ratings(6, 10, 0.4, seed=6)  # fewer users than items
  keep = train["item"] != 9  # item 9: no training user
  train = {**train, **{k: train[k][keep] for k in ("user", "item", "y")}}
  x = _binary(train)
  p = np.linalg.inv(x.T @ x + 5.0 * np.eye(10))
  b = np.eye(10) - p / np.diag(p)[None, :]
  model = baselines.EASE(l2=5.0).fit(**train)
  np.testing.assert_allclose(model.diag_p, np.diag(p))
  # Support: positives 0, 3, 9 and a sampled negative (y = 0) on item 5, ignored.
  query = [1, 2, 5, 9]
  pred = model.predict(*_one_task([0, 3, 9, 5], [1.0, 1.0, 1.0, 0.0], query))[0]
  np.testing.assert_allclose(pred, b[0, query] + b[3, query] + b[9, query], atol=1e-12)
  assert pred[-1] == pytest.approx(0.0, abs=1e-12)  # no training user: score 0


def _ials_reference_solve(item_factors, items, confidence, reg):
  """``(Y^T Y + sum_i (c_i - 1) y_i y_i^T + reg I)^{-1} sum_i c_i y_i``."""
  y = item_factors
  a = y.T @ y + reg * np.eye(y.shape[1])
  b = np.zeros(y.shape[1])
  for i, c in zip(items, confidence):
    a += (c - 1.0) * np.outer(y[i], y[i])
    b += c * y[i]
  return np.linalg.solve(a, b)


def test_ials_training_steps_are_exact_and_descend():
  _, train = _random_ratings(25, 12, 0.4, seed=7)
  train["y"] = np.arange(1.0, len(train["y"]) + 1)  # play counts
  confidence = 1.0 + 3.0 * np.log1p(train["y"] / 2.0)
  c = np.ones((25, 12))
  c[train["user"], train["item"]] = confidence
  preference = _binary(train)

  def fit(epochs):  # cg_steps = factors: every half-step is solved exactly
    return baselines.ImplicitALS(factors=4, reg=0.5, alpha=3.0, eps=2.0, epochs=epochs,
                                 cg_steps=4).fit(**train)

  def loss(m):
    error = preference - m.user_factors @ m.item_factors.T
    return (c * error ** 2).sum() + 0.5 * ((m.user_factors ** 2).sum()
                                           + (m.item_factors ** 2).sum())
  model = fit(6)
  assert model.support_confidence == pytest.approx(confidence.mean())
  # The last half-step: each item is the exact optimum given the users.
  for i in range(12):
    rows = train["item"] == i
    expected = _ials_reference_solve(model.user_factors, train["user"][rows],
                                     confidence[rows], 0.5)
    np.testing.assert_allclose(model.item_factors[i], expected, atol=1e-8)
  losses = [loss(fit(epochs)) for epochs in (1, 2, 3, 6)]
  assert all(a >= b - 1e-9 for a, b in zip(losses, losses[1:])), losses


def test_ials_fold_in_uses_support_positives_only():
  _, train = _random_ratings(25, 12, 0.4, seed=8)
  model = baselines.ImplicitALS(factors=3, reg=1.0, alpha=5.0, epochs=5).fit(**train)
  assert model.support_confidence == 6.0  # eps None: c = 1 + alpha
  task = _one_task([2, 5, 7, 1], [1.0, 1.0, 1.0, 0.0], [0, 3, 11])
  x, b = model.fold_in(*task[:3])
  expected = _ials_reference_solve(model.item_factors, [2, 5, 7], [6.0] * 3, 1.0)
  np.testing.assert_allclose(x[0], expected, atol=1e-10)
  assert b[0] == 0.0
  np.testing.assert_allclose(model.predict(*task)[0], model.item_factors[[0, 3, 11]] @ expected)


def test_ials_fold_in_matches_implicit_recalculate_user():
  implicit_als = _reference("implicit.cpu.als")
  _, train = _random_ratings(30, 15, 0.4, seed=9)
  model = baselines.ImplicitALS(factors=4, reg=2.0, alpha=9.0, epochs=5).fit(**train)
  theirs = implicit_als.AlternatingLeastSquares(factors=4, regularization=2.0, alpha=1.0,
                                                random_state=0)
  theirs.item_factors = model.item_factors.astype(np.float32)  # no fit: our factors
  support = [0, 4, 9]
  row = sparse.csr_matrix((np.full(3, 10.0), ([0, 0, 0], support)), shape=(1, 15))
  expected = theirs.recalculate_user(0, row)  # confidence c = 10 = 1 + alpha
  x, _ = model.fold_in(*_one_task(support, [1.0] * 3, [0])[:3])
  np.testing.assert_allclose(x[0], expected, rtol=1e-4, atol=1e-5)


def test_content_knn_mean_cosine_to_liked_items():
  vectors = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0],
                      [3.0, 0.0, 4.0]])
  model = baselines.ContentKNN(vectors, like_threshold=4.0).fit([0], [0], [5.0], 1, 5)
  unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-300)
  # Liked: items 0 (5 stars) and 2 (4 stars); item 1 (3 stars) is not.
  pred = model.predict(*_one_task([0, 1, 2], [5.0, 3.0, 4.0], [1, 3, 4]))[0]
  np.testing.assert_allclose(pred, [(unit[1] @ unit[0] + unit[1] @ unit[2]) / 2, 0.0,
                                    (unit[4] @ unit[0] + unit[4] @ unit[2]) / 2])
  # Implicit: threshold 1 keeps positives, drops the sampled negative (y = 0).
  implicit = baselines.ContentKNN(sparse.csr_array(vectors), like_threshold=1.0).fit(
      [0], [0], [5.0], 1, 5)
  pred = implicit.predict(*_one_task([1, 2], [1.0, 0.0], [0, 4]))[0]
  np.testing.assert_allclose(pred, [unit[0] @ unit[1], unit[4] @ unit[1]])
  with pytest.raises(ValueError, match="'item_vectors' has 5 rows, the data 6 items"):
    baselines.ContentKNN(vectors).fit([0], [0], [5.0], 1, 6)


def test_content_to_factor_ridge_for_unseen_items():
  _, train = _random_ratings(30, 10, 0.6, seed=10)
  keep = train["item"] < 8  # items 8, 9: never rated in training
  train = {**train, **{k: train[k][keep] for k in ("user", "item", "y")}}
  mf = baselines.MatrixFactorization(rank=2, reg=1.0, epochs=5).fit(**train)
  vectors = np.random.default_rng(0).normal(size=(10, 3))
  model = baselines.ContentToFactor(vectors, mf, l2=0.7).fit(**train)
  target = np.c_[mf.item_factors[:8], mf.item_bias[:8]]
  mean = target.mean(axis=0)
  w = np.linalg.solve(vectors[:8].T @ vectors[:8] + 0.7 * np.eye(3),
                      vectors[:8].T @ (target - mean))
  predicted = mean + vectors[8:] @ w
  np.testing.assert_allclose(model.item_factors[:8], mf.item_factors[:8])
  np.testing.assert_allclose(np.c_[model.item_factors[8:], model.item_bias[8:]], predicted)
  by_sparse = baselines.ContentToFactor(sparse.csr_array(vectors), mf, l2=0.7).fit(**train)
  np.testing.assert_allclose(by_sparse.item_factors, model.item_factors)
  np.testing.assert_allclose(by_sparse.item_bias, model.item_bias)
  task = _one_task([0, 3, 5], [5.0, 2.0, 4.0], [1, 8, 9])
  p, b = mf.fold_in(*task[:3])
  expected = mf.mu + b[0] + predicted[:, 2] + predicted[:, :2] @ p[0]
  pred = model.predict(*task)[0]
  np.testing.assert_allclose(pred[1:], expected)
  assert pred[0] == pytest.approx(mf.predict(*task)[0, 0])


def test_baseline_cache_round_trip(tmp_path):
  calls = []

  def fit():
    calls.append(1)
    return {"model": baselines.ItemMean(damping=2.0)}
  key = baselines.cache.cache_key({"a": 1, "grid": (1.0, 2.0)})
  assert key == baselines.cache.cache_key({"grid": [1.0, 2.0], "a": 1})
  assert key != baselines.cache.cache_key({"a": 2, "grid": (1.0, 2.0)})
  first = baselines.cache.load_or_fit(key, fit, tmp_path)
  second = baselines.cache.load_or_fit(key, fit, tmp_path)
  assert len(calls) == 1 and second["model"].damping == first["model"].damping == 2.0
  assert [p.name for p in tmp_path.iterdir()] == [f"{key}.pkl"]  # no temporary left
  (tmp_path / f"{key}.pkl").write_bytes(b"truncated")
  baselines.cache.load_or_fit(key, fit, tmp_path)  # unreadable: refit and rewrite
  assert len(calls) == 2
  with pytest.raises(ValueError, match="must be a non-empty file name"):
    baselines.cache.load_or_fit("a/b", fit, tmp_path)
