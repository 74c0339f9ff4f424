"""Staged losses: features computed once per task, outside the inner loop.

A ``StagedLossFn`` splits the loss as ``head(params, prepare(params, part))``.
When the inner loop adapts none of the leaves ``prepare`` reads, its features are
constants of the loop: ``adapt`` computes them once and differentiates ``head``
alone (the same φ_K and the same gradients w.r.t. θ).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import jax

from jaxrec.meta._checks import LossFn, PyTree, mask_leaves


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


def prepare_is_frozen(loss_fn: LossFn, params: PyTree, mask: list[bool]) -> bool:
  """Whether ``loss_fn`` is a ``StagedLossFn`` whose ``prepare`` reads no leaf
  that ``mask`` adapts (so its features are constants of the inner loop).

  Raises:
    ValueError: when ``prepare_reads`` does not have the structure of ``params``.
  """
  if not isinstance(loss_fn, StagedLossFn):
    return False
  reads = mask_leaves(params, loss_fn.prepare_reads)
  return not any(r and m for r, m in zip(reads, mask))


def hoist_prepare(loss_fn: LossFn, params: PyTree, support: PyTree,
                  mask: list[bool]) -> tuple[LossFn, PyTree]:
  """``(head, prepare(θ, support))`` when ``prepare_is_frozen``, else
  ``(loss_fn, support)`` unchanged.

  Raises:
    ValueError: as ``prepare_is_frozen``.
  """
  if not prepare_is_frozen(loss_fn, params, mask):
    return loss_fn, support
  return loss_fn.head, loss_fn.prepare(params, support)
