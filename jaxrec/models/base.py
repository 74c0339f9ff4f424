"""``RecModel``: pure functions over a plain parameter pytree, tables closed over."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.models.features import FieldSpec, device_table, gather, user_row
from jaxrec.models.losses import check_part, get_loss

Params = Any  # a nested dict of arrays
Part = Mapping[str, jax.Array]


@dataclasses.dataclass(frozen=True, eq=False)
class StagedLoss:
  """A task loss split as ``loss(params, part) = head(params, prepare(params, part))``.

  ``prepare`` reads only the leaves flagged in ``prepare_reads``, so when a
  meta-learner's inner loop adapts none of them, its result is loop-invariant
  and can be computed once per task (``jaxrec.meta.adapt`` does this).
  Calling the object computes the full loss; it is hashable by identity.

  Attributes:
    prepare: ``prepare(params, part) -> features``, a pytree of per-task
      features (e.g. the embedded rows) plus ``part``'s ``y`` and ``mask``.
    head: ``head(params, features) -> float32[]``.
    prepare_reads: a pytree of Python bools shaped like the params: the leaves
      ``prepare`` depends on.
  """

  prepare: Callable[[Params, Part], Part]
  head: Callable[[Params, Part], jax.Array]
  prepare_reads: Params

  def __call__(self, params: Params, part: Part) -> jax.Array:
    """The task loss ``head(params, prepare(params, part))``; see ``RecModel.loss``."""
    return self.head(params, self.prepare(params, part))


@dataclasses.dataclass(frozen=True, eq=False)
class LinearInputLoss(StagedLoss):
  """A ``StagedLoss`` whose head starts with a linear layer on the features.

  ``head(params, features) = head_from(params, H, features)`` with ``H_j = [u;
  X_j] W + b``, ``(u, T, r) = linear_inputs(features)``, ``X = T[r]`` (``T`` when
  ``r`` is None) and ``W`` / ``b`` the leaves
  named in ``linear_leaves`` (``"/"``-joined paths); ``head_from`` reads neither.
  ``jaxrec.meta.maml_loss`` then runs the inner loop on ``H`` (an exact
  rewriting; see ``jaxrec.meta.LinearInputLossFn``).
  """

  linear_leaves: tuple[str, str]
  linear_inputs: Callable[[Part], tuple[jax.Array, jax.Array, jax.Array | None]]
  head_from: Callable[[Params, jax.Array, Part], jax.Array]


@dataclasses.dataclass(frozen=True, eq=False)
class RecModel:
  """A recommender as pure functions (hashable by identity, usable as a static arg).

  Attributes:
    name: registry name, e.g. ``"melu"``.
    config: the settings the model was built with (field names included).
    init: ``init(rng) -> params``, a nested dict of arrays.
    predict: ``predict(params, user int32[], items int32[S]) -> float32[S]``, the
      scores of ``S`` items for one user (logits when the loss is ``"bce"``);
      ``jax.vmap`` it for many users. ``user`` (here and in a part's ``"user"``)
      may also be the user's feature row itself (:func:`~jaxrec.models.features.user_row`).
    loss: ``loss(params, part) -> float32[]``, the configured masked loss of
      ``predict(params, part["user"], part["item"])`` against ``part["y"]`` over
      rows with ``part["mask"] = 1`` (0 for an all-zero mask); raises ValueError
      when ``part`` lacks ``user``, ``item``, ``y`` or ``mask``. For a staged
      module (one with ``features`` and ``head`` methods, e.g. ``FeatureMLP``)
      it is a ``StagedLoss`` whose ``prepare`` embeds the part into
      ``{"user_x": float32[p], "item_x": float32[S, q], "catalogue": float32[I, q],
      "item", "y", "mask"}`` (``item_x = catalogue[item]``, the catalogue being
      the features of every item); a
      ``LinearInputLoss`` when the module also has ``head_from`` and
      ``linear_leaves`` (``FeatureMLP``: MeLU and the hybrid model).
    adapt_mask: a pytree of bools shaped like ``params``: the leaves the inner
      loop of a meta-learner adapts by default.
    head_mask: a pytree of bools shaped like ``params``: the model's output
      layer, declared by the model (the leaves ANIL adapts, ``meta.adapt =
      "head"``); at least one leaf is true.
    solve: optional ``solve(params, support) -> params``: a closed-form (or
      encoder) start for the user part, differentiable in ``params``; the
      ``"solve"`` adapter (``jaxrec.adapters.ADAPTERS``) starts its inner loop
      from it. None for models without one.
  """

  name: str
  config: dict[str, Any]
  init: Callable[[jax.Array], Params]
  predict: Callable[[Params, jax.Array, jax.Array], jax.Array]
  loss: Callable[[Params, Part], jax.Array]
  adapt_mask: Params
  head_mask: Params
  solve: Callable[[Params, Part], Params] | None = None


def _path_mask(tree: Params, select: Callable[[tuple[str, ...]], bool]) -> Params:
  """``select(path)`` as a Python bool for every leaf of ``tree``.

  Args:
    tree: a nested dict of arrays (or shapes).
    select: maps a leaf's path (tuple of dict keys, e.g. ``("mlp", "out",
      "kernel")``) to whether it is selected.

  Returns:
    A pytree of Python bools with the structure of ``tree``.
  """
  return jax.tree_util.tree_map_with_path(
      lambda path, _: bool(select(tuple(k.key for k in path))), tree)


def _staged_loss(module: nn.Module, loss_fn: Callable[..., jax.Array],
                 users: Mapping[str, jax.Array], items: Mapping[str, jax.Array],
                 head_params: Callable[[tuple[str, ...]], bool],
                 shapes: Params) -> StagedLoss:
  """The ``StagedLoss`` of a module with ``features`` and ``head`` methods.

  ``prepare`` applies ``module.features`` to the user's row and to the whole
  item table, then takes the part's rows of the resulting catalogue features
  ``float32[I, q]``. The catalogue does not depend on the part, so under
  ``jax.vmap`` over tasks it is computed once per batch (the field lookups and
  pooling cost ``I`` rows instead of ``B S``), with the same values as
  featurising the gathered rows. ``head`` applies ``module.head`` and
  ``loss_fn``; ``prepare_reads`` flags every leaf for which ``head_params(path)``
  is false. A module with ``head_from`` and ``linear_leaves`` gives a
  ``LinearInputLoss`` whose linear inputs are ``(user_x, catalogue, item)``
  (``item_x = catalogue[item]``).
  """
  def prepare(params: Params, part: Part) -> Part:
    check_part(part)
    user_x, catalogue = module.apply({"params": params}, user_row(users, part["user"]),
                                     items, method="features")
    return {"user_x": user_x, "item_x": catalogue[part["item"]], "catalogue": catalogue,
            "item": part["item"], "y": part["y"], "mask": part["mask"]}

  def head(params: Params, feats: Part) -> jax.Array:
    scores = module.apply({"params": params}, feats["user_x"], feats["item_x"],
                          method="head")
    return loss_fn(scores, feats["y"], feats["mask"])

  reads = _path_mask(shapes, lambda path: not head_params(path))
  if not hasattr(module, "head_from"):
    return StagedLoss(prepare=prepare, head=head, prepare_reads=reads)

  def head_from(params: Params, hidden: jax.Array, feats: Part) -> jax.Array:
    scores = module.apply({"params": params}, hidden, method="head_from")
    return loss_fn(scores, feats["y"], feats["mask"])

  return LinearInputLoss(prepare=prepare, head=head, prepare_reads=reads,
                         linear_leaves=module.linear_leaves,
                         linear_inputs=lambda feats: (feats["user_x"], feats["catalogue"],
                                                      feats["item"]),
                         head_from=head_from)


def count_params(params: Params) -> int:
  """Total number of scalars in a parameter pytree."""
  return sum(int(np.prod(np.shape(x))) for x in jax.tree_util.tree_leaves(params))


def build_model(*, name: str, config: dict[str, Any], module: nn.Module,
                user_table: Mapping[str, np.ndarray], user_specs: tuple[FieldSpec, ...],
                item_table: Mapping[str, np.ndarray], item_specs: tuple[FieldSpec, ...],
                use_text: bool, loss: str,
                adapts: Callable[[tuple[str, ...]], bool],
                head: Callable[[tuple[str, ...]], bool]) -> RecModel:
  """Wraps a linen scorer ``module(user_feats, item_feats) -> float32[S]``.

  A module with a ``solve(user_feats, item_feats, y, mask, catalogue)`` method
  (one user's row, the support items' rows, ``float32[S]`` labels and mask, and
  every item's row) returning a dict of replacement top-level parameter subtrees
  gives ``RecModel.solve(params, support) = {**params, **module.solve(...)}``.

  The selected fields (and ``item_table["text"]`` when ``use_text``) are converted
  to jnp arrays once and closed over; ``predict`` gathers the user's row and the
  items' rows and applies ``module``; ``init`` is jitted (one compilation).

  Args:
    name: registry name of the model.
    config: settings to record in ``RecModel.config``.
    module: a linen module called as ``module(user_feats, item_feats)`` with
      ``user_feats`` the user's row (leaves ``[]``/``[m]``) and ``item_feats`` the
      items' rows (leaves ``[S]``/``[S, m]``/``[S, d]``).
    user_table, item_table: the numpy feature tables.
    user_specs, item_specs: the fields the module embeds.
    use_text: whether the module reads ``item_feats["text"]``.
    loss: a name in ``jaxrec.models.losses.LOSSES``.
    adapts: maps a parameter path (tuple of dict keys) to whether the inner loop
      adapts that leaf by default. For a staged module (``features`` and
      ``head`` methods) these must be exactly the leaves ``head`` reads.
    head: maps a parameter path to whether the leaf belongs to the model's
      output layer (``RecModel.head_mask``, what ANIL adapts).

  Returns:
    The ``RecModel``.

  Raises:
    ValueError: ``loss`` is unknown, or ``head`` selects no parameter leaf.
  """
  loss_fn = get_loss(loss)
  users = device_table(user_table, user_specs)
  items = device_table(item_table, item_specs, use_text)

  def init(rng: jax.Array) -> Params:
    dummy_user = gather(users, jnp.zeros((), jnp.int32))
    dummy_items = gather(items, jnp.zeros((1,), jnp.int32))
    return module.init(rng, dummy_user, dummy_items)["params"]

  def predict(params: Params, user: jax.Array, item: jax.Array) -> jax.Array:
    return module.apply({"params": params}, user_row(users, user), gather(items, item))

  def plain_loss(params: Params, part: Part) -> jax.Array:
    check_part(part)
    scores = predict(params, part["user"], part["item"])
    return loss_fn(scores, part["y"], part["mask"])

  shapes = jax.eval_shape(init, jax.random.key(0))
  adapt_mask = _path_mask(shapes, adapts)
  head_mask = _path_mask(shapes, head)
  if not any(jax.tree_util.tree_leaves(head_mask)):
    paths = ["/".join(k.key for k in path) for path, _ in
             jax.tree_util.tree_flatten_with_path(shapes)[0]]
    raise ValueError(f"model '{name}': head selects no parameter leaf (params: {paths})")
  staged = hasattr(module, "features") and hasattr(module, "head")
  loss_of = (_staged_loss(module, loss_fn, users, items, adapts, shapes) if staged
             else plain_loss)

  def solve(params: Params, support: Part) -> Params:
    check_part(support)
    update = module.apply({"params": params}, user_row(users, support["user"]),
                          gather(items, support["item"]), support["y"], support["mask"],
                          items, method="solve")
    return {**params, **update}

  return RecModel(name=name, config={**config, "loss": loss}, init=jax.jit(init),
                  predict=predict, loss=loss_of, adapt_mask=adapt_mask,
                  head_mask=head_mask, solve=solve if hasattr(module, "solve") else None)
