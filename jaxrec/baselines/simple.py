"""Mean and popularity baselines.

Notation: ``mu`` is the global mean training rating; for a task, the support
rows are ``(j, r_j)`` with ``n`` real rows; ``q`` is a query item.
"""

from __future__ import annotations

from typing import Self

import numpy as np

from jaxrec.baselines import base
from jaxrec.metrics.catalogue import item_popularity


class GlobalMean(base.Baseline):
  """Predicts the global mean training rating ``mu`` for every query row."""

  def fit(self, user, item, y, num_users: int, num_items: int) -> Self:
    """Sets ``mu = mean(y)`` from training arrays ``[N]``; raises ValueError on bad input."""
    _, _, y = base.training_arrays(user, item, y, num_users, num_items)
    self.mu, self.num_items = float(y.mean()), num_items
    return self

  def predict(self, support_item, support_y, support_mask, query_item) -> np.ndarray:
    """``float64[B, Q]`` filled with ``mu``; raises ValueError on bad input or before fit."""
    _, _, _, query_item = base.episode_arrays(
        support_item, support_y, support_mask, query_item, base.check_fitted(self))
    return np.full(query_item.shape, self.mu)


class UserMean(base.Baseline):
  """Predicts the mean of the user's support ratings, ``mean_j r_j``.

  A user with an empty support set gets the global training mean ``mu``.
  """

  def fit(self, user, item, y, num_users: int, num_items: int) -> Self:
    """Sets the fallback ``mu = mean(y)``; raises ValueError on bad input."""
    _, _, y = base.training_arrays(user, item, y, num_users, num_items)
    self.mu, self.num_items = float(y.mean()), num_items
    return self

  def predict(self, support_item, support_y, support_mask, query_item) -> np.ndarray:
    """``float64[B, Q]``: row ``b`` is the support mean of task ``b`` (``mu`` if empty).

    Raises ValueError on bad input or before fit.
    """
    _, support_y, real, query_item = base.episode_arrays(
        support_item, support_y, support_mask, query_item, base.check_fitted(self))
    count = real.sum(axis=1)
    user_mean = np.where(count > 0, support_y.sum(axis=1) / np.maximum(count, 1), self.mu)
    return np.broadcast_to(user_mean[:, None], query_item.shape).copy()


class ItemMean(base.Baseline):
  """Damped item mean: ``m_q = (sum_{u} r_uq + damping * mu) / (n_q + damping)``.

  ``n_q`` counts the training ratings of item ``q``; items never rated in
  training get ``mu``. ``damping`` (``lambda >= 0``) shrinks rarely rated items
  towards the global mean.
  """

  def __init__(self, damping: float = 5.0):
    self.damping = base.check_nonnegative(damping, "damping")

  def fit(self, user, item, y, num_users: int, num_items: int) -> Self:
    """Computes ``mu`` and ``item_mean float64[I]``; raises ValueError on bad input."""
    _, item, y = base.training_arrays(user, item, y, num_users, num_items)
    self.mu, self.item_mean = damped_item_means(item, y, num_items, self.damping)
    self.num_items = num_items
    return self

  def predict(self, support_item, support_y, support_mask, query_item) -> np.ndarray:
    """``float64[B, Q]``: ``item_mean[query_item]`` (the support set is unused).

    Raises ValueError on bad input or before fit.
    """
    _, _, _, query_item = base.episode_arrays(
        support_item, support_y, support_mask, query_item, base.check_fitted(self))
    return self.item_mean[query_item]


