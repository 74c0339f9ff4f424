"""Jitted, task-batched meta-training steps ``(state, batch) -> (state, metrics)``.

A batch is ``{"support": part, "query": part}`` where every leaf of both parts has
a leading task axis ``B``; each step ``jax.vmap``s the per-task computation over
it. A task whose query part has a ``"mask"`` entry that is all zero is padding
and gets weight w_b = 0 (without a ``"mask"`` entry every task has w_b = 1);
every per-task quantity q_b is averaged as Σ_b w_b q_b / max(Σ_b w_b, 1)
(as ``task_mean``). ``loss_fn`` must be finite on an all-masked part (e.g. a
masked mean dividing by max(Σ mask, 1)), since padded tasks still run.

Metrics (averaged over valid tasks): ``query_loss_before`` = L_query(θ),
``query_loss_after`` = L_query(φ) with φ the adapted parameters the update
used, ``support_loss`` = L_support(θ), ``grad_norm`` = global norm of the
(pseudo-)gradient handed to the outer update, and ``num_tasks`` = Σ_b w_b.

Every step is built from ``StepParts``: ``sums`` reduces a batch to the weighted
sums Σ_b w_b g_b, Σ_b w_b and Σ_b w_b m_b, and ``update`` applies the outer
update to ḡ = Σ_b w_b g_b / max(Σ_b w_b, 1). ``step_from_parts`` joins them,
optionally reducing the sums across devices in between (``jaxrec.parallel``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax import lax

from jaxrec.meta.core import (LossFn, PyTree, adapt, check_inner_lr, check_num_steps,
                              check_remat, maml_loss)

Metrics = dict[str, jax.Array]
StepFn = Callable[["MetaState", PyTree], tuple["MetaState", Metrics]]


@struct.dataclass
class MetaState:
  """Meta-training state, a pytree.

  Attributes:
    step: ``int32[]`` number of outer updates done.
    params: θ, the meta-parameters.
    opt_state: the optax state of the outer optimizer: over ``params``, or
      over the pair ``(params, inner_lr)`` when ``inner_lr`` is learned.
    inner_lr: the learned inner rates (Meta-SGD: scalar or pytree shaped like
      ``params``), or None when the rate is a fixed argument of the step.
  """

  step: jax.Array
  params: PyTree
  opt_state: optax.OptState
  inner_lr: PyTree | None


def init_meta_state(params: PyTree, optimizer: optax.GradientTransformation,
                    inner_lr: Any = None) -> MetaState:
  """The state before the first outer update.

  Args:
    params: initial θ.
    optimizer: the outer optax optimizer.
    inner_lr: the initial rates to meta-learn (Meta-SGD; e.g.
      ``meta_sgd_init(params, 0.01)``, or a scalar for one learned rate), in
      which case the optimizer is initialised over ``(params, inner_lr)``; None
      (the default) for every algorithm with a fixed inner rate.

  Returns:
    A ``MetaState`` with ``step = 0``. It holds copies of ``params`` and
    ``inner_lr``, so a donating step never invalidates the caller's arrays.

  Raises:
    ValueError: when ``inner_lr`` is neither a scalar nor shaped like ``params``.
  """
  params = jax.tree.map(jnp.copy, params)
  if inner_lr is None:
    opt_state = optimizer.init(params)
  else:
    check_inner_lr(params, inner_lr)
    inner_lr = jax.tree.map(jnp.copy, inner_lr)
    opt_state = optimizer.init((params, inner_lr))
  return MetaState(step=jnp.zeros((), jnp.int32), params=params,
                   opt_state=opt_state, inner_lr=inner_lr)


def task_weights(batch: PyTree) -> jax.Array:
  """Task validity weights w_b: 1 unless ``batch["query"]["mask"][b]`` is all 0.

  Args:
    batch: ``{"support": part, "query": part}`` with leading task axis ``B``.

  Returns:
    ``float32[B]`` of 0/1; all ones when the query part has no ``"mask"``.
  """
  query = batch["query"]
  num_tasks = jax.tree.leaves(query)[0].shape[0]
  if not (isinstance(query, Mapping) and "mask" in query):
    return jnp.ones(num_tasks, jnp.float32)
  mask = jnp.reshape(query["mask"], (num_tasks, -1))
  return jnp.any(mask != 0, axis=1).astype(jnp.float32)


def concat_support_query(batch: PyTree) -> PyTree:
  """One part holding both sets of each task, for Reptile-style training.

  Leaves with a row axis (``[B, S, ...]`` and ``[B, Q, ...]``) are concatenated
  along axis 1 into ``[B, S + Q, ...]``; per-task leaves ``[B]`` (e.g.
  ``"user"``, the same in both parts) are taken from the support part.

  Args:
    batch: ``{"support": part, "query": part}``, parts of equal structure.

  Returns:
    A part with the structure of ``batch["support"]``.

  Raises:
    ValueError: when the two parts have different pytree structures.
  """
  support, query = batch["support"], batch["query"]
  if jax.tree.structure(support) != jax.tree.structure(query):
    raise ValueError(f"support and query must have the same pytree structure to be "
                     f"concatenated; got {jax.tree.structure(support)} and "
                     f"{jax.tree.structure(query)}")
  return jax.tree.map(
      lambda s, q: jnp.concatenate([s, q], axis=1) if jnp.ndim(s) >= 2 else s,
      support, query)


def _task_metrics(loss_fn: LossFn, params: PyTree, support: PyTree, query: PyTree,
                  query_loss_after: jax.Array) -> Metrics:
  """Per-task losses reported by every step (see the module docstring)."""
  return {"query_loss_before": loss_fn(params, query),
          "query_loss_after": query_loss_after,
          "support_loss": loss_fn(params, support)}


def task_sum(values: PyTree, weights: jax.Array) -> PyTree:
  """Weighted sum over the leading (task) axis of every leaf, Σ_b w_b x_b.

  Tasks of weight 0 are excluded with ``jnp.where``, so even non-finite values
  of padded tasks do not reach the result (nor, under ``jax.grad``, its
  gradient's forward value).

  Args:
    values: pytree of ``[B, ...]`` arrays.
    weights: ``[B]`` non-negative task weights.

  Returns:
    A pytree of ``[...]`` arrays.
  """
  def total(x: jax.Array) -> jax.Array:
    keep = jnp.reshape(weights > 0, (-1,) + (1,) * (x.ndim - 1))
    return jnp.tensordot(weights.astype(x.dtype), jnp.where(keep, x, 0), axes=1)
  return jax.tree.map(total, values)


class TaskSums(NamedTuple):
  """The weighted per-task sums a batch contributes to one outer update.

  Attributes:
    grads: Σ_b w_b g_b, g_b the (pseudo-)gradient of task b w.r.t. the
      optimised variables (θ, or (θ, α) for Meta-SGD).
    weight: ``float32[]`` Σ_b w_b.
    metrics: Σ_b w_b m_b for every per-task metric m (``float32[]`` each).
  """

  grads: PyTree
  weight: jax.Array
  metrics: Metrics


class StepParts(NamedTuple):
  """A meta-step split at its reduction over tasks (for data parallelism).

  Attributes:
    sums: ``sums(state, batch) -> TaskSums`` over the batch's tasks; raises
      ValueError (at trace time) for a state the step does not accept.
    update: ``update(state, grads) -> state``, the outer update with the mean
      gradient ḡ = Σ_b w_b g_b / max(Σ_b w_b, 1) (``state.step`` unchanged).
  """

  sums: Callable[[MetaState, PyTree], TaskSums]
  update: Callable[[MetaState, PyTree], MetaState]


def step_from_parts(parts: StepParts,
                    reduce: Callable[[TaskSums], TaskSums] | None = None) -> StepFn:
  """The (unjitted) step ``(state, batch) -> (state, metrics)`` of ``parts``.

  Computes the batch's ``TaskSums``, passes them through ``reduce`` (e.g. a
  ``lax.psum`` over a device axis, so that the sums cover the tasks of every
  device), divides by W = max(Σ_b w_b, 1) and applies ``parts.update`` to
  ḡ = Σ_b w_b g_b / W, incrementing ``state.step``. The metrics are
  Σ_b w_b m_b / W, ``grad_norm`` = ‖ḡ‖ and ``num_tasks`` = Σ_b w_b.

  Args:
    parts: the two halves of a meta-step (``make_meta_parts``).
    reduce: applied to the sums before averaging; None for the identity.

  Returns:
    ``step(state, batch) -> (state, metrics)``, not jitted.
  """
  def step(state: MetaState, batch: PyTree) -> tuple[MetaState, Metrics]:
    sums = parts.sums(state, batch)
    if reduce is not None:
      sums = reduce(sums)
    denom = jnp.where(sums.weight > 0, sums.weight, 1)
    grads, metrics = jax.tree.map(lambda x: x / denom.astype(x.dtype),
                                  (sums.grads, sums.metrics))
    state = parts.update(state, grads)
    return (state.replace(step=state.step + 1),
            {**metrics, "grad_norm": optax.tree.norm(grads), "num_tasks": sums.weight})
  return step


def accumulate_sums(sums: Callable[[MetaState, PyTree], TaskSums],
                    microbatches: int) -> Callable[[MetaState, PyTree], TaskSums]:
  """``sums`` over ``microbatches`` slices of the batch, added in a ``lax.scan``.

  The batch's B tasks are split into n = ``microbatches`` slices of B / n
  (slice j holds tasks j, j + n, j + 2n, ...: under a task-sharded batch each
  slice keeps the sharding), and the ``TaskSums`` of the slices are summed.
  The sums are those of the whole batch (up to float summation order), while
  the per-task working memory of one call of ``sums`` is that of B / n tasks;
  task-independent work inside ``sums`` (e.g. featurising a catalogue) runs
  once per slice.

  Raises:
    ValueError: for ``microbatches`` < 1 or not an integer; at trace time,
      when B is not a multiple of ``microbatches``.
  """
  if isinstance(microbatches, bool) or not isinstance(microbatches, int) \
      or microbatches < 1:
    raise ValueError(f"microbatches must be a positive integer, got {microbatches!r}")
  if microbatches == 1:
    return sums

  def sliced(state: MetaState, batch: PyTree) -> TaskSums:
    num_tasks = jax.tree.leaves(batch)[0].shape[0]
    if num_tasks % microbatches:
      raise ValueError(f"a batch of {num_tasks} tasks does not split into "
                       f"microbatches={microbatches} equal slices")
    slices = jax.tree.map(lambda x: jnp.moveaxis(
        x.reshape((num_tasks // microbatches, microbatches) + x.shape[1:]), 1, 0), batch)

    def add(total: TaskSums, part: PyTree) -> tuple[TaskSums, None]:
      return jax.tree.map(jnp.add, total, sums(state, part)), None

    shapes = jax.eval_shape(sums, state, jax.tree.map(lambda x: x[0], slices))
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
    return lax.scan(add, zeros, slices)[0]
  return sliced


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


def _check_optimizer(optimizer: Any, name: str) -> None:
  """Raises ValueError unless ``optimizer`` is an optax GradientTransformation."""
  if not isinstance(optimizer, optax.GradientTransformation):
    raise ValueError(f"{name}: optimizer must be an optax.GradientTransformation, "
                     f"got {type(optimizer).__name__}")


def _jit(step: StepFn, donate: bool) -> StepFn:
  """``jax.jit`` of a step, donating the state's buffers when ``donate``."""
  return jax.jit(step, donate_argnums=(0,) if donate else ())


