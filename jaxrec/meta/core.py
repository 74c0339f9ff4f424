"""Gradient-based meta-learning over parameter pytrees.

Everything here knows only a task loss ``loss_fn(params, part) -> scalar`` and
pytrees, so it works for any JAX model. Notation: θ are the meta-parameters,
``support`` / ``query`` are one task's two parts, α is the inner learning rate
(a scalar or a pytree shaped like θ), and

  φ₀ = θ,   φₖ₊₁ = φₖ − α ⊙ ∇L_support(φₖ)   (k = 0 .. K−1)

is the inner loop of plain gradient descent. All functions are pure and compose
with ``jax.jit``, ``jax.vmap`` and ``jax.grad`` (with ``remat="recompute"``,
reverse mode once: no ``jax.jvp`` or second derivatives); ``num_steps`` (K) and
the ``trainable`` mask are static Python values.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

PyTree = Any
LossFn = Callable[[PyTree, PyTree], jax.Array]
Selector = str | Callable[[str, Any], bool]


@runtime_checkable
class StagedLossFn(Protocol):
  """A loss ``loss_fn(params, part) = head(params, prepare(params, part))``.

  ``prepare_reads`` is a pytree of Python bools shaped like the params, flagging
  the leaves ``prepare`` depends on. When the inner loop adapts none of them,
  ``adapt`` computes ``prepare(θ, support)`` once and runs its gradient steps on
  ``head`` alone (exact: the flagged leaves stay at θ during adaptation).
  ``jaxrec.models.StagedLoss`` implements it.
  """

  prepare_reads: PyTree

  def prepare(self, params: PyTree, part: PyTree) -> PyTree: ...

  def head(self, params: PyTree, features: PyTree) -> jax.Array: ...

  def __call__(self, params: PyTree, part: PyTree) -> jax.Array: ...


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


def _path_str(path: tuple[Any, ...]) -> str:
  """A key path as ``"a/b/0"`` (dict keys, attribute names, list indices)."""
  return jax.tree_util.keystr(path, simple=True, separator="/")


def _leaf_paths(params: PyTree) -> list[str]:
  """The ``_path_str`` of every leaf of ``params``, in flattening order."""
  return [_path_str(path) for path, _ in jax.tree_util.tree_leaves_with_path(params)]


def check_num_steps(num_steps: Any) -> int:
  """Returns ``num_steps`` as an int after checking it is a non-negative integer.

  Raises:
    ValueError: when ``num_steps`` is a bool, not an integer, or negative.
  """
  if isinstance(num_steps, bool) or not isinstance(num_steps, int | jnp.integer):
    raise ValueError(f"num_steps must be a non-negative Python integer, got "
                     f"{num_steps!r} of type {type(num_steps).__name__}")
  if num_steps < 0:
    raise ValueError(f"num_steps must be non-negative, got {num_steps}")
  return int(num_steps)


REMAT_MODES = ("none", "steps", "recompute")


def check_remat(remat: Any) -> str:
  """Returns the inner loop's rematerialisation mode, one of ``REMAT_MODES``.

  ``False`` and ``True`` stand for ``"none"`` and ``"steps"`` (see ``adapt``).

  Raises:
    ValueError: for any other value.
  """
  if isinstance(remat, bool):
    return "steps" if remat else "none"
  if isinstance(remat, str) and remat in REMAT_MODES:
    return remat
  raise ValueError(f"remat must be a bool or one of {REMAT_MODES}, got {remat!r}")


def _mask_leaves(params: PyTree, trainable: PyTree | None) -> list[bool]:
  """The trainable mask as one bool per leaf of ``params`` (all true for None).

  Raises:
    ValueError: when ``trainable`` does not have the structure of ``params``
      or one of its leaves is not a bool.
  """
  treedef = jax.tree.structure(params)
  if trainable is None:
    return [True] * treedef.num_leaves
  mask, mask_def = jax.tree.flatten(trainable)
  if mask_def != treedef:
    raise ValueError(f"trainable must have the pytree structure of params; got "
                     f"{mask_def}, params have {treedef}")
  for path, flag in zip(_leaf_paths(params), mask):
    if not isinstance(flag, bool | jnp.bool_):
      raise ValueError(f"trainable['{path}'] must be a Python bool (the mask is "
                       f"static), got {flag!r}")
  return [bool(flag) for flag in mask]


def _rate_leaves(params: PyTree, inner_lr: Any) -> list[Any]:
  """The inner learning rate as one entry per leaf of ``params``.

  A scalar rate is repeated; a pytree of rates must have the structure of
  ``params`` and leaves that are scalars or of their parameter's shape.

  Raises:
    ValueError: when ``inner_lr`` is neither a scalar nor shaped like ``params``.
  """
  treedef = jax.tree.structure(params)
  rates, rate_def = jax.tree.flatten(inner_lr)
  if rate_def == treedef:
    for path, rate, leaf in zip(_leaf_paths(params), rates, jax.tree.leaves(params)):
      if jnp.ndim(rate) and jnp.shape(rate) != jnp.shape(leaf):
        raise ValueError(f"inner_lr['{path}'] has shape {jnp.shape(rate)}, "
                         f"expected () or the parameter's {jnp.shape(leaf)}")
    return rates
  if jax.tree_util.treedef_is_leaf(rate_def) and jnp.ndim(inner_lr) == 0:
    return [inner_lr] * treedef.num_leaves
  raise ValueError(f"inner_lr must be a scalar or a pytree with the structure of "
                   f"params ({treedef}); got {rate_def}")


def check_inner_lr(params: PyTree, inner_lr: Any) -> None:
  """Checks that ``inner_lr`` is a scalar or a pytree of rates shaped like ``params``.

  Raises:
    ValueError: naming the mismatched structure or the leaf of the wrong shape.
  """
  _rate_leaves(params, inner_lr)


def _adapted_index(params: PyTree, mask: list[bool]) -> list[int]:
  """The flat indices of the leaves ``mask`` adapts.

  Raises:
    ValueError: when an adapted leaf is not floating point (naming its path).
  """
  for path, leaf, flag in zip(_leaf_paths(params), jax.tree.leaves(params), mask):
    if flag and not jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
      raise ValueError(f"trainable leaf '{path}' has dtype "
                       f"{jnp.result_type(leaf)}; only floating-point leaves can "
                       f"be adapted (mark it False in trainable)")
  return [i for i, flag in enumerate(mask) if flag]


def _merger(leaves: list[Any], treedef: Any, index: list[int]
            ) -> Callable[[list[jax.Array]], PyTree]:
  """``merge(adapted)``: the pytree ``leaves`` with ``leaves[index[j]]`` replaced by
  ``adapted[j]``."""
  def merge(adapted: list[jax.Array]) -> PyTree:
    merged = list(leaves)
    for i, leaf in zip(index, adapted):
      merged[i] = leaf
    return jax.tree.unflatten(treedef, merged)
  return merge


def _prepare_is_frozen(loss_fn: LossFn, params: PyTree, mask: list[bool]) -> bool:
  """Whether ``loss_fn`` is a ``StagedLossFn`` whose ``prepare`` reads no leaf
  that ``mask`` adapts (so its features are constants of the inner loop).

  Raises:
    ValueError: when ``prepare_reads`` does not have the structure of ``params``.
  """
  if not isinstance(loss_fn, StagedLossFn):
    return False
  reads = _mask_leaves(params, loss_fn.prepare_reads)
  return not any(r and m for r, m in zip(reads, mask))


def _hoist_prepare(loss_fn: LossFn, params: PyTree, support: PyTree,
                   mask: list[bool]) -> tuple[LossFn, PyTree]:
  """``(head, prepare(θ, support))`` when ``_prepare_is_frozen``, else
  ``(loss_fn, support)`` unchanged."""
  if not _prepare_is_frozen(loss_fn, params, mask):
    return loss_fn, support
  return loss_fn.head, loss_fn.prepare(params, support)


def _checkpointed(step: Callable[[Any], Any], mode: str) -> Callable[[Any], Any]:
  """``step``, wrapped in ``jax.checkpoint`` unless ``mode`` is ``"none"``."""
  return step if mode == "none" else jax.checkpoint(step, prevent_cse=False)


def _inner_loop(step: Callable[[Any], Any], carry: Any, length: int, mode: str,
                unroll: int | bool) -> Any:
  """``step`` applied ``length`` times to ``carry``: a ``lax.scan`` (of
  ``_checkpointed`` steps), or ``_recomputed_loop`` for ``"recompute"``."""
  if mode == "recompute":
    return _recomputed_loop(step, carry, length)
  step = _checkpointed(step, mode)
  return lax.scan(lambda c, _: (step(c), None), carry, length=length, unroll=unroll)[0]


def _recomputed_loop(step: Callable[[Any], Any], carry: Any, length: int) -> Any:
  """``step`` applied ``length`` times, whose reverse mode keeps only ``carry``.

  The backward pass visits the steps k = length − 1, …, 0 and recomputes each
  step's input c_k by k forward steps from c_0 = ``carry``, then pulls the
  cotangent back through that step: length (length − 1) / 2 more evaluations
  of ``step`` than checkpointing every step, for memory that does not grow
  with ``length``. ``step`` is traced once (``jax.make_jaxpr``); the traced
  values it closes over (support features, θ's frozen leaves, α, batched
  data) become explicit inputs of the loop, and the floating-point ones
  receive their accumulated cotangents. The loop has a custom VJP, so it
  supports reverse-mode differentiation once (not ``jax.jvp`` or second
  derivatives).
  """
  closed, out_shape = jax.make_jaxpr(step, return_shape=True)(carry)
  out_tree = jax.tree.structure(out_shape)
  traced = [isinstance(c, jax.core.Tracer) for c in closed.consts]
  inexact = [t and jnp.issubdtype(jnp.result_type(c), jnp.inexact)
             for t, c in zip(traced, closed.consts)]
  fixed = [None if t else c for t, c in zip(traced, closed.consts)]

  def explicit_step(c: Any, floats: list[jax.Array], others: list[jax.Array]) -> Any:
    floats, others = iter(floats), iter(others)
    consts = [next(floats) if f else next(others) if t else c
              for t, f, c in zip(traced, inexact, fixed)]
    return jax.tree.unflatten(
        out_tree, jax.core.eval_jaxpr(closed.jaxpr, consts, *jax.tree.leaves(c)))

  floats = [c for c, f in zip(closed.consts, inexact) if f]
  others = [c for c, t, f in zip(closed.consts, traced, inexact) if t and not f]
  return _recomputed_run(explicit_step, length, carry, floats, others)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _recomputed_run(step: Callable[..., Any], length: int, carry: Any,
                    floats: list[jax.Array], others: list[jax.Array]) -> Any:
  return lax.fori_loop(0, length, lambda _, c: step(c, floats, others), carry)


def _recomputed_run_fwd(step, length, carry, floats, others):
  """The loop's output, and its residuals: only its inputs."""
  return _recomputed_run(step, length, carry, floats, others), (carry, floats, others)


