"""Masked per-task losses ``(scores, y, mask) -> scalar``.

Every loss is a weighted mean over the rows (or row pairs) whose mask is
positive; when no row counts, the loss (and its gradient) is exactly 0, so padded
tasks change nothing. Rows with mask 0 are excluded with ``jnp.where``, so any
finite score or label there leaves the value and gradient unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp

LossFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]

PART_KEYS = ("user", "item", "y", "mask")


def _masked_mean(values: jax.Array, weights: jax.Array) -> jax.Array:
  """``sum(w * v) / sum(w)`` over entries with ``w > 0``; 0 when there are none."""
  keep = weights > 0
  total = jnp.sum(jnp.where(keep, weights, 0.0))
  summed = jnp.sum(jnp.where(keep, weights * values, 0.0))
  return summed / jnp.where(total > 0, total, 1.0)


def mse(scores: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
  """Masked mean squared error.

  ``L = sum_i m_i (s_i - y_i)^2 / sum_i m_i`` (0 when ``sum_i m_i = 0``).

  Args:
    scores: ``float32[S]`` predicted ratings.
    y: ``float32[S]`` target ratings.
    mask: ``float32[S]``, 1 for real rows and 0 for padding.

  Returns:
    A scalar.
  """
  return _masked_mean(jnp.square(scores - y), mask)


def bce(scores: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
  """Masked binary cross-entropy on logits (implicit feedback, ``y`` in {0, 1}).

  ``l_i = -y_i log sigmoid(s_i) - (1 - y_i) log(1 - sigmoid(s_i))
  = softplus(s_i) - y_i s_i`` and ``L = sum_i m_i l_i / sum_i m_i``.

  Args:
    scores: ``float32[S]`` logits.
    y: ``float32[S]`` labels, 1 for positives and 0 for sampled negatives.
    mask: ``float32[S]``, 1 for real rows and 0 for padding.

  Returns:
    A scalar.
  """
  return _masked_mean(jax.nn.softplus(scores) - y * scores, mask)


def bpr(scores: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
  """Masked Bayesian personalised ranking over all ordered pairs in the task.

  With pair weights ``P_ij = m_i m_j [y_i > y_j]`` (for ``y`` in {0, 1}: every
  positive ``i`` against every negative ``j``),
  ``L = sum_ij P_ij (-log sigmoid(s_i - s_j)) / sum_ij P_ij``
  where ``-log sigmoid(x) = softplus(-x)``; 0 when there is no pair.

  Args:
    scores: ``float32[S]`` scores.
    y: ``float32[S]`` labels (or ratings: higher should rank first).
    mask: ``float32[S]``, 1 for real rows and 0 for padding.

  Returns:
    A scalar.
  """
  pair_weight = mask[:, None] * mask[None, :] * (y[:, None] > y[None, :])
  pair_loss = jax.nn.softplus(scores[None, :] - scores[:, None])
  return _masked_mean(pair_loss, pair_weight)


LOSSES: dict[str, LossFn] = {"mse": mse, "bce": bce, "bpr": bpr}


def get_loss(name: str) -> LossFn:
  """Returns the loss called ``name``; raises ValueError for an unknown name."""
  if name not in LOSSES:
    raise ValueError(f"unknown loss '{name}' (choose from {sorted(LOSSES)})")
  return LOSSES[name]


def check_part(part: Mapping[str, jax.Array]) -> None:
  """Checks that a task part has ``user``, ``item``, ``y`` and ``mask`` entries.

  Raises:
    ValueError: an entry is missing; the message names it (padded batches need a
      ``"mask"`` so that padding is excluded from the loss).
  """
  missing = [k for k in PART_KEYS if k not in part]
  if missing:
    raise ValueError(f"batch part is missing {missing} (has {sorted(part)}); the batch "
                     "needs 'user', 'item', 'y' and a 'mask' marking real rows with 1")