class ItemMeanUserBias(base.Baseline):
  """Damped item mean plus a damped user bias from the support residuals.

  ``pred(q) = m_q + b_u`` with ``m`` as in ``ItemMean(item_damping)`` and
  ``b_u = sum_j (r_j - m_j) / (n + user_damping)`` over the task's support rows
  (``b_u = 0`` for an empty support set).
  """

  def __init__(self, item_damping: float = 5.0, user_damping: float = 5.0):
    self.item_damping = base.check_nonnegative(item_damping, "item_damping")
    self.user_damping = base.check_nonnegative(user_damping, "user_damping")

  def fit(self, user, item, y, num_users: int, num_items: int) -> Self:
    """Computes ``mu`` and ``item_mean float64[I]``; raises ValueError on bad input."""
    _, item, y = base.training_arrays(user, item, y, num_users, num_items)
    self.mu, self.item_mean = damped_item_means(item, y, num_items, self.item_damping)
    self.num_items = num_items
    return self

  def user_bias(self, support_item, support_y, support_mask) -> np.ndarray:
    """``float64[B]``: ``b_u`` of each task from its ``[B, S]`` support arrays.

    Raises ValueError on bad input or before fit.
    """
    support_item, support_y, real, _ = base.episode_arrays(
        support_item, support_y, support_mask, support_item, base.check_fitted(self))
    residual = np.where(real, support_y - self.item_mean[support_item], 0.0).sum(axis=1)
    return damped_mean(residual, real.sum(axis=1), self.user_damping, 0.0)

  def predict(self, support_item, support_y, support_mask, query_item) -> np.ndarray:
    """``float64[B, Q]``: ``item_mean[query_item] + b_u[:, None]``.

    Raises ValueError on bad input or before fit.
    """
    _, _, _, query_item = base.episode_arrays(
        support_item, support_y, support_mask, query_item, base.check_fitted(self))
    bias = self.user_bias(support_item, support_y, support_mask)
    return self.item_mean[query_item] + bias[:, None]


class Popularity(base.Baseline):
  """Scores each query item by its training popularity (for implicit ranking).

  ``score(q) = c_q``, the number of distinct training users who interacted with
  ``q`` (``jaxrec.metrics.item_popularity``); unseen items score 0. The scores
  are counts, not ratings: use ranking metrics only.
  """

  RANKING_ONLY = True

  def fit(self, user, item, y, num_users: int, num_items: int) -> Self:
    """Counts ``popularity int64[I]``; raises ValueError on bad input."""
    user, item, _ = base.training_arrays(user, item, y, num_users, num_items)
    self.popularity = item_popularity(user, item, num_items)
    self.num_items = num_items
    return self

  def predict(self, support_item, support_y, support_mask, query_item) -> np.ndarray:
    """``float64[B, Q]``: ``popularity[query_item]``; raises ValueError on bad input."""
    _, _, _, query_item = base.episode_arrays(
        support_item, support_y, support_mask, query_item, base.check_fitted(self))
    return self.popularity[query_item].astype(np.float64)


def damped_item_means(item: np.ndarray, y: np.ndarray, num_items: int,
                      damping: float) -> tuple[float, np.ndarray]:
  """Global mean and damped per-item means of training ratings.

  ``mu = mean(y)``; ``m_i = (sum_{n: item_n = i} y_n + damping * mu) /
  (count_i + damping)``, and ``m_i = mu`` when ``count_i + damping = 0``.

  Args:
    item: ``int[N]`` validated item ids.
    y: ``float[N]`` ratings.
    num_items: ``I``.
    damping: ``>= 0``.

  Returns:
    ``(mu, float64[I])``.
  """
  mu = float(y.mean())
  total = np.bincount(item, y, minlength=num_items)
  count = np.bincount(item, minlength=num_items)
  return mu, damped_mean(total, count, damping, mu)


def damped_mean(total: np.ndarray, count: np.ndarray, damping: float,
                prior: float) -> np.ndarray:
  """``(total + damping * prior) / (count + damping)``, elementwise.

  The mean of ``count`` values summing to ``total``, shrunk towards ``prior``
  by ``damping`` pseudo-observations; ``prior`` where ``count + damping = 0``.
  Takes and returns ``float64[...]`` arrays of one shape.
  """
  denominator = np.asarray(count, np.float64) + damping
  return np.divide(total + damping * prior, denominator,
                   out=np.full(denominator.shape, float(prior)), where=denominator > 0)
