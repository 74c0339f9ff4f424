"""The meta-training state ``MetaState`` (a pytree) and its initial value."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxrec.meta._checks import PyTree, check_inner_lr


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class MetaState:
  """Meta-training state, a pytree whose leaves are those of its four fields.

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

  def replace(self, **changes: Any) -> MetaState:
    """A copy with the fields named in ``changes`` replaced (``dataclasses.replace``).

    Raises:
      TypeError: for a name that is not a field.
    """
    return dataclasses.replace(self, **changes)


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