def make_maml_parts(loss_fn: LossFn, optimizer: optax.GradientTransformation, *,
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
  _check_optimizer(optimizer, "make_maml_step")
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
  parts = make_maml_parts(loss_fn, optimizer, inner_lr=inner_lr, num_steps=num_steps,
                          first_order=first_order, trainable=trainable,
                          learn_inner_lr=learn_inner_lr, remat=remat, unroll=unroll,
                          start=start)
  return _jit(step_from_parts(parts), donate)


def _reptile_family_parts(
    loss_fn: LossFn, update: Callable[[MetaState, PyTree], MetaState], *,
    inner_lr: Any, num_steps: int, trainable: PyTree | None,
    unroll: int | bool) -> StepParts:
  """Shared ``StepParts`` of the Reptile and model-averaging steps.

  Each task b is adapted on ``concat_support_query`` of its parts, giving the
  pseudo-gradient d_b = θ − φ_b; ``update(state, d̄)`` returns the state with
  the new θ (and optimizer state).
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

  return StepParts(sums, update)


def make_reptile_parts(loss_fn: LossFn, optimizer: optax.GradientTransformation, *,
                       inner_lr: Any, num_steps: int, trainable: PyTree | None = None,
                       unroll: int | bool = 1) -> StepParts:
  """The ``StepParts`` of ``make_reptile_step`` (same arguments, less ``donate``).

  Raises:
    ValueError: as ``make_reptile_step``.
  """
  _check_optimizer(optimizer, "make_reptile_step")

  def update(state: MetaState, direction: PyTree) -> MetaState:
    params, opt_state = _optax_update(optimizer, direction, state.opt_state,
                                      state.params)
    return state.replace(params=params, opt_state=opt_state)

  return _reptile_family_parts(loss_fn, update, inner_lr=inner_lr,
                               num_steps=num_steps, trainable=trainable, unroll=unroll)


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
  parts = make_reptile_parts(loss_fn, optimizer, inner_lr=inner_lr,
                             num_steps=num_steps, trainable=trainable, unroll=unroll)
  return _jit(step_from_parts(parts), donate)


def make_model_average_parts(loss_fn: LossFn, *, inner_lr: Any, num_steps: int,
                             trainable: PyTree | None = None,
                             unroll: int | bool = 1) -> StepParts:
  """The ``StepParts`` of ``make_model_average_step`` (same arguments, less
  ``donate``); ``update`` is θ ← θ − d̄.

  Raises:
    ValueError: as ``make_model_average_step``.
  """
  def update(state: MetaState, direction: PyTree) -> MetaState:
    return state.replace(params=jax.tree.map(operator.sub, state.params, direction))

  return _reptile_family_parts(loss_fn, update, inner_lr=inner_lr,
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
  parts = make_model_average_parts(loss_fn, inner_lr=inner_lr, num_steps=num_steps,
                                   trainable=trainable, unroll=unroll)
  return _jit(step_from_parts(parts), donate)


ALGORITHMS = ("maml", "fomaml", "meta_sgd", "anil", "reptile", "model_average")


def make_meta_parts(algorithm: str, loss_fn: LossFn,
                    optimizer: optax.GradientTransformation | None = None,
                    **kwargs: Any) -> StepParts:
  """The ``StepParts`` of ``make_meta_step(algorithm, ...)`` (no ``donate``);
  ``microbatches`` wraps ``sums`` in ``accumulate_sums``.

  Raises:
    ValueError: as ``make_meta_step``.
  """
  if algorithm not in ALGORITHMS:
    raise ValueError(f"unknown meta-learning algorithm {algorithm!r}; expected one "
                     f"of {ALGORITHMS}")
  microbatches = kwargs.pop("microbatches", 1)
  parts = _algorithm_parts(algorithm, loss_fn, optimizer, **kwargs)
  return parts._replace(sums=accumulate_sums(parts.sums, microbatches))


def _algorithm_parts(algorithm: str, loss_fn: LossFn,
                     optimizer: optax.GradientTransformation | None,
                     **kwargs: Any) -> StepParts:
  """``make_meta_parts`` without ``microbatches``."""
  if algorithm == "reptile":
    return make_reptile_parts(loss_fn, optimizer, **kwargs)
  if algorithm == "model_average":
    return make_model_average_parts(loss_fn, **kwargs)
  if algorithm == "anil" and kwargs.get("trainable") is None:
    raise ValueError("anil needs a trainable mask (e.g. trainable_mask(params, "
                     "'^head/')) so that only the head is adapted")
  implied = {"fomaml": {"first_order": True},
             "meta_sgd": {"learn_inner_lr": True}}.get(algorithm, {})
  for key, value in implied.items():
    if kwargs.get(key, value) != value:
      raise ValueError(f"{algorithm} implies {key}={value}, got {key}={kwargs[key]}")
  return make_maml_parts(loss_fn, optimizer, **{**kwargs, **implied})


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
      ``first_order=False``), or whatever the factory raises.
  """
  return _jit(step_from_parts(make_meta_parts(algorithm, loss_fn, optimizer,
                                              **kwargs)), donate)
