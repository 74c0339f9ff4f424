"""EASE: the closed-form item-item linear autoencoder (Steck 2019)."""

from __future__ import annotations

from typing import Self

import numpy as np
from scipy import sparse

from jaxrec.baselines import base
from jaxrec.baselines.knn import support_indicator


class EASE(base.Baseline):
  """``score(q) = sum_{j in P} B_jq`` over the task's support positives ``P``.

  ``X`` is the binary training matrix (training users x items; play counts are
  not used), ``P = (X^T X + l2 I)^{-1}`` and ``B = I - P diag(1 / diag P)``,
  i.e. ``B_jq = -P_jq / P_qq`` for ``j != q`` and ``B_qq = 0``: the ridge
  regression of each item's column on the others with a zero diagonal.

  Every item is modelled, without forming the dense ``[I, I]`` matrices: with
  ``U`` training users and ``M = (X X^T + l2 I)^{-1}`` (``[U, U]``), the
  Woodbury identity gives ``P = (I - X^T M X) / l2``, so a support indicator
  row ``s`` scores ``s B = s - (s P) / diag P`` with ``s P = (s - ((s X^T) M) X)
  / l2``: ``O(U^3 + U^2 I)`` to fit, for ``U`` in the thousands (HetRec
  Last.fm: ~1.5k training users, ~14k training artists). Items no training
  user has score 0. Support rows with ``y = 0`` (sampled negatives) are
  ignored. Scores are not ratings: use ranking metrics.
  """

  RANKING_ONLY = True

  def __init__(self, l2: float = 100.0):
    self.l2 = base.check_nonnegative(l2, "l2")
    if self.l2 == 0:
      raise ValueError("'l2' must be > 0: X^T X is singular otherwise")

  def fit(self, user, item, y, num_users: int, num_items: int) -> Self:
    """Sets ``x`` (``csr_array [U, I]``, the distinct training users' rows of
    ``X``), ``m float64[U, U]`` and ``diag_p float64[I]``; raises ValueError on bad
    input."""
    user, item, _ = base.training_arrays(user, item, y, num_users, num_items)
    rows = np.unique(user, return_inverse=True)[1]
    self.x = sparse.csr_array((np.ones(len(rows)), (rows, item)),
                              shape=(rows.max() + 1, num_items))
    self.x.data[:] = 1.0  # a repeated (user, item) pair counts once
    gram = (self.x @ self.x.T).toarray()
    gram[np.diag_indices_from(gram)] += self.l2
    self.m = np.linalg.inv(gram)
    mx = self.x.T @ self.m  # [I, U] = (M X)^T (M is symmetric)
    self.diag_p = (1.0 - np.asarray(self.x.multiply(mx.T).sum(axis=0)).ravel()) / self.l2
    self.num_items = num_items
    return self

  def predict(self, support_item, support_y, support_mask, query_item) -> np.ndarray:
    """``float64[B, Q]`` scores (class docstring); raises ValueError on bad input or
    before fit."""
    support_item, support_y, real, query_item = base.episode_arrays(
        support_item, support_y, support_mask, query_item, base.check_fitted(self))
    s = support_indicator(support_item, base.positives(support_y, real), self.num_items)
    dense = s.toarray()
    users = (s @ self.x.T).toarray()  # [B, U]: s X^T
    sp = (dense - (self.x.T @ (self.m @ users.T)).T) / self.l2
    return np.take_along_axis(dense - sp / self.diag_p, query_item, axis=1)
