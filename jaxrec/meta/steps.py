"""Jitted, task-batched meta-training steps ``(state, batch) -> (state, metrics)``.

The batch format, the task weights and the metrics are described in
``jaxrec.meta.parts``. Each algorithm of ``ALGORITHMS`` is one entry of
``_REGISTRY``: the function building its ``StepParts`` (``_maml_parts`` for the
MAML family, ``_reptile_parts`` for Reptile and model averaging) and the keyword
values it presets. ``make_meta_parts`` / ``make_meta_step`` build any of them;
``make_maml_step``, ``make_reptile_step`` and ``make_model_average_step`` are
``make_meta_step`` with the algorithm named.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrec.meta._checks import LossFn, PyTree, check_num_steps
from jaxrec.meta._remat import check_remat
from jaxrec.meta.core import adapt, maml_loss
from jaxrec.meta.parts import (Metrics, StepFn, StepParts, TaskSums, accumulate_sums,
                               concat_support_query, step_from_parts, task_sum,
                               task_weights)
from jaxrec.meta.state import MetaState


def _task_metrics(loss_fn: LossFn, params: PyTree, support: PyTree, query: PyTree,
                  query_loss_after: jax.Array) -> Metrics:
  """Per-task losses reported by every step (see ``jaxrec.meta.parts``)."""
  return {"query_loss_before": loss_fn(params, query),
          "query_loss_after": query_loss_after,
          "support_loss": loss_fn(params, support)}


def _optax_update(optimizer: optax.GradientTransformation, grads: PyTree,
                  opt_state: optax.OptState, variables: PyTree
                  ) -> tuple[PyTree, optax.OptState]:
  """One optax step: returns (variables + updates, new optimizer state)."""
  updates, opt_state = optimizer.update(grads, opt_state, variables)
  return optax.apply_updates(variables, updates), opt_state


def _check_state(state: MetaState, learn_inner_lr: bool) -> None:
  """Raises ValueError when ``state.inner_lr`` disagrees with ``learn_inner_lr``."""
  if learn_inner_lr and state.inner_lr is None:
    raise ValueError("learn_inner_lr=True needs the initial rates in the state: "
                     "build it with init_meta_state(params, optimizer, inner_lr)")
  if not learn_inner_lr and state.inner_lr is not None:
    raise ValueError("state.inner_lr is set (its optimizer state covers "
                     "(params, inner_lr)), but this step does not learn the inner "
                     "rate; build the state with init_meta_state(params, optimizer)")


def _maml_parts(loss_fn: LossFn, optimizer: optax.GradientTransformation, *,
                inner_lr: Any = None, num_steps: int, first_order: bool = False,
                trainable: PyTree | None = None, learn_inner_lr: bool = False,
                remat: bool | str = False, unroll: int | bool = 1,
                start: Callable[[PyTree, PyTree], PyTree] | None = None) -> StepParts:
  """The ``StepParts`` of ``make_maml_step`` (same arguments, less ``donate``).

  ``sums`` gives g_b = ∇ L_query,b(adapt_b(θ)) (w.r.t. (θ, α) with
  ``learn_inner_lr``) through one ``jax.grad`` of Σ_b w_b L_query,b;
  ``update`` applies ``optimizer``.

  Raises:
    ValueError: as ``make_maml_step``.
  """
  num_steps = check_num_steps(num_steps)
  check_remat(remat)
  if learn_inner_lr and inner_lr is not None:
    raise ValueError("make_maml_step: with learn_inner_lr=True the rates live in "
                     "state.inner_lr (init_meta_state(params, optimizer, inner_lr)); "
                     "pass inner_lr=None here")
  if not learn_inner_lr and inner_lr is None:
    raise ValueError("make_maml_step: inner_lr is required unless learn_inner_lr=True")

  def variables_of(state: MetaState) -> PyTree:
    return (state.params, state.inner_lr) if learn_inner_lr else state.params

  def objective(variables: PyTree, batch: PyTree, weights: jax.Array
                ) -> tuple[jax.Array, Metrics]:
    params, rate = variables if learn_inner_lr else (variables, inner_lr)

    def task_terms(support: PyTree, query: PyTree) -> tuple[jax.Array, Metrics]:
      initial = params if start is None else start(params, support)
      after = maml_loss(loss_fn, initial, support, query, rate, num_steps,
                        trainable=trainable, first_order=first_order, remat=remat,
                        unroll=unroll)
      return after, _task_metrics(loss_fn, params, support, query, after)

    after, per_task = jax.vmap(task_terms)(batch["support"], batch["query"])
    return task_sum(after, weights), per_task

  def sums(state: MetaState, batch: PyTree) -> TaskSums:
    _check_state(state, learn_inner_lr)
    weights = task_weights(batch)
    grads, per_task = jax.grad(objective, has_aux=True)(variables_of(state), batch,
                                                        weights)
    return TaskSums(grads, jnp.sum(weights), task_sum(per_task, weights))

  def update(state: MetaState, grads: PyTree) -> MetaState:
    variables, opt_state = _optax_update(optimizer, grads, state.opt_state,
                                         variables_of(state))
    params, rate = variables if learn_inner_lr else (variables, None)
    return state.replace(params=params, opt_state=opt_state, inner_lr=rate)

  return StepParts(sums, update)


def _reptile_parts(loss_fn: LossFn, optimizer: optax.GradientTransformation | None, *,
                   inner_lr: Any, num_steps: int, trainable: PyTree | None = None,
                   unroll: int | bool = 1) -> StepParts:
  """The ``StepParts`` of ``make_reptile_step`` (``optimizer`` given) and of
  ``make_model_average_step`` (``optimizer`` None).

  Each task b is adapted on ``concat_support_query`` of its parts, giving the
  pseudo-gradient d_b = θ − φ_b; ``update`` hands d̄ to ``optimizer``, or
  without one sets θ ← θ − d̄ (``state.opt_state`` unchanged).

  Raises:
    ValueError: for a bad ``num_steps`` or a missing ``inner_lr``.
  """
  num_steps = check_num_steps(num_steps)
  if inner_lr is None:
    raise ValueError("Reptile / model averaging need a fixed inner_lr")

  def sums(state: MetaState, batch: PyTree) -> TaskSums:
    _check_state(state, False)
    params = state.params
    weights = task_weights(batch)

    def task_terms(support: PyTree, query: PyTree, task: PyTree
                   ) -> tuple[PyTree, Metrics]:
      adapted = adapt(loss_fn, params, task, inner_lr, num_steps, trainable=trainable,
                      unroll=unroll)
      direction = jax.tree.map(operator.sub, params, adapted)
      return direction, _task_metrics(loss_fn, params, support, query,
                                      loss_fn(adapted, query))

    directions, per_task = jax.vmap(task_terms)(
        batch["support"], batch["query"], concat_support_query(batch))
    return TaskSums(task_sum(directions, weights), jnp.sum(weights),
                    task_sum(per_task, weights))

  def update(state: MetaState, direction: PyTree) -> MetaState:
    if optimizer is None:
      return state.replace(params=jax.tree.map(operator.sub, state.params, direction))
    params, opt_state = _optax_update(optimizer, direction, state.opt_state,
                                      state.params)
    return state.replace(params=params, opt_state=opt_state)

  return StepParts(sums, update)


class _Algorithm(NamedTuple):
  """How ``make_meta_parts`` builds one algorithm's ``StepParts``.

  Attributes:
    parts: ``parts(loss_fn, optimizer, **kwargs) -> StepParts``.
    presets: keyword values the algorithm fixes (passing another is an error).
    uses_optimizer: False when the outer update is fixed (the optimizer
      argument is ignored).
    requires: ``{keyword: what to pass}`` for keywords that must not be None.
  """

  parts: Callable[..., StepParts]
  presets: Mapping[str, Any] = {}
  uses_optimizer: bool = True
  requires: Mapping[str, str] = {}


_REGISTRY: dict[str, _Algorithm] = {
    "maml": _Algorithm(_maml_parts),
    "fomaml": _Algorithm(_maml_parts, presets={"first_order": True}),
    "meta_sgd": _Algorithm(_maml_parts, presets={"learn_inner_lr": True}),
    "anil": _Algorithm(_maml_parts, requires={
        "trainable": "a trainable mask (e.g. trainable_mask(params, '^head/')) so that "
                     "only the head is adapted"}),
    "reptile": _Algorithm(_reptile_parts),
    "model_average": _Algorithm(_reptile_parts, uses_optimizer=False),
}
ALGORITHMS = tuple(_REGISTRY)


def make_meta_parts(algorithm: str, loss_fn: LossFn,
                    optimizer: optax.GradientTransformation | None = None,
                    **kwargs: Any) -> StepParts:
  """The ``StepParts`` of ``make_meta_step(algorithm, ...)`` (no ``donate``);
  ``microbatches`` wraps ``sums`` in ``accumulate_sums``.

  Raises:
    ValueError: as ``make_meta_step``.
  """
  if algorithm not in _REGISTRY:
    raise ValueError(f"unknown meta-learning algorithm {algorithm!r}; expected one "
                     f"of {ALGORITHMS}")
  spec = _REGISTRY[algorithm]
  for key, hint in spec.requires.items():
    if kwargs.get(key) is None:
      raise ValueError(f"{algorithm} needs {hint}")
  for key, value in spec.presets.items():
    if kwargs.get(key, value) != value:
      raise ValueError(f"{algorithm} implies {key}={value}, got {key}={kwargs[key]}")
  if not spec.uses_optimizer:
    optimizer = None
  elif not isinstance(optimizer, optax.GradientTransformation):
    raise ValueError(f"{algorithm}: optimizer must be an optax.GradientTransformation, "
                     f"got {type(optimizer).__name__}")
  microbatches = kwargs.pop("microbatches", 1)
  parts = spec.parts(loss_fn, optimizer, **{**kwargs, **spec.presets})
  return parts._replace(sums=accumulate_sums(parts.sums, microbatches))


def make_meta_step(algorithm: str, loss_fn: LossFn,
                   optimizer: optax.GradientTransformation | None = None, *,
                   donate: bool = True, **kwargs: Any) -> StepFn:
  """The step factory for ``algorithm`` in ``ALGORITHMS``.

  ``"maml"``, ``"fomaml"`` (``first_order=True``), ``"meta_sgd"``
  (``learn_inner_lr=True``) and ``"anil"`` (MAML with the caller's
  ``trainable`` mask, e.g. ``trainable_mask(params, "^head/")``) are built like
  ``make_maml_step``; ``"reptile"`` like ``make_reptile_step``;
  ``"model_average"`` like ``make_model_average_step``, which does not use
  ``optimizer``.

  Args:
    algorithm: one of ``ALGORITHMS``.
    loss_fn: ``loss_fn(params, part) -> scalar``.
    optimizer: the outer optax optimizer.
    donate: donate the input state's buffers to the output.
    **kwargs: the other keyword arguments of the chosen factory, and
      ``microbatches`` (default 1): the number of slices the task batch is
      processed in, one after the other (``accumulate_sums``; the same update,
      with the per-task memory of B / ``microbatches`` tasks).

  Returns:
    ``step(state, batch) -> (state, metrics)``, jitted.

  Raises:
    ValueError: for an unknown algorithm, ``"anil"`` without ``trainable``,
      a keyword that contradicts the algorithm (e.g. ``"fomaml"`` with
      ``first_order=False``), a non-optax optimizer where one is used, or
      whatever the factory raises.
  """
  step = step_from_parts(make_meta_parts(algorithm, loss_fn, optimizer, **kwargs))
  return jax.jit(step, donate_argnums=(0,) if donate else ())


def make_maml_step(loss_fn: LossFn, optimizer: optax.GradientTransformation, *,
                   inner_lr: Any = None, num_steps: int, first_order: bool = False,
                   trainable: PyTree | None = None, learn_inner_lr: bool = False,
                   remat: bool | str = False, unroll: int | bool = 1,
                   start: Callable[[PyTree, PyTree], PyTree] | None = None,
                   donate: bool = True) -> StepFn:
  """A jitted MAML / FOMAML / Meta-SGD / ANIL outer step.

  The meta-loss is L(θ) = Σ_b w_b L_query,b(adapt_b(θ)) / max(Σ_b w_b, 1)
  (``maml_loss`` per task, vmapped; with ``start`` the inner loop runs from
  φ₀,b = start(θ, support_b) instead of θ); the step applies
  ``optimizer`` to ∇_θ L (and to ∇_α L with ``learn_inner_lr``, updating θ and
  α jointly).

  Args:
    loss_fn: ``loss_fn(params, part) -> scalar``.
    optimizer: the outer optax optimizer.
    inner_lr: the fixed inner rate α (scalar or pytree shaped like params);
      must be None with ``learn_inner_lr``, where α is ``state.inner_lr``.
    num_steps: inner gradient steps K ≥ 0.
    first_order: FOMAML (inner gradients treated as constants).
    trainable: optional static bool pytree of adapted leaves (ANIL).
    learn_inner_lr: Meta-SGD; the state must come from
      ``init_meta_state(params, optimizer, inner_lr)``.
    remat: what reverse mode keeps of the inner loop, bounding second-order
      memory: ``"none"`` / False, ``"steps"`` / True (one checkpoint per
      step) or ``"recompute"`` (only the loop's input; see ``adapt``).
    unroll: unroll of the inner loop's ``lax.scan`` (see ``adapt``).
    start: optional ``start(params, support) -> params``, differentiable in
      the params: where each task's inner loop starts (a closed-form fold-in,
      a set encoder; ``jaxrec.adapters``). With ``num_steps=0`` the meta-loss
      is L_query(start(θ, support)).
    donate: donate the input state's buffers to the output.

  Returns:
    ``step(state, batch) -> (state, metrics)``, jitted.

  Raises:
    ValueError: for a bad ``num_steps`` or ``remat``, a missing or superfluous
      ``inner_lr``, or a non-optax optimizer; at the first call, for a state
      that does not match ``learn_inner_lr`` or rates / masks that do not
      match the params.
  """
  return make_meta_step("maml", loss_fn, optimizer, donate=donate, inner_lr=inner_lr,
                        num_steps=num_steps, first_order=first_order, trainable=trainable,
                        learn_inner_lr=learn_inner_lr, remat=remat, unroll=unroll,
                        start=start)


def make_reptile_step(loss_fn: LossFn, optimizer: optax.GradientTransformation, *,
                      inner_lr: Any, num_steps: int, trainable: PyTree | None = None,
                      unroll: int | bool = 1, donate: bool = True) -> StepFn:
  """A jitted Reptile outer step.

  Each task is the concatenation of its support and query rows
  (``concat_support_query``); the pseudo-gradient
  d = Σ_b w_b (θ − φ_b) / max(Σ_b w_b, 1), with φ_b = ``adapt(θ)`` on task b,
  goes to ``optimizer``. With ``optax.sgd(ε)``: θ ← θ + ε (φ̄ − θ).

  Args:
    loss_fn, inner_lr, num_steps, trainable, unroll, donate: as in
      ``make_maml_step`` (``inner_lr`` is required).
    optimizer: the outer optax optimizer (state from
      ``init_meta_state(params, optimizer)``).

  Returns:
    ``step(state, batch) -> (state, metrics)``, jitted; ``query_loss_after``
    is the query loss of φ_b, which was adapted on the query rows too.

  Raises:
    ValueError: for a bad ``num_steps``, a missing ``inner_lr`` or a non-optax
      optimizer; at the first call, for a state with ``inner_lr``, parts of
      different structure, or rates / masks that do not match the params.
  """
  return make_meta_step("reptile", loss_fn, optimizer, donate=donate, inner_lr=inner_lr,
                        num_steps=num_steps, trainable=trainable, unroll=unroll)


def make_model_average_step(loss_fn: LossFn, *, inner_lr: Any, num_steps: int,
                            trainable: PyTree | None = None, unroll: int | bool = 1,
                            donate: bool = True) -> StepFn:
  """A jitted model-averaging step: θ ← Σ_b w_b φ_b / Σ_b w_b (``model_average``).

  Tasks are formed as in ``make_reptile_step``; this is Reptile with plain SGD
  at ε = 1, so there is no outer optimizer and ``state.opt_state`` passes
  through unchanged (θ itself is kept when every task is padding).

  Args:
    loss_fn, inner_lr, num_steps, trainable, unroll, donate: as in
      ``make_reptile_step``.

  Returns:
    ``step(state, batch) -> (state, metrics)``, jitted.

  Raises:
    ValueError: as ``make_reptile_step``.
  """
  return make_meta_step("model_average", loss_fn, donate=donate, inner_lr=inner_lr,
                        num_steps=num_steps, trainable=trainable, unroll=unroll)
