"""How a model's user part is fitted to a support set: the one extension point.

An adapter maps the meta-parameters θ and one user's support set to the
adapted parameters φ that score that user's items:

  ``φ = adapt(loss, start(θ, S), S, α, K)``  (K gradient steps of
  :func:`jaxrec.meta.adapt` on the trainable leaves, from ``start``)

``ADAPTERS`` names the starts: ``"gradient"`` starts from θ itself (MAML,
Meta-SGD, ANIL, ...), ``"solve"`` from the model's closed-form fold-in
``RecModel.solve`` (e.g. the ridge solve of ``jaxrec.models.foldin``), which the
K steps then refine (K = 0: the solve alone). Training
(``jaxrec.train_step.make_train_step``), evaluation and ``jaxrec.recommend`` all
build their adapter here, so a new kind of adaptation is one function and one
line in ``ADAPTERS``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

from jaxrec import meta
from jaxrec.models import RecModel

Params = Any
Start = Callable[[Params, Any], Params]


def _gradient_start(model: RecModel) -> Start | None:
  del model
  return None


def _solve_start(model: RecModel) -> Start:
  if model.solve is None:
    raise ValueError(f"adapter 'solve' needs a model with a closed-form solve; model "
                     f"'{model.name}' has none (use adapter 'gradient')")
  return model.solve


ADAPTERS: dict[str, Callable[[RecModel], Start | None]] = {
    "gradient": _gradient_start, "solve": _solve_start}


@dataclasses.dataclass(frozen=True, eq=False)
class Adapter:
  """``φ = adapter(θ, α, K, support)`` (module docstring); hashable by identity.

  Attributes:
    loss: the model's ``loss(params, part)``.
    start: ``start(θ, support) -> φ₀``, differentiable in θ, or None for θ.
    trainable: the adapted leaves (a bool pytree, or None for every leaf).
  """

  loss: Callable[[Params, Any], jax.Array]
  start: Start | None
  trainable: Any

  def initial(self, params: Params, support: Any) -> Params:
    """``φ₀ = start(θ, support)`` (θ for the gradient adapter)."""
    return params if self.start is None else self.start(params, support)

  def __call__(self, params: Params, inner_lr: Any, num_steps: int, support: Any
               ) -> Params:
    """``φ`` after ``num_steps`` gradient steps from ``initial(θ, support)``."""
    return meta.adapt(self.loss, self.initial(params, support), support, inner_lr,
                      num_steps, trainable=self.trainable)


def make_adapter(name: str, model: RecModel, trainable: Any) -> Adapter:
  """The adapter registered as ``name`` for ``model``.

  Raises:
    ValueError: ``name`` is not in ``ADAPTERS`` (the message lists them), or the
      model lacks what the adapter needs (``"solve"`` without ``model.solve``).
  """
  if name not in ADAPTERS:
    raise ValueError(f"unknown adapter {name!r} (choose from {sorted(ADAPTERS)})")
  return Adapter(loss=model.loss, start=ADAPTERS[name](model), trainable=trainable)
