"""Biased matrix factorisation fit by alternating least squares, with user fold-in."""

from __future__ import annotations

from typing import Self

import numpy as np

from jaxrec.baselines import base
from jaxrec.metrics import _checks


class MatrixFactorization(base.Baseline):
  """Biased MF ``r_hat(u, i) = mu + b_u + b_i + p_u . q_i``, fit by ALS.

  Training minimises, over the training ratings ``(u, i, r)``,
  ``sum (r - r_hat(u, i))^2 + reg (|p_u|^2 + |q_i|^2) + reg_bias (b_u^2 + b_i^2)``
  (the penalties are per user / item, not scaled by their rating counts) with
  ``mu`` fixed to the mean training rating. Each epoch solves exactly for every
  ``(p_u, b_u)`` with the items fixed, then for every ``(q_i, b_i)`` with the
  users fixed. Factors start as ``N(0, init_scale^2)`` drawn from
  ``numpy.random.default_rng(seed)``, so fitting is deterministic given
  ``seed``; items never seen in training keep ``q_i = 0``, ``b_i = 0``, so their
  prediction is ``mu + b_u``.

  Prediction folds a user in from the task's support set ``(j, r_j)``: with item
  factors fixed, ``(p, b) = argmin sum_j (r_j - mu - b_j - b - p . q_j)^2 +
  fold_in_reg |p|^2 + reg_bias b^2`` (the ridge regression of a training user
  step, with its own factor penalty ``fold_in_reg``, default ``reg``: a user
  with a few support ratings may want more shrinkage than the training users),
  then ``r_hat(q) = mu + b + b_q + p . q_q``. An empty support set gives
  ``p = 0``, ``b = 0``. ``fold_in_reg`` only changes prediction
  (``PREDICT_PARAMS``), so ``grid_search`` fits once per other setting.
  """

  PREDICT_PARAMS = ("fold_in_reg",)

  def __init__(self, rank: int = 16, reg: float = 5.0, reg_bias: float = 5.0,
               epochs: int = 15, init_scale: float = 0.1, seed: int = 0,
               fold_in_reg: float | None = None):
    self.rank = _checks.positive_int(rank, "rank")
    self.epochs = _checks.positive_int(epochs, "epochs")
    self.reg = base.check_nonnegative(reg, "reg")
    self.reg_bias = base.check_nonnegative(reg_bias, "reg_bias")
    self.fold_in_reg = (None if fold_in_reg is None
                        else base.check_nonnegative(fold_in_reg, "fold_in_reg"))
    if self.reg == 0 or self.reg_bias == 0 or self.fold_in_reg == 0:
      raise ValueError(f"'reg', 'reg_bias' and 'fold_in_reg' must be > 0 (got {reg}, "
                       f"{reg_bias}, {fold_in_reg}): the ridge systems are singular "
                       "otherwise")
    self.init_scale = base.check_nonnegative(init_scale, "init_scale")
    self.seed = seed

  def fit(self, user, item, y, num_users: int, num_items: int) -> Self:
    """Runs ``epochs`` ALS sweeps on training arrays ``[N]``.

    Sets ``mu``, ``user_factors float64[U, rank]``, ``user_bias [U]``,
    ``item_factors [I, rank]`` and ``item_bias [I]``. Raises ValueError on bad
    input.
    """
    user, item, y = base.training_arrays(user, item, y, num_users, num_items)
    rng = np.random.default_rng(self.seed)
    self.mu = float(y.mean())
    self.user_factors = rng.normal(0.0, self.init_scale, (num_users, self.rank))
    self.item_factors = rng.normal(0.0, self.init_scale, (num_items, self.rank))
    self.item_factors[np.bincount(item, minlength=num_items) == 0] = 0.0
    self.user_bias = np.zeros(num_users)
    self.item_bias = np.zeros(num_items)
    for _ in range(self.epochs):
      self.user_factors, self.user_bias = self._als_step(
          user, num_users, self.item_factors[item], y - self.mu - self.item_bias[item])
      self.item_factors, self.item_bias = self._als_step(
          item, num_items, self.user_factors[user], y - self.mu - self.user_bias[user])
    self.num_items = num_items
    return self

  def fold_in(self, support_item, support_y, support_mask) -> tuple[np.ndarray, np.ndarray]:
    """Solves each task's user vector and bias from its ``[B, S]`` support set.

    Returns ``(p float64[B, rank], b float64[B])`` (see the class docstring).
    Raises ValueError on bad input or before fit.
    """
    support_item, support_y, real, _ = base.episode_arrays(
        support_item, support_y, support_mask, support_item, base.check_fitted(self))
    design = np.where(real[..., None], self._design(self.item_factors[support_item]), 0.0)
    target = support_y - self.mu - self.item_bias[support_item]
    fold_in_reg = self.reg if self.fold_in_reg is None else self.fold_in_reg
    solution = ridge_solve(design, target, self._reg_diagonal(fold_in_reg))
    return solution[:, :-1], solution[:, -1]

  def predict(self, support_item, support_y, support_mask, query_item) -> np.ndarray:
    """``float64[B, Q]``: ``mu + b + item_bias[q] + item_factors[q] . p`` per task.

    Raises ValueError on bad input or before fit.
    """
    _, _, _, query_item = base.episode_arrays(
        support_item, support_y, support_mask, query_item, base.check_fitted(self))
    p, b = self.fold_in(support_item, support_y, support_mask)
    return (self.mu + b[:, None] + self.item_bias[query_item]
            + factor_scores(p, self.item_factors, query_item))

  def _reg_diagonal(self, reg: float) -> np.ndarray:
    """``float64[rank + 1]``: ``reg`` on the factors, ``reg_bias`` on the bias."""
    return np.append(np.full(self.rank, reg), self.reg_bias)

  @staticmethod
  def _design(factors: np.ndarray) -> np.ndarray:
    """Appends a constant-1 column (the bias regressor) to ``factors[..., rank]``."""
    return np.concatenate([factors, np.ones(factors.shape[:-1] + (1,))], axis=-1)

  def _als_step(self, ids: np.ndarray, num: int, other_factors: np.ndarray,
                target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One half-sweep: ridge-solves ``(factor, bias)`` of every entity at once.

    Row ``n`` of the training data belongs to entity ``ids[n]``, meets the fixed
    factors ``other_factors[n]`` and has residual rating ``target[n]``. Returns
    ``([num, rank], [num])``; entities without rows get zeros.
    """
    gram, rhs = _normal_equations(ids, num, self._design(other_factors), target)
    solution = _solve_ridge(gram, rhs, self._reg_diagonal(self.reg))
    return solution[:, :-1], solution[:, -1]


def factor_scores(user_factors: np.ndarray, item_factors: np.ndarray,
                  query_item: np.ndarray) -> np.ndarray:
  """``float64[B, Q]``: ``item_factors[query_item[b, q]] . user_factors[b]``.

  Scores every item once (``[B, I]``) and gathers the queries, rather than
  gathering ``[B, Q, r]`` factors: cheaper when ``Q`` is the whole catalogue.
  """
  return np.take_along_axis(user_factors @ item_factors.T, query_item, axis=1)


def ridge_solve(design: np.ndarray, target: np.ndarray, reg_diagonal: np.ndarray
                ) -> np.ndarray:
  """Ridge regression ``w = (X^T X + diag(reg))^{-1} X^T t``, batched.

  Args:
    design: ``X float[..., n, d]`` (zero rows contribute nothing).
    target: ``t float[..., n]``.
    reg_diagonal: ``float[d]``, strictly positive.

  Returns:
    ``float64[..., d]``.
  """
  design_t = np.swapaxes(design, -1, -2)
  return _solve_ridge(design_t @ design, (design_t @ target[..., None])[..., 0], reg_diagonal)


def _solve_ridge(gram: np.ndarray, rhs: np.ndarray, reg_diagonal: np.ndarray
                 ) -> np.ndarray:
  """``w = (G + diag(reg))^{-1} r`` for batched ``G [..., d, d]`` and ``r [..., d]``."""
  return np.linalg.solve(gram + np.diag(reg_diagonal), rhs[..., None])[..., 0]


def _normal_equations(ids: np.ndarray, num: int, design: np.ndarray, target: np.ndarray,
                      weight: np.ndarray | None = None, max_rows: int = 1 << 18
                      ) -> tuple[np.ndarray, np.ndarray]:
  """``(X_e^T W_e X_e float64[num, d, d], X_e^T t_e [num, d])`` for every entity ``e``.

  ``X_e`` stacks the rows ``design[n]`` with ``ids[n] == e``, ``W_e`` is the
  diagonal of their ``weight[n]`` (default 1). Entities are grouped
  by their row count rounded up to a power of two, each group is gathered into a
  zero-padded ``[E, width, d]`` block (at most ``max_rows`` rows at a time) and
  multiplied in one batched matmul, so the cost is that of a few BLAS calls,
  not of a Python loop over entities.
  """
  counts = np.bincount(ids, minlength=num)
  order = np.argsort(ids, kind="stable")
  starts = np.cumsum(counts) - counts
  width = np.where(counts > 0, 1 << np.ceil(np.log2(np.maximum(counts, 1))).astype(int), 0)
  d = design.shape[1]
  gram, rhs = np.zeros((num, d, d)), np.zeros((num, d))
  for w in np.unique(width[width > 0]):
    group = np.nonzero(width == w)[0]
    for chunk in np.array_split(group, -(-len(group) * w // max_rows)):
      offset = np.arange(w)
      valid = offset < counts[chunk, None]
      rows = order[np.where(valid, starts[chunk, None] + offset, 0)]
      x = np.where(valid[..., None], design[rows], 0.0)
      weighted = x if weight is None else x * weight[rows][..., None]
      gram[chunk] = np.swapaxes(weighted, -1, -2) @ x
      rhs[chunk] = np.einsum("ewd,ew->ed", x, np.where(valid, target[rows], 0.0))
  return gram, rhs
