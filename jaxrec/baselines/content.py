"""Content baselines for item cold start: item vectors stand in for ratings.

Both take ``item_vectors`` (``float[I, d]``: a dense array, used without a copy,
or a ``scipy.sparse`` matrix; e.g. the side-feature one-hot vectors of
``jaxrec.prepare.item_vectors`` or the frozen text vectors
``item_table["text"]``) as a constructor argument, so an item nobody rated in
training is still scored from its vector.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg

from jaxrec.baselines import base
from jaxrec.baselines.knn import support_indicator
from jaxrec.baselines.mf import factor_scores


def sparse_item_vectors(rows: Callable[[np.ndarray], np.ndarray], num_items: int,
                        chunk: int = 2048) -> sparse.csr_array:
  """``csr_array float64[num_items, d]`` stacked from ``rows(items) -> float[n, d]``
  called on ``chunk`` consecutive item ids at a time, so that a wide one-hot
  encoding (e.g. ~12k Last.fm tags) is never dense for every item at once."""
  return sparse.vstack([sparse.csr_array(rows(np.arange(start, min(start + chunk, num_items))),
                                         dtype=np.float64)
                        for start in range(0, num_items, chunk)], format="csr")


def _as_matrix(item_vectors) -> np.ndarray | sparse.csr_array:
  """``item_vectors [I, d]`` as a floating ndarray (not copied when it is one) or a
  ``csr_array``; ValueError unless 2-D and finite."""
  if sparse.issparse(item_vectors):
    vectors = sparse.csr_array(item_vectors, dtype=np.float64)
    values = vectors.data
  else:
    vectors = np.asarray(item_vectors)
    if not np.issubdtype(vectors.dtype, np.floating):
      vectors = vectors.astype(np.float64)
    values = vectors
  if vectors.ndim != 2:
    raise ValueError(f"'item_vectors' must be 2-D [items, dim], got shape {vectors.shape}")
  if not np.isfinite(values).all():
    raise ValueError("'item_vectors' has non-finite entries")
  return vectors


def _dense(matrix) -> np.ndarray:
  """A sparse or dense matrix product as a float64 ndarray."""
  return np.asarray(matrix.toarray() if sparse.issparse(matrix) else matrix, np.float64)


def _check_rows(vectors, num_items: int, owner: str) -> None:
  if vectors.shape[0] != num_items:
    raise ValueError(f"{owner}: 'item_vectors' has {vectors.shape[0]} rows, the data "
                     f"{num_items} items")


def factor_ridge(item_vectors, target: np.ndarray, trained: np.ndarray, l2: float
                 ) -> tuple[np.ndarray, np.ndarray]:
  """The ridge map from item vectors to item parameters, with an intercept.

  ``W = argmin_W Σ_{i: trained_i} |t_i − t̄ − v_i W|² + l2 |W|²``, ``t̄`` the
  trained items' mean of ``t``: solved as ``(VᵀV + l2 I) W = Vᵀ(T − t̄)`` over the
  trained rows (a sparse LU for sparse vectors, e.g. ~12k one-hot tags).

  Args:
    item_vectors: ``float[I, d]``, dense or ``scipy.sparse``.
    target: ``float[I, k]``, e.g. each item's ``[q_i, b_i]``.
    trained: ``bool[I]``, the items whose target was fit.
    l2: the ridge penalty, ``> 0``.

  Returns:
    ``(t̄ float64[k], W float64[d, k])``: an untrained item's parameters are
    ``t̄ + v W``.

  Raises:
    ValueError: no item is ``trained``.
  """
  if not np.any(trained):
    raise ValueError("factor_ridge: no trained item to fit the map on")
  vectors = item_vectors[trained]
  mean = target[trained].mean(axis=0)
  gram = vectors.T @ vectors
  rhs = _dense(vectors.T @ (target[trained] - mean))
  if sparse.issparse(gram):
    weights = sparse_linalg.splu(
        (gram + l2 * sparse.eye_array(gram.shape[0])).tocsc()).solve(rhs)
  else:
    weights = np.linalg.solve(gram + l2 * np.eye(len(gram)), rhs)
  return mean, weights


class ContentKNN(base.Baseline):
  """Mean cosine similarity of a query item to the user's liked support items.

  ``score(q) = (1 / |L|) sum_{j in L} cos(v_q, v_j)`` with ``L`` the support
  rows with ``y >= like_threshold`` (e.g. 4 for 1-5 star ratings, 1 for
  implicit positives, which leaves out the sampled negatives ``y = 0``) and
  ``v`` the item vectors. A task with no liked item, and an item with a zero
  vector, score 0. No training statistic is used, so held-out items are scored
  like training items. Scores are not ratings: use ranking metrics.
  """

  RANKING_ONLY = True

  def __init__(self, item_vectors, like_threshold: float = 4.0):
    self.item_vectors = _as_matrix(item_vectors)
    self.like_threshold = float(like_threshold)
    if not np.isfinite(self.like_threshold):
      raise ValueError(f"'like_threshold' must be finite, got {like_threshold!r}")

  def fit(self, user, item, y, num_users: int, num_items: int) -> Self:
    """Checks the inputs (``item_vectors`` must have ``num_items`` rows) and sets
    ``norm float64[I]``; raises ValueError otherwise."""
    base.training_arrays(user, item, y, num_users, num_items)
    _check_rows(self.item_vectors, num_items, type(self).__name__)
    squares = (self.item_vectors.multiply(self.item_vectors) if sparse.issparse(
        self.item_vectors) else np.square(self.item_vectors, dtype=np.float64))
    self.norm = np.sqrt(np.asarray(squares.sum(axis=1), np.float64)).ravel()
    self.num_items = num_items
    return self

  def predict(self, support_item, support_y, support_mask, query_item) -> np.ndarray:
    """``float64[B, Q]`` mean cosine similarities (class docstring); raises
    ValueError on bad input or before fit."""
    support_item, support_y, real, query_item = base.episode_arrays(
        support_item, support_y, support_mask, query_item, base.check_fitted(self))
    liked = real & (support_y >= self.like_threshold)
    inverse_norm = np.divide(1.0, self.norm, out=np.zeros_like(self.norm),
                             where=self.norm > 0)
    weight = inverse_norm[support_item] / np.maximum(liked.sum(axis=1, keepdims=True), 1)
    profile = _dense(support_indicator(support_item, liked, self.num_items, weight)
                     @ self.item_vectors)  # [B, d]: mean of the liked items' unit vectors
    scores = _dense(self.item_vectors @ profile.T).T
    return np.take_along_axis(scores, query_item, axis=1) * inverse_norm[query_item]


class ContentToFactor(base.Baseline):
  """A fitted factor model whose items unseen in training get factors from content.

  ``factor_model`` is a fitted ``MatrixFactorization`` or ``ImplicitALS``
  (anything with ``mu``, ``item_factors [I, r]``, ``item_bias [I]`` and
  ``fold_in -> (p [B, r], b [B])``). ``fit`` regresses each training item's
  ``t_i = [q_i, b_i]`` on its vector by ridge regression with an intercept:
  ``W = argmin sum_i |t_i - t_mean - v_i W|^2 + l2 |W|^2`` over the items with
  training rows, ``t_mean`` their mean. Items without training rows get
  ``t_hat = t_mean + v W``; items with training rows keep their own factors.
  Prediction folds the user in with the factor model and scores
  ``r_hat(q) = mu + b + b_q + p . q_q`` with those factors, so for training
  items it equals the factor model.
  """

  def __init__(self, item_vectors, factor_model: base.Baseline, l2: float = 10.0):
    self.item_vectors = _as_matrix(item_vectors)
    self.factor_model = factor_model
    self.l2 = base.check_nonnegative(l2, "l2")
    if self.l2 == 0:
      raise ValueError("'l2' must be > 0: the ridge system may be singular otherwise")

  def fit(self, user, item, y, num_users: int, num_items: int) -> Self:
    """Fits the ridge map on the items of ``item [N]`` and sets ``mu``,
    ``item_factors float64[I, r]`` and ``item_bias [I]``.

    Raises ValueError on bad input, before the factor model is fit, or when
    ``item_vectors`` / the factor model do not have ``num_items`` items.
    """
    _, item, _ = base.training_arrays(user, item, y, num_users, num_items)
    owner = type(self).__name__
    _check_rows(self.item_vectors, num_items, owner)
    if base.check_fitted(self.factor_model) != num_items:
      raise ValueError(f"{owner}: the factor model was fit with "
                       f"{self.factor_model.num_items} items, the data have {num_items}")
    model = self.factor_model
    target = np.concatenate([model.item_factors, model.item_bias[:, None]], axis=1)
    trained = np.bincount(item, minlength=num_items) > 0
    mean, weights = factor_ridge(self.item_vectors, target, trained, self.l2)
    parameters = np.where(trained[:, None], target,
                          mean + _dense(self.item_vectors @ weights))
    self.mu = model.mu
    self.item_factors, self.item_bias = parameters[:, :-1], parameters[:, -1]
    self.num_items = num_items
    return self

  def predict(self, support_item, support_y, support_mask, query_item) -> np.ndarray:
    """``float64[B, Q]``: ``mu + b + item_bias[q] + item_factors[q] . p``; raises
    ValueError on bad input or before fit."""
    _, _, _, query_item = base.episode_arrays(
        support_item, support_y, support_mask, query_item, base.check_fitted(self))
    p, b = self.factor_model.fold_in(support_item, support_y, support_mask)
    return (self.mu + b[:, None] + self.item_bias[query_item]
            + factor_scores(p, self.item_factors, query_item))