def _recomputed_run_bwd(step, length, residuals, cotangent):
  """Pulls ``cotangent`` back through steps length − 1, …, 0, recomputing the
  input of each from the loop's input; the float inputs' cotangents add up
  (the others' are ``float0`` zeros)."""
  start, floats, others = residuals

  def back(i, acc):
    carry_ct, floats_ct = acc
    carry = lax.fori_loop(0, length - 1 - i, lambda _, c: step(c, floats, others), start)
    grads = jax.vjp(lambda c, f: step(c, f, others), carry, floats)[1](carry_ct)
    return grads[0], jax.tree.map(jnp.add, floats_ct, grads[1])

  zeros = [jnp.zeros_like(f) for f in floats]
  carry_ct, floats_ct = lax.fori_loop(0, length, back, (cotangent, zeros))
  return carry_ct, floats_ct, [np.zeros(jnp.shape(o), jax.dtypes.float0) for o in others]


_recomputed_run.defvjp(_recomputed_run_fwd, _recomputed_run_bwd)


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
  mask = _mask_leaves(params, trainable)
  rates = _rate_leaves(params, inner_lr)
  index = _adapted_index(params, mask)
  merge = _merger(leaves, treedef, index)
  step_loss, support = _hoist_prepare(loss_fn, params, support, mask)

  def inner_step(phi: list[jax.Array]) -> list[jax.Array]:
    grads = jax.grad(lambda p: step_loss(merge(p), support))(phi)
    if first_order:
      grads = lax.stop_gradient(grads)
    return [(p - rates[i] * g).astype(p.dtype) for i, p, g in zip(index, phi, grads)]

  adapted = [jnp.asarray(leaves[i]) for i in index]
  if num_steps:
    adapted = _checkpointed(inner_step, mode)(adapted)
  if num_steps > 1:
    adapted = _inner_loop(inner_step, adapted, num_steps - 1, mode, unroll)
  return merge(adapted)


