"""Item-based nearest-neighbour baselines.

``ItemKNNBaseline`` (explicit ratings) predicts a rating from the residuals of
the user's support ratings on similar items; ``ItemKNN`` (implicit feedback)
scores an item by its cosine similarity to the user's support positives.
Similarities come from the training users only; a user is represented only by
their support set, so new users are folded in with no refit.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from scipy import sparse

from jaxrec.baselines import base
from jaxrec.baselines.simple import damped_item_means, damped_mean
from jaxrec.data.splits import rank_within_user


class ItemKNNBaseline(base.Baseline):
  """Item kNN on baseline residuals (Koren's KNNBaseline, item-based).

  Baseline ``b_uj = m_j + b_u`` with ``m_j = mu + b_j`` the damped item mean
  (``ItemMean(item_damping)``) and ``b_u = sum_j (r_uj - m_j) / (n_u +
  user_damping)`` the damped user bias (``ItemMeanUserBias``): over a training
  user's training ratings in ``fit``, over the task's support ratings in
  ``predict``.

  Similarity (shrunk Pearson-baseline correlation over the ``n_ij`` training
  users who rated both items, with residuals ``e_uj = r_uj - b_uj``)::

    s_ij = (n_ij - 1) / (n_ij - 1 + shrinkage) * sum_u e_ui e_uj /
           sqrt(sum_u e_ui^2 * sum_u e_uj^2)

  (0 when ``n_ij < 2`` or a sum of squares is 0; ``s_ii = 1``).

  Prediction for query item ``q`` of a task with support ratings ``(j, r_j)``:
  the ``neighbours`` support items with the largest ``s_qj`` (``0``: all),
  of which those with ``s_qj > 0`` vote::

    r_hat(q) = b_uq + sum_j s_qj (r_j - b_uj) / sum_j s_qj

  (``b_uq`` alone when no support item votes, e.g. for an item unseen in
  training). ``neighbours`` only changes prediction (``PREDICT_PARAMS``).
  """

  PREDICT_PARAMS = ("neighbours",)

  def __init__(self, neighbours: int = 40, shrinkage: float = 100.0,
               item_damping: float = 5.0, user_damping: float = 5.0):
    self.neighbours = base.check_count(neighbours, "neighbours")
    self.shrinkage = base.check_nonnegative(shrinkage, "shrinkage")
    self.item_damping = base.check_nonnegative(item_damping, "item_damping")
    self.user_damping = base.check_nonnegative(user_damping, "user_damping")

  def fit(self, user, item, y, num_users: int, num_items: int) -> Self:
    """Computes ``mu``, ``item_mean float64[I]`` and ``similarity float64[I, I]``.

    Raises ValueError on bad input.
    """
    user, item, y = base.training_arrays(user, item, y, num_users, num_items)
    self.mu, self.item_mean = damped_item_means(item, y, num_items, self.item_damping)
    residual = y - self.item_mean[item]
    user_bias = damped_mean(np.bincount(user, residual, minlength=num_users),
                            np.bincount(user, minlength=num_users), self.user_damping, 0.0)
    rows = np.unique(user, return_inverse=True)[1]
    shape = (rows.max() + 1, num_items)
    e = sparse.csr_array((residual - user_bias[user], (rows, item)), shape=shape)
    rated = sparse.csr_array((np.ones(len(rows)), (rows, item)), shape=shape)
    e, rated = e.toarray(), rated.toarray()  # duplicates summed, like the sums above
    common = rated.T @ rated
    squares = (e * e).T @ rated  # [i, j]: sum of e_ui^2 over users who rated j
    denominator = np.sqrt(squares * squares.T)
    correlation = np.divide(e.T @ e, denominator, out=np.zeros_like(denominator),
                            where=(denominator > 0) & (common >= 2))
    self.similarity = correlation * np.divide(
        common - 1, common - 1 + self.shrinkage, out=np.zeros_like(common),
        where=common - 1 + self.shrinkage > 0)
    np.fill_diagonal(self.similarity, 1.0)
    self.num_items = num_items
    return self

  def predict(self, support_item, support_y, support_mask, query_item,
              max_elements: int = 1 << 22) -> np.ndarray:
    """``float64[B, Q]`` ratings (class docstring); queries are processed in
    chunks of at most ``max_elements`` (task, query, support) triples.

    Raises ValueError on bad input or before fit.
    """
    support_item, support_y, real, query_item = base.episode_arrays(
        support_item, support_y, support_mask, query_item, base.check_fitted(self))
    residual = np.where(real, support_y - self.item_mean[support_item], 0.0)
    user_bias = damped_mean(residual.sum(axis=1), real.sum(axis=1), self.user_damping, 0.0)
    residual = residual - user_bias[:, None]
    num_tasks, width = support_item.shape
    k = width if self.neighbours == 0 else min(self.neighbours, width)
    step = max(1, max_elements // max(1, num_tasks * width))
    out = np.empty(query_item.shape)
    for start in range(0, query_item.shape[1], step):
      query = query_item[:, start:start + step]
      # Flat indices: a few times faster than a broadcast pair of index arrays.
      sim = np.take(self.similarity, query[:, :, None] * self.num_items
                    + support_item[:, None, :])
      sim = np.where(real[:, None, :], sim, -np.inf)
      support = np.broadcast_to(residual[:, None, :], sim.shape)
      if k < width:  # the k largest similarities among the support items
        top = np.argpartition(-sim, k - 1, axis=-1)[..., :k]
        sim, support = (np.take_along_axis(a, top, axis=-1) for a in (sim, support))
      vote = np.where(sim > 0, sim, 0.0)
      total = vote.sum(axis=-1)
      weighted = (vote * support).sum(axis=-1)
      out[:, start:start + step] = np.divide(weighted, total, out=np.zeros_like(total),
                                             where=total > 0)
    return self.item_mean[query_item] + user_bias[:, None] + out


class ItemKNN(base.Baseline):
  """Item-item cosine kNN for implicit feedback.

  With ``U_i`` the set of training users with a positive on item ``i``,
  ``s_ij = |U_i & U_j| / sqrt(|U_i| |U_j|)`` for ``i != j`` (play counts are
  not used; ``s_ii = 0``). Each item ``j`` keeps its ``neighbours`` most
  similar items (``0``: all), and a task scores query item ``q`` by
  ``score(q) = sum_{j in P} s_jq`` over its support positives ``P``
  (``y > 0``): each support item votes for its neighbours, as
  ``implicit.nearest_neighbours.CosineRecommender`` does (which, unlike this
  class, counts an item among its own neighbours). Scores are not ratings:
  use ranking metrics.
  """

  RANKING_ONLY = True

  def __init__(self, neighbours: int = 100):
    self.neighbours = base.check_count(neighbours, "neighbours")

  def fit(self, user, item, y, num_users: int, num_items: int) -> Self:
    """Computes ``similarity``: a ``scipy.sparse.csr_array [I, I]`` whose row ``j``
    holds ``j``'s kept neighbours. Raises ValueError on bad input."""
    user, item, _ = base.training_arrays(user, item, y, num_users, num_items)
    x = sparse.csr_array((np.ones(len(user)), (user, item)),
                         shape=(num_users, num_items))
    x.data[:] = 1.0  # duplicate (user, item) pairs count once
    norm = np.sqrt(np.asarray(x.sum(axis=0))).ravel()
    x = x @ sparse.diags_array(np.divide(1.0, norm, out=np.zeros_like(norm),
                                         where=norm > 0))
    similarity = (x.T @ x).tocoo()
    off_diagonal = similarity.row != similarity.col
    row, col, data = (a[off_diagonal] for a in (similarity.row, similarity.col,
                                                 similarity.data))
    if self.neighbours:
      keep = rank_within_user(row, -data) < self.neighbours
      row, col, data = row[keep], col[keep], data[keep]
    self.similarity = sparse.csr_array((data, (row, col)), shape=(num_items, num_items))
    self.num_items = num_items
    return self

  def predict(self, support_item, support_y, support_mask, query_item) -> np.ndarray:
    """``float64[B, Q]``: ``sum_{j in P} s_jq`` per task; raises ValueError on bad
    input or before fit."""
    support_item, support_y, real, query_item = base.episode_arrays(
        support_item, support_y, support_mask, query_item, base.check_fitted(self))
    scores = support_indicator(support_item, base.positives(support_y, real),
                               self.num_items) @ self.similarity
    return np.take_along_axis(scores.toarray(), query_item, axis=1)


def support_indicator(support_item: np.ndarray, keep: np.ndarray, num_items: int,
                      weight: np.ndarray | None = None) -> sparse.csr_array:
  """``csr_array [B, num_items]``: ``weight`` (default 1) at ``(b, support_item[b, s])``
  for every ``keep[b, s]`` (``[B, S]`` arrays); repeated items add up."""
  rows, cols = np.nonzero(keep)
  values = np.ones(len(rows)) if weight is None else weight[rows, cols]
  return sparse.csr_array((values, (rows, support_item[rows, cols])),
                          shape=(support_item.shape[0], num_items))

