"""Gradient-based meta-learning over parameter pytrees: the algorithms.

Everything here knows only a task loss ``loss_fn(params, part) -> scalar`` and
pytrees, so it works for any JAX model. Notation: θ are the meta-parameters,
``support`` / ``query`` are one task's two parts, α is the inner learning rate
(a scalar or a pytree shaped like θ), and

  φ₀ = θ,   φₖ₊₁ = φₖ − α ⊙ ∇L_support(φₖ)   (k = 0 .. K−1)

is the inner loop of plain gradient descent. All functions are pure and compose
with ``jax.jit``, ``jax.vmap`` and ``jax.grad`` (with ``remat="recompute"``,
reverse mode once: no ``jax.jvp`` or second derivatives); ``num_steps`` (K) and
the ``trainable`` mask are static Python values.

The argument checks live in ``_checks``, the inner loop's rematerialisation in
``_remat``, the staged-loss hoisting in ``_staged`` and the feature-space MAML
loss in ``_feature_space``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxrec.meta._checks import (LossFn, PyTree, adapted_index, check_num_steps,
                                 mask_leaves, merger, path_str, rate_leaves)
from jaxrec.meta._feature_space import feature_space_maml_loss, feature_space_obstacle
from jaxrec.meta._remat import check_remat, checkpointed, inner_loop
from jaxrec.meta._staged import hoist_prepare

Selector = str | Callable[[str, Any], bool]


def adapt(loss_fn: LossFn, params: PyTree, support: PyTree, inner_lr: Any,
          num_steps: int, *, trainable: PyTree | None = None,
          first_order: bool = False, remat: bool | str = False,
          unroll: int | bool = 1) -> PyTree:
  """Adapts ``params`` to one task by ``num_steps`` of gradient descent.

  Computes φ_K with φ₀ = θ and φₖ₊₁ = φₖ − α ⊙ ∇L_support(φₖ), where
  L_support(φ) = ``loss_fn(φ, support)``, inside one ``lax.scan``. Leaves whose
  ``trainable`` flag is False stay at θ, and the inner gradient is taken with
  respect to the trainable leaves only (the frozen ones are constants of the
  inner loop, so they may even be integer arrays); they still receive their
  outer gradient when the result is differentiated w.r.t. θ.

  For a ``StagedLossFn`` whose ``prepare`` reads only frozen leaves, the
  loop-invariant features ``prepare(θ, support)`` are computed once and the
  steps differentiate ``head`` alone (the same φ_K, and the same gradients
  w.r.t. θ, which reach the frozen leaves through the features). The first
  step runs outside the ``lax.scan``, at the un-batched θ, so that under
  ``jax.vmap`` its forward products with θ are single matrix products over
  all tasks.

  Args:
    loss_fn: ``loss_fn(params, part) -> scalar``.
    params: θ, any pytree of arrays.
    support: the task part the inner loop trains on (any pytree).
    inner_lr: α, a scalar or a pytree with the structure of ``params`` whose
      leaves are scalars or of their parameter's shape (Meta-SGD rates).
    num_steps: K ≥ 0; K = 0 returns θ unchanged.
    trainable: optional pytree of Python bools with the structure of
      ``params``; None adapts every leaf.
    first_order: treat every inner gradient as a constant
      (``lax.stop_gradient``), giving FOMAML when the result is differentiated.
    remat: what reverse mode keeps of the inner loop (``check_remat``).
      ``"none"`` (False): every step's intermediate activations.
      ``"steps"`` (True): each step is a ``jax.checkpoint``, so only its
      input φₖ is kept and its activations are recomputed, memory O(K).
      ``"recompute"``: only the loop's input is kept; the backward pass
      recomputes φₖ by running the steps again from it before pulling back
      through step k ((K−1)(K−2)/2 more step evaluations than ``"steps"``,
      memory independent of K). It supports reverse mode once: not
      ``jax.jvp`` or second derivatives of the result.
    unroll: the ``lax.scan`` unroll of the steps after the first (True: all
      of them, as straight-line code XLA can fuse across; faster for short
      loops, compiles in time proportional to K). Keep 1 with ``"steps"``:
      in an unrolled loop XLA may keep what the checkpoints were to drop.
      ``"recompute"`` runs rolled loops and ignores it.

  Returns:
    φ_K, a pytree with the structure, shapes and dtypes of ``params``.

  Raises:
    ValueError: for a negative or non-integer ``num_steps``, an unknown
      ``remat``, a ``trainable`` or ``inner_lr`` whose structure does not
      match ``params``, or a trainable leaf that is not floating point.
  """
  num_steps = check_num_steps(num_steps)
  mode = check_remat(remat)
  leaves, treedef = jax.tree.flatten(params)
  mask = mask_leaves(params, trainable)
  rates = rate_leaves(params, inner_lr)
  index = adapted_index(params, mask)
  merge = merger(leaves, treedef, index)
  step_loss, support = hoist_prepare(loss_fn, params, support, mask)

  def inner_step(phi: list[jax.Array]) -> list[jax.Array]:
    grads = jax.grad(lambda p: step_loss(merge(p), support))(phi)
    if first_order:
      grads = lax.stop_gradient(grads)
    return [(p - rates[i] * g).astype(p.dtype) for i, p, g in zip(index, phi, grads)]

  adapted = [jnp.asarray(leaves[i]) for i in index]
  if num_steps:
    adapted = checkpointed(inner_step, mode)(adapted)
  if num_steps > 1:
    adapted = inner_loop(inner_step, adapted, num_steps - 1, mode, unroll)
  return merge(adapted)


def maml_loss(loss_fn: LossFn, params: PyTree, support: PyTree, query: PyTree,
              inner_lr: Any, num_steps: int, *, first_order: bool = False,
              trainable: PyTree | None = None, remat: bool | str = False,
              unroll: int | bool = 1, feature_space: bool | None = None) -> jax.Array:
  """The MAML objective of one task, L_query(φ_K(θ)).

  φ_K is ``adapt(loss_fn, θ, support, inner_lr, num_steps)``. ``jax.grad`` of
  this w.r.t. θ is the exact second-order meta-gradient
  (∏ₖ (I − α ⊙ ∇²L_support(φₖ)))ᵀ ∇L_query(φ_K) (products over the trainable
  leaves); with ``first_order=True`` the inner gradients are constants and the
  gradient is ∇L_query(φ_K) (FOMAML). It is also differentiable w.r.t. a
  pytree ``inner_lr`` (Meta-SGD learns α).

  For a ``LinearInputLossFn`` (e.g. MeLU's loss) with a scalar α whose first
  linear layer ``H = [u; X] W + b`` is adapted and whose ``prepare`` reads no
  adapted leaf, the inner loop can carry that layer's output rows instead of
  its weights, Hₖ₊₁ = Hₖ − α (X̃ X̃ᵀ) ∂L_support/∂Hₖ (an exact rewriting, see
  ``jaxrec.meta._feature_space``): fewer FLOPs per inner step and a smaller
  carry under ``remat="steps"``, the same value and gradients up to float
  rounding.

  Args:
    loss_fn, params, support, inner_lr, num_steps, trainable, first_order,
    remat, unroll: as in ``adapt``.
    query: the task part the adapted parameters are evaluated on.
    feature_space: None (default) runs the inner loop in feature space wherever
      it applies and on the weights elsewhere; True requires the feature-space
      loop; False always adapts the weights (``adapt``).

  Returns:
    A scalar, the query loss after adaptation.

  Raises:
    ValueError: as ``adapt``; for a ``feature_space`` that is not None or a
      bool; with ``feature_space=True``, naming why the feature-space loop does
      not apply (not a ``LinearInputLossFn``, K = 0, a non-scalar α, the first
      kernel frozen, or ``prepare`` reading an adapted leaf).
  """
  if feature_space is not None and not isinstance(feature_space, bool):
    raise ValueError(f"feature_space must be None, True or False, got {feature_space!r}")
  num_steps = check_num_steps(num_steps)
  mask = mask_leaves(params, trainable)
  if feature_space is not False:
    obstacle = feature_space_obstacle(loss_fn, params, inner_lr, num_steps, mask)
    if obstacle is None:
      return feature_space_maml_loss(loss_fn, params, support, query, inner_lr, num_steps,
                                     mask, first_order=first_order,
                                     remat=check_remat(remat), unroll=unroll)
    if feature_space:
      raise ValueError(f"maml_loss: feature_space=True, but the feature-space inner "
                       f"loop does not apply: {obstacle}")
  adapted = adapt(loss_fn, params, support, inner_lr, num_steps,
                  trainable=trainable, first_order=first_order, remat=remat,
                  unroll=unroll)
  return loss_fn(adapted, query)


def reptile_direction(loss_fn: LossFn, params: PyTree, task: PyTree, inner_lr: Any,
                      num_steps: int, *, trainable: PyTree | None = None,
                      unroll: int | bool = 1) -> PyTree:
  """The Reptile pseudo-gradient θ − φ_K, with φ_K = ``adapt(θ)`` on ``task``.

  Feeding it to any optax optimizer as a gradient gives Reptile; with
  ``optax.sgd(ε)`` the update is θ ← θ + ε (φ_K − θ). Frozen leaves get 0.

  Args:
    loss_fn, params, inner_lr, num_steps, trainable, unroll: as in ``adapt``.
    task: the whole task the inner loop trains on.

  Returns:
    A pytree shaped like ``params``.

  Raises:
    ValueError: as ``adapt``.
  """
  adapted = adapt(loss_fn, params, task, inner_lr, num_steps, trainable=trainable,
                  unroll=unroll)
  return jax.tree.map(operator.sub, params, adapted)


def task_mean(values: PyTree, weights: jax.Array | None = None) -> PyTree:
  """Weighted mean over the leading (task) axis of every leaf.

  Computes Σ_b w_b x_b / Σ_b w_b, with the denominator replaced by 1 when
  Σ_b w_b = 0 (so max(Σ_b w_b, 1) for 0/1 validity weights). Tasks of weight
  0 are excluded with ``jnp.where``, so even non-finite values of padded tasks
  do not reach the result.

  Args:
    values: pytree of ``[B, ...]`` arrays.
    weights: ``[B]`` non-negative task weights, or None for all ones.

  Returns:
    A pytree of ``[...]`` arrays.
  """
  def mean(x: jax.Array) -> jax.Array:
    w = jnp.ones(x.shape[0], x.dtype) if weights is None else weights.astype(x.dtype)
    total = jnp.sum(w)
    keep = jnp.reshape(w > 0, (-1,) + (1,) * (x.ndim - 1))
    weighted = jnp.tensordot(w, jnp.where(keep, x, 0), axes=1)
    return weighted / jnp.where(total > 0, total, 1)
  return jax.tree.map(mean, values)


def model_average(loss_fn: LossFn, params: PyTree, tasks: PyTree, inner_lr: Any,
                  num_steps: int, *, trainable: PyTree | None = None,
                  weights: jax.Array | None = None, unroll: int | bool = 1) -> PyTree:
  """Model averaging: θ ← mean over tasks of φ_K,b = ``adapt(θ)`` on task b.

  This is Reptile with ε = 1: it returns θ − ``task_mean``(θ − φ_K,b), which
  equals Σ_b w_b φ_K,b / Σ_b w_b (θ itself when every weight is 0). For an
  optax outer update use ``reptile_direction`` (or ``make_reptile_step``)
  with ``optax.sgd(1.0)``, which gives the same step.

  Args:
    loss_fn, params, inner_lr, num_steps, trainable, unroll: as in ``adapt``.
    tasks: pytree whose leaves have a leading task axis ``B``.
    weights: ``[B]`` task weights (0 for padded tasks), None for uniform.

  Returns:
    The averaged parameters, shaped like ``params``.

  Raises:
    ValueError: as ``adapt``.
  """
  directions = jax.vmap(lambda task: reptile_direction(
      loss_fn, params, task, inner_lr, num_steps, trainable=trainable,
      unroll=unroll))(tasks)
  return jax.tree.map(operator.sub, params, task_mean(directions, weights))


def meta_sgd_init(params: PyTree, inner_lr: float) -> PyTree:
  """Per-parameter inner learning rates α = ``inner_lr`` for Meta-SGD.

  Args:
    params: θ, a pytree of floating-point arrays.
    inner_lr: the initial rate of every entry.

  Returns:
    A pytree shaped like ``params`` (same shapes and dtypes), filled with
    ``inner_lr``.

  Raises:
    ValueError: when ``inner_lr`` is not a scalar.
  """
  if jnp.ndim(inner_lr) != 0:
    raise ValueError(f"meta_sgd_init: inner_lr must be a scalar, got shape "
                     f"{jnp.shape(inner_lr)}")
  return jax.tree.map(lambda p: jnp.full_like(p, inner_lr), params)


def trainable_mask(params: PyTree, select: Selector) -> PyTree:
  """A pytree of Python bools marking which leaves the inner loop adapts.

  Leaves are named by their ``/``-joined path, e.g. ``"head/kernel"`` for
  ``params["head"]["kernel"]`` (list indices appear as numbers). A string
  ``select`` is a regular expression that must match somewhere in the path
  (``re.search``), e.g. ``"^head/"`` for ANIL; a callable is called as
  ``select(path, leaf)`` and its truth value is used.

  Args:
    params: any pytree.
    select: regex string or ``(path: str, leaf) -> bool``.

  Returns:
    A pytree with the structure of ``params`` and bool leaves.

  Raises:
    ValueError: when ``select`` is an invalid regex or neither a string nor
      callable.
  """
  if isinstance(select, str):
    try:
      pattern = re.compile(select)
    except re.error as e:
      raise ValueError(f"trainable_mask: invalid regex {select!r}: {e}") from e

    def predicate(path: str, leaf: Any) -> bool:
      del leaf
      return pattern.search(path) is not None
  elif callable(select):
    predicate = select
  else:
    raise ValueError(f"trainable_mask: select must be a regex string or a "
                     f"callable, got {type(select).__name__}")
  return jax.tree_util.tree_map_with_path(
      lambda path, leaf: bool(predicate(path_str(path), leaf)), params)