def maml_loss(loss_fn: LossFn, params: PyTree, support: PyTree, query: PyTree,
              inner_lr: Any, num_steps: int, *, first_order: bool = False,
              trainable: PyTree | None = None, remat: bool | str = False,
              unroll: int | bool = 1) -> jax.Array:
  """The MAML objective of one task, L_query(φ_K(θ)).

  φ_K is ``adapt(loss_fn, θ, support, inner_lr, num_steps)``. ``jax.grad`` of
  this w.r.t. θ is the exact second-order meta-gradient
  (∏ₖ (I − α ⊙ ∇²L_support(φₖ)))ᵀ ∇L_query(φ_K) (products over the trainable
  leaves); with ``first_order=True`` the inner gradients are constants and the
  gradient is ∇L_query(φ_K) (FOMAML). It is also differentiable w.r.t. a
  pytree ``inner_lr`` (Meta-SGD learns α).

  For a ``LinearInputLossFn`` (e.g. MeLU's loss) with a scalar α whose first
  linear layer is adapted and whose ``prepare`` reads no adapted leaf, the
  inner loop carries that layer's output rows instead of its weights (an exact
  rewriting, see ``_feature_space_maml_loss``): fewer FLOPs per inner step and
  a smaller carry under ``remat="steps"``.

  Args:
    loss_fn, params, support, inner_lr, num_steps, trainable, first_order,
    remat, unroll: as in ``adapt``.
    query: the task part the adapted parameters are evaluated on.

  Returns:
    A scalar, the query loss after adaptation.

  Raises:
    ValueError: as ``adapt``.
  """
  num_steps = check_num_steps(num_steps)
  mask = _mask_leaves(params, trainable)
  if _feature_space_applies(loss_fn, params, inner_lr, num_steps, mask):
    return _feature_space_maml_loss(loss_fn, params, support, query, inner_lr, num_steps,
                                    mask, first_order=first_order,
                                    remat=check_remat(remat), unroll=unroll)
  adapted = adapt(loss_fn, params, support, inner_lr, num_steps,
                  trainable=trainable, first_order=first_order, remat=remat,
                  unroll=unroll)
  return loss_fn(adapted, query)


