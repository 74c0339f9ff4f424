"""Argument checks of ``jaxrec.meta`` and per-leaf views of a parameter pytree.

Leaves are named by their ``/``-joined key path (``"mlp/hidden_0/kernel"``) in
error messages and in ``trainable_mask``; the trainable mask and the inner rates
are checked against the params' structure here and handed on as one entry per
leaf, in flattening order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

PyTree = Any
LossFn = Callable[[PyTree, PyTree], jax.Array]


def path_str(path: tuple[Any, ...]) -> str:
  """A key path as ``"a/b/0"`` (dict keys, attribute names, list indices)."""
  return jax.tree_util.keystr(path, simple=True, separator="/")


def leaf_paths(params: PyTree) -> list[str]:
  """The ``path_str`` of every leaf of ``params``, in flattening order."""
  return [path_str(path) for path, _ in jax.tree_util.tree_leaves_with_path(params)]


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


def mask_leaves(params: PyTree, trainable: PyTree | None) -> list[bool]:
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
  for path, flag in zip(leaf_paths(params), mask):
    if not isinstance(flag, bool | jnp.bool_):
      raise ValueError(f"trainable['{path}'] must be a Python bool (the mask is "
                       f"static), got {flag!r}")
  return [bool(flag) for flag in mask]


def rate_leaves(params: PyTree, inner_lr: Any) -> list[Any]:
  """The inner learning rate as one entry per leaf of ``params``.

  A scalar rate is repeated; a pytree of rates must have the structure of
  ``params`` and leaves that are scalars or of their parameter's shape.

  Raises:
    ValueError: when ``inner_lr`` is neither a scalar nor shaped like ``params``.
  """
  treedef = jax.tree.structure(params)
  rates, rate_def = jax.tree.flatten(inner_lr)
  if rate_def == treedef:
    for path, rate, leaf in zip(leaf_paths(params), rates, jax.tree.leaves(params)):
      if jnp.ndim(rate) and jnp.shape(rate) != jnp.shape(leaf):
        raise ValueError(f"inner_lr['{path}'] has shape {jnp.shape(rate)}, "
                         f"expected () or the parameter's {jnp.shape(leaf)}")
    return rates
  if is_scalar_rate(inner_lr):
    return [inner_lr] * treedef.num_leaves
  raise ValueError(f"inner_lr must be a scalar or a pytree with the structure of "
                   f"params ({treedef}); got {rate_def}")


def is_scalar_rate(inner_lr: Any) -> bool:
  """Whether ``inner_lr`` is one rate for every entry (a pytree leaf of rank 0)."""
  return (jax.tree_util.treedef_is_leaf(jax.tree.structure(inner_lr))
          and jnp.ndim(inner_lr) == 0)


def check_inner_lr(params: PyTree, inner_lr: Any) -> None:
  """Checks that ``inner_lr`` is a scalar or a pytree of rates shaped like ``params``.

  Raises:
    ValueError: naming the mismatched structure or the leaf of the wrong shape.
  """
  rate_leaves(params, inner_lr)


def adapted_index(params: PyTree, mask: list[bool]) -> list[int]:
  """The flat indices of the leaves ``mask`` adapts.

  Raises:
    ValueError: when an adapted leaf is not floating point (naming its path).
  """
  for path, leaf, flag in zip(leaf_paths(params), jax.tree.leaves(params), mask):
    if flag and not jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
      raise ValueError(f"trainable leaf '{path}' has dtype "
                       f"{jnp.result_type(leaf)}; only floating-point leaves can "
                       f"be adapted (mark it False in trainable)")
  return [i for i, flag in enumerate(mask) if flag]


def merger(leaves: list[Any], treedef: Any, index: list[int]
           ) -> Callable[[list[jax.Array]], PyTree]:
  """``merge(adapted)``: the pytree ``leaves`` with ``leaves[index[j]]`` replaced by
  ``adapted[j]``."""
  def merge(adapted: list[jax.Array]) -> PyTree:
    merged = list(leaves)
    for i, leaf in zip(index, adapted):
      merged[i] = leaf
    return jax.tree.unflatten(treedef, merged)
  return merge
