"""Task batches and meta-steps split at their reduction over tasks.

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
sums Σ_b w_b g_b, Σ_b w_b and Σ_b w_b m_b (``TaskSums``), and ``update`` applies
the outer update to ḡ = Σ_b w_b g_b / max(Σ_b w_b, 1). ``step_from_parts`` joins
them, optionally reducing the sums across devices in between
(``jaxrec.parallel``); ``accumulate_sums`` runs ``sums`` over slices of a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxrec.meta._checks import PyTree
from jaxrec.meta.state import MetaState

Metrics = dict[str, jax.Array]
StepFn = Callable[[MetaState, PyTree], tuple[MetaState, Metrics]]


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