def _feature_space_applies(loss_fn: LossFn, params: PyTree, inner_lr: Any,
                           num_steps: int, mask: list[bool]) -> bool:
  """Whether ``maml_loss`` can run its inner loop on the first layer's output.

  It can for a ``LinearInputLossFn`` with a scalar α, K ≥ 1, an adapted kernel
  ``W`` and a ``prepare`` that reads no adapted leaf.
  """
  if not isinstance(loss_fn, LinearInputLossFn) or num_steps == 0:
    return False
  if not (jax.tree_util.treedef_is_leaf(jax.tree.structure(inner_lr))
          and jnp.ndim(inner_lr) == 0):
    return False
  kernel = _leaf_paths(params).index(loss_fn.linear_leaves[0])
  return mask[kernel] and _prepare_is_frozen(loss_fn, params, mask)


def _feature_space_maml_loss(loss_fn: LinearInputLossFn, params: PyTree, support: PyTree,
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
  Per inner step the first
  layer costs an [S, S] × [S, h] product instead of the forward and weight
  gradient products with W ([S, p + q] × [p + q, h] each), and the carry is
  [S, h] instead of [p + q, h]. The result, and its gradients w.r.t. θ and α,
  equal ``loss_fn(adapt(...), query)`` up to float rounding.
  """
  leaves, treedef = jax.tree.flatten(params)
  paths = _leaf_paths(params)
  kernel_index, bias_index = (paths.index(name) for name in loss_fn.linear_leaves)
  index = [i for i in _adapted_index(params, mask) if i not in (kernel_index, bias_index)]

  merge = _merger(leaves, treedef, index)

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
    carry = _inner_loop(inner_step, carry, num_steps - 1, remat, unroll)
  # The last step outside the loop: its support-row update is unused and dropped.
  _, total, rest = _checkpointed(inner_step, remat)(carry)
  return loss_fn.head_from(merge(rest), query_hidden - inner_lr * (query_gram @ total),
                           query_feats)


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
      lambda path, leaf: bool(predicate(_path_str(path), leaf)), params)
