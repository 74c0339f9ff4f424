"""Implicit-feedback ALS (weighted matrix factorisation) with user fold-in."""

from __future__ import annotations

from typing import Self

import numpy as np
from scipy import sparse

from jaxrec.baselines import base
from jaxrec.baselines.mf import factor_scores
from jaxrec.metrics import _checks


class ImplicitALS(base.Baseline):
  """iALS (Hu, Koren & Volinsky 2008): ``score(u, i) = x_u . y_i``.

  Every (user, item) pair is a preference ``p_ui`` (1 for a training positive,
  0 otherwise) with a confidence ``c_ui``: 1 for the zeros, and for a positive
  with play count (weight) ``w``

  * ``c = 1 + alpha * log(1 + w / eps)`` when ``eps`` is a number (counts used
    as confidence),
  * ``c = 1 + alpha`` when ``eps`` is None (counts ignored).

  Training minimises ``sum_{u, i} c_ui (p_ui - x_u . y_i)^2 + reg (sum_u |x_u|^2
  + sum_i |y_i|^2)`` by alternating steps: with the items fixed each user's
  optimum solves ``(Y^T Y + sum_{i in u} (c_ui - 1) y_i y_i^T + reg I) x_u =
  sum_{i in u} c_ui y_i``, approached by ``cg_steps`` conjugate-gradient steps
  from the current ``x_u`` (Takacs, Pilaszy & Tikk 2011; the default of the
  ``implicit`` package; ``cg_steps >= factors`` solves exactly up to rounding),
  then the same for the items with the users fixed. Factors start as
  ``N(0, init_scale^2)`` from ``numpy.random.default_rng(seed)`` (zero for users
  and items without training rows, which stay zero: an unseen item scores 0).

  Prediction folds a user in by the same solve over the task's support
  positives (``y > 0``; the sampled negatives are ordinary zeros). Support
  rows carry no play count, so each gets the mean confidence of the training
  positives (``1 + alpha`` when ``eps`` is None). An empty support set gives
  ``x = 0``. ``mu = 0`` and ``item_bias = 0`` (no biases), so the model has the
  factor-model attributes ``ContentToFactor`` reads.
  """

  RANKING_ONLY = True

  def __init__(self, factors: int = 32, reg: float = 1.0, alpha: float = 10.0,
               eps: float | None = None, epochs: int = 15, cg_steps: int = 3,
               init_scale: float = 0.01, seed: int = 0):
    self.factors = _checks.positive_int(factors, "factors")
    self.epochs = _checks.positive_int(epochs, "epochs")
    self.cg_steps = _checks.positive_int(cg_steps, "cg_steps")
    self.reg = base.check_nonnegative(reg, "reg")
    if self.reg == 0:
      raise ValueError("'reg' must be > 0: the ridge systems are singular otherwise")
    self.alpha = base.check_nonnegative(alpha, "alpha")
    self.eps = None if eps is None else base.check_nonnegative(eps, "eps")
    if self.eps == 0:
      raise ValueError("'eps' must be > 0 or None")
    self.init_scale = base.check_nonnegative(init_scale, "init_scale")
    self.seed = seed

  def confidence(self, weight: np.ndarray) -> np.ndarray:
    """``float64[N]`` confidences ``c`` of positives with weights ``weight [N]``."""
    weight = np.asarray(weight, np.float64)
    if self.eps is None:
      return np.full(weight.shape, 1.0 + self.alpha)
    return 1.0 + self.alpha * np.log1p(weight / self.eps)

  def fit(self, user, item, y, num_users: int, num_items: int) -> Self:
    """Runs ``epochs`` ALS sweeps over the training positives ``[N]`` (``y`` = weight).

    Sets ``user_factors float64[U, factors]``, ``item_factors [I, factors]``,
    ``support_confidence`` (the mean training confidence), ``mu = 0`` and
    ``item_bias = zeros[I]``. Raises ValueError on bad input (including a
    negative weight).
    """
    user, item, y = base.training_arrays(user, item, y, num_users, num_items)
    if (y < 0).any():
      raise ValueError(f"negative training weight at position {np.flatnonzero(y < 0)[0]}")
    confidence = self.confidence(y)
    rng = np.random.default_rng(self.seed)
    self.user_factors = rng.normal(0.0, self.init_scale, (num_users, self.factors))
    self.item_factors = rng.normal(0.0, self.init_scale, (num_items, self.factors))
    self.user_factors[np.bincount(user, minlength=num_users) == 0] = 0.0
    self.item_factors[np.bincount(item, minlength=num_items) == 0] = 0.0
    for _ in range(self.epochs):
      self.user_factors = self._half_step(user, num_users, self.user_factors,
                                          self.item_factors, item, confidence)
      self.item_factors = self._half_step(item, num_items, self.item_factors,
                                          self.user_factors, user, confidence)
    self.support_confidence = float(confidence.mean())
    self.mu, self.item_bias = 0.0, np.zeros(num_items)
    self.num_items = num_items
    return self

  def _half_step(self, ids: np.ndarray, num: int, factors: np.ndarray, other: np.ndarray,
                 other_ids: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """``cg_steps`` conjugate-gradient steps on every entity's system at once.

    Entity ``e`` (``factors[e]``, the start) solves ``A_e x = b_e`` with
    ``A_e = O^T O + reg I + sum_n (c_n - 1) o_n o_n^T`` and ``b_e = sum_n c_n o_n``
    over its rows ``n`` (``ids[n] = e``, ``o_n = other[other_ids[n]]``,
    ``c_n = confidence[n]``). Returns the new ``[num, factors]``.
    """
    rows = other[other_ids]
    owner = sparse.csr_array((np.ones(len(ids)), (ids, np.arange(len(ids)))),
                             shape=(num, len(ids)))
    shared = other.T @ other + self.reg * np.eye(self.factors)

    def matvec(x):
      along = np.einsum("nf,nf->n", rows, x[ids]) * (confidence - 1.0)
      return x @ shared + owner @ (along[:, None] * rows)

    x = factors.copy()
    residual = owner @ (confidence[:, None] * rows) - matvec(x)
    direction = residual.copy()
    norm = np.einsum("ef,ef->e", residual, residual)
    for _ in range(self.cg_steps):
      product = matvec(direction)
      curvature = np.einsum("ef,ef->e", direction, product)
      step = np.divide(norm, curvature, out=np.zeros_like(norm), where=curvature > 0)
      x += step[:, None] * direction
      residual -= step[:, None] * product
      new_norm = np.einsum("ef,ef->e", residual, residual)
      direction = residual + np.divide(new_norm, norm, out=np.zeros_like(norm),
                                       where=norm > 0)[:, None] * direction
      norm = new_norm
    return x

  def fold_in(self, support_item, support_y, support_mask) -> tuple[np.ndarray, np.ndarray]:
    """Each task's user factors from its ``[B, S]`` support positives.

    Returns ``(x float64[B, factors], b zeros[B])`` (the return of
    ``MatrixFactorization.fold_in``; iALS has no bias). Raises ValueError on
    bad input or before fit.
    """
    support_item, support_y, real, _ = base.episode_arrays(
        support_item, support_y, support_mask, support_item, base.check_fitted(self))
    positive = base.positives(support_y, real)
    return self.fold_in_weighted(support_item, positive.astype(np.float64)), np.zeros(
        len(support_item))

  def fold_in_weighted(self, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """User factors from positives of graded weight: ``float64[B, factors]``.

    Positive ``j`` of task ``b`` (item ``items[b, j]``, weight ``w_j =
    weights[b, j] >= 0``) replaces the fraction ``w_j`` of its zero term
    ``(0 - x·y_j)²`` by the positive term ``c̄ (1 - x·y_j)²`` (``c̄`` the support
    confidence), so ``w = 1`` is an ordinary support positive and ``w → 0`` has
    no effect: ``(YᵀY + reg I + (c̄ - 1) Σ_j w_j y_j y_jᵀ) x = c̄ Σ_j w_j y_j``.

    Args:
      items: ``int[B, S]`` item ids.
      weights: ``float[B, S]`` weights (0: padding).

    Raises:
      ValueError: before fit, mismatched shapes, or a negative weight.
    """
    base.check_fitted(self)
    items, weights = np.asarray(items), np.asarray(weights, np.float64)
    if items.shape != weights.shape or items.ndim != 2:
      raise ValueError(f"items {items.shape} and weights {weights.shape} must be the same "
                       "[B, S] shape")
    if (weights < 0).any():
      raise ValueError("weights must be >= 0")
    design, c = self.item_factors[items], self.support_confidence
    gram = np.einsum("bs,bsf,bsg->bfg", (c - 1.0) * weights, design, design) + (
        self.item_factors.T @ self.item_factors + self.reg * np.eye(self.factors))
    rhs = np.einsum("bs,bsf->bf", c * weights, design)
    return np.linalg.solve(gram, rhs[..., None])[..., 0]

  def predict(self, support_item, support_y, support_mask, query_item) -> np.ndarray:
    """``float64[B, Q]``: ``item_factors[q] . x`` with ``x`` folded in per task.

    Raises ValueError on bad input or before fit.
    """
    _, _, _, query_item = base.episode_arrays(
        support_item, support_y, support_mask, query_item, base.check_fitted(self))
    x, _ = self.fold_in(support_item, support_y, support_mask)
    return factor_scores(x, self.item_factors, query_item)
