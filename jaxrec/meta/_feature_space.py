"""The MAML inner loop carried in feature space, for losses with a linear input layer.

For a ``LinearInputLossFn`` whose first linear layer ``H = [u; X] W + b`` is
adapted with a scalar α, a gradient step on ``W`` moves ``H`` by
``−α (X̃ X̃ᵀ) D`` (``D = ∂L/∂H``), so ``maml_loss`` can carry ``H`` through the
inner loop instead of ``W`` (``feature_space_maml_loss``): an exact rewriting
with fewer FLOPs per step and a smaller carry. ``feature_space_obstacle`` says
why it does not apply to a given call.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
from jax import lax

from jaxrec.meta._checks import (LossFn, PyTree, adapted_index, is_scalar_rate, leaf_paths,
                                 merger)
from jaxrec.meta._remat import checkpointed, inner_loop
from jaxrec.meta._staged import StagedLossFn, prepare_is_frozen


@runtime_checkable
class LinearInputLossFn(StagedLossFn, Protocol):
  """A staged loss whose ``head`` starts with a linear layer on fixed features.

  With ``(u, T, r) = linear_inputs(features)`` (``u: float[p]`` shared by the
  task's rows; ``X = T[r]: float[S, q]`` one row each, gathered from a table
  ``T: float[N, q]`` by ``r: int[S]``, or ``X = T`` when ``r`` is None),
  ``W`` and ``b`` the leaves
  named by ``linear_leaves`` (``W: float[p + q, h]``, ``b: float[h]``),

    head(params, features) = head_from(params, H, features),
    H_j = [u; X_j] W + b,

  where ``head_from`` reads neither ``W`` nor ``b``. ``maml_loss`` uses this to
  run the inner loop on ``H`` instead of ``W`` (see there). It computes
  ``X W = (T W)[r]``: a table shared by every task (e.g. an item catalogue's
  features) is multiplied by ``W`` once per batch under ``jax.vmap``.
  ``jaxrec.models.LinearInputLoss`` implements it.
  """

  linear_leaves: tuple[str, str]

  def linear_inputs(self, features: PyTree
                    ) -> tuple[jax.Array, jax.Array, jax.Array | None]: ...

  def head_from(self, params: PyTree, hidden: jax.Array, features: PyTree
                ) -> jax.Array: ...


def _linear_index(loss_fn: LinearInputLossFn, params: PyTree) -> tuple[int, int]:
  """The flat indices of the kernel ``W`` and bias ``b`` named by ``linear_leaves``.

  Raises:
    ValueError: when ``params`` has no leaf of one of those names.
  """
  paths = leaf_paths(params)
  for name in loss_fn.linear_leaves:
    if name not in paths:
      raise ValueError(f"linear_leaves names '{name}', which is not a leaf of the "
                       f"params (leaves: {paths})")
  kernel, bias = (paths.index(name) for name in loss_fn.linear_leaves)
  return kernel, bias


def feature_space_obstacle(loss_fn: LossFn, params: PyTree, inner_lr: Any,
                           num_steps: int, mask: list[bool]) -> str | None:
  """Why ``maml_loss`` cannot run its inner loop on the first layer's output,
  or None when it can: for a ``LinearInputLossFn`` with a scalar α, K ≥ 1, an
  adapted kernel ``W`` and a ``prepare`` that reads no adapted leaf.

  Raises:
    ValueError: when ``linear_leaves`` or ``prepare_reads`` do not match ``params``.
  """
  if not isinstance(loss_fn, LinearInputLossFn):
    return (f"loss_fn ({type(loss_fn).__name__}) is not a LinearInputLossFn (it needs "
            f"prepare, head, prepare_reads, linear_leaves, linear_inputs, head_from)")
  if num_steps == 0:
    return "num_steps is 0 (there is no inner loop)"
  if not is_scalar_rate(inner_lr):
    return "inner_lr is not a scalar (per-parameter rates, as in Meta-SGD)"
  kernel, _ = _linear_index(loss_fn, params)
  if not mask[kernel]:
    return f"the first layer's kernel '{loss_fn.linear_leaves[0]}' is not adapted"
  if not prepare_is_frozen(loss_fn, params, mask):
    return "prepare reads an adapted leaf (its features change during the inner loop)"
  return None


def feature_space_maml_loss(loss_fn: LinearInputLossFn, params: PyTree, support: PyTree,
                            query: PyTree, inner_lr: jax.Array, num_steps: int,
                            mask: list[bool], *, first_order: bool,
                            remat: str, unroll: int | bool) -> jax.Array:
  """``maml_loss`` with the first layer's inner loop carried as its output.

  Write x̃_j = [u; X_j; 1] for row j (the 1 only when b is adapted) and W̃ for
  the matching rows of [W; b]. A gradient step on W̃ is
  W̃ₖ₊₁ = W̃ₖ − α X̃ᵀ Dₖ with Dₖ = ∂L_support/∂Hₖ, so the layer's output on any
  rows Z̃ moves by Z̃ W̃ₖ₊₁ − Z̃ W̃ₖ = −α (Z̃ X̃ᵀ) Dₖ. Hence, exactly,

    Hₖ₊₁ = Hₖ − α G Dₖ,           G  = X̃ X̃ᵀ = X Xᵀ + ‖u‖² + [b adapted],
    H^q_K = H^q_0 − α G_q Σₖ Dₖ,   G_q = X̃_q X̃ᵀ,

  and the other adapted leaves take their usual steps. With ``first_order``,
  Dₖ and the support factor X̃ of G_q are constants (as X̃ᵀ Dₖ is in FOMAML).
  Per inner step the first layer costs an [S, S] × [S, h] product instead of
  the forward and weight gradient products with W ([S, p + q] × [p + q, h]
  each), and the carry is [S, h] instead of [p + q, h]. The result, and its
  gradients w.r.t. θ and α, equal ``loss_fn(adapt(...), query)`` up to float
  rounding. Call it only where ``feature_space_obstacle`` is None.

  Returns:
    A scalar, the query loss after adaptation.

  Raises:
    ValueError: when an adapted leaf is not floating point.
  """
  leaves, treedef = jax.tree.flatten(params)
  kernel_index, bias_index = _linear_index(loss_fn, params)
  index = [i for i in adapted_index(params, mask) if i not in (kernel_index, bias_index)]
  merge = merger(leaves, treedef, index)

  def first_layer(features: PyTree) -> tuple[jax.Array, jax.Array, jax.Array]:
    shared, table, row_ids = loss_fn.linear_inputs(features)
    kernel, bias = leaves[kernel_index], leaves[bias_index]
    width = shared.shape[-1]
    projected = table @ kernel[width:]  # once per batch for a table shared by tasks
    if row_ids is not None:
      table, projected = table[row_ids], projected[row_ids]
    return shared @ kernel[:width] + projected + bias, shared, table

  support_feats = loss_fn.prepare(params, support)
  query_feats = loss_fn.prepare(params, query)
  hidden, shared, rows = first_layer(support_feats)
  query_hidden, query_shared, query_rows = first_layer(query_feats)
  bias_term = 1.0 if mask[bias_index] else 0.0
  gram = rows @ rows.T + (jnp.dot(shared, shared) + bias_term)  # unused (dropped) if K = 1
  if first_order:  # the steps X̃ᵀ Dₖ are constants: so is their support factor X̃
    shared, rows = lax.stop_gradient((shared, rows))
  query_gram = query_rows @ rows.T + (jnp.dot(query_shared, shared) + bias_term)

  def gradients(hidden: jax.Array, rest: list[jax.Array]
                ) -> tuple[jax.Array, list[jax.Array]]:
    grads = jax.grad(lambda h, r: loss_fn.head_from(merge(r), h, support_feats),
                     argnums=(0, 1))(hidden, rest)
    return lax.stop_gradient(grads) if first_order else grads

  def inner_step(carry):
    hidden, total, rest = carry
    d_hidden, d_rest = gradients(hidden, rest)
    rest = [(p - inner_lr * g).astype(p.dtype) for p, g in zip(rest, d_rest)]
    return hidden - inner_lr * (gram @ d_hidden), total + d_hidden, rest

  carry = (hidden, jnp.zeros_like(hidden), [jnp.asarray(leaves[i]) for i in index])
  if num_steps > 1:
    carry = inner_loop(inner_step, carry, num_steps - 1, remat, unroll)
  # The last step outside the loop: its support-row update is unused and dropped.
  _, total, rest = checkpointed(inner_step, remat)(carry)
  return loss_fn.head_from(merge(rest), query_hidden - inner_lr * (query_gram @ total),
                           query_feats)
