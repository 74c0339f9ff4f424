"""One training step per ``config.meta.algorithm``: the registry of training algorithms.

:data:`TRAINING_ALGORITHMS` names every algorithm a config can train with:
:mod:`jaxrec.meta`'s meta-learners (``meta.ALGORITHMS``) and ``"joint"``, the
no-meta-learning reference. :func:`make_train_step` builds the config's jitted
``step(state, batch) -> (state, metrics)`` (the inner loop of ``config.meta`` and
the outer optimizer :func:`make_optimizer`); :func:`jaxrec.train.train` runs it
over the training episodes. Adding an algorithm is one entry in the registry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxrec import meta
from jaxrec import models
from jaxrec import scoring

StepFn = Callable[[meta.MetaState, dict], tuple[meta.MetaState, dict]]


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam with global-norm clipping (``config.optimizer``) and, with
  ``optimizer.weight_decay > 0``, decoupled weight decay (AdamW) on the matrices
  (embedding tables, kernels), not on biases, vectors or scalars. With
  ``optimizer.trainable`` (top-level parameter names, e.g. ``("user_prior",)``)
  only those parameters learn; the others' updates are 0 (the model's parameters
  only: not with a learned inner rate, Meta-SGD's ``(params, rate)``)."""
  opt = config.optimizer
  decay = opt.get("weight_decay", 0.0)  # .get: config.json of runs older than the field
  adam = (optax.adamw(opt.learning_rate, weight_decay=decay,
                      mask=lambda params: jax.tree.map(lambda x: jnp.ndim(x) > 1, params))
          if decay else optax.adam(opt.learning_rate))
  chain = optax.chain(optax.clip_by_global_norm(opt.grad_clip), adam)
  trainable = tuple(opt.get("trainable", ()))
  if not trainable:
    return chain

  def labels(params):
    if not isinstance(params, Mapping):
      raise ValueError("config.optimizer.trainable selects model parameters by name; "
                       "this algorithm's meta-parameters are not the model's parameter "
                       "dict (e.g. Meta-SGD's (params, inner rate))")
    missing = sorted(set(trainable) - set(params))
    if missing:
      raise ValueError(f"config.optimizer.trainable names {missing}, not parameters of "
                       f"the model (top-level: {sorted(params)})")
    return {name: jax.tree.map(lambda _, name=name: name in trainable, tree)
            for name, tree in params.items()}
  return optax.multi_transform({True: chain, False: optax.set_to_zero()}, labels)


def _meta_step(config: ml_collections.ConfigDict, model: models.RecModel) -> StepFn:
  """:func:`jaxrec.meta.make_meta_step` of ``config.meta.algorithm`` with the
  config's inner loop (``config.meta``: rate, steps, adapted leaves, microbatches,
  unroll; for an algorithm that ``adapts_from_start``, ``remat`` and the adapter's
  start) and outer optimizer.

  Raises:
    ValueError: ``config.meta.adapter`` has a start (not ``"gradient"``) and the
      algorithm does not adapt from one; as :func:`jaxrec.meta.make_meta_step`.
  """
  m, algorithm = config.meta, algorithm_of(config)
  adapter = scoring.make_adapter(config, model)
  kwargs = dict(num_steps=m.num_steps, trainable=adapter.trainable,
                microbatches=m.microbatches, unroll=m.unroll)
  if not algorithm.learns_inner_lr:
    kwargs["inner_lr"] = m.inner_lr
  if algorithm.adapts_from_start:
    kwargs.update(remat=m.remat, start=adapter.start)
  elif adapter.start is not None:
    names = ", ".join(n for n, a in TRAINING_ALGORITHMS.items() if a.adapts_from_start)
    raise ValueError(f"config.meta.adapter={m.adapter!r} needs a MAML-family algorithm "
                     f"({names}), got {m.algorithm!r}")
  if not algorithm.uses_optimizer and config.optimizer.get("trainable", ()):
    raise ValueError(f"config.optimizer.trainable needs an algorithm with an outer "
                     f"optimizer; {m.algorithm!r} has a fixed outer update")
  optimizer = make_optimizer(config) if algorithm.uses_optimizer else None
  return meta.make_meta_step(m.algorithm, model.loss, optimizer, **kwargs)


def _joint_step(config: ml_collections.ConfigDict, model: models.RecModel) -> StepFn:
  """The no-meta-learning reference: the same network trained on every rating of a
  task (support and query together) with no inner loop (so with the gradient
  adapter only: a solve would be used at test time but never trained through)."""
  if scoring.make_adapter(config, model).start is not None:
    raise ValueError(f"config.meta.adapter={config.meta.adapter!r} needs a MAML-family "
                     "algorithm; 'joint' trains without adaptation")
  maml_step = meta.make_maml_step(model.loss, make_optimizer(config), inner_lr=0.0,
                                  num_steps=0)

  def joint_step(state, batch):
    task = meta.concat_support_query(batch)
    return maml_step(state, {"support": task, "query": task})
  return joint_step


@dataclasses.dataclass(frozen=True)
class Algorithm:
  """What training needs to know of one ``config.meta.algorithm``.

  Attributes:
    make_step: ``make_step(config, model) -> step``, the jitted
      ``step(state, batch) -> (state, metrics)``.
    adapts_from_start: a MAML-family inner loop: the step takes ``remat`` and
      the adapter's start (``config.meta.adapter = "solve"`` needs one).
    learns_inner_lr: the inner rate is a learned state leaf (Meta-SGD: it starts
      as ``meta_sgd_init(params, config.meta.inner_lr)``; the step takes none).
    uses_optimizer: the outer update is the optax optimizer's (False: model
      averaging's fixed update).
  """

  make_step: Callable[[ml_collections.ConfigDict, models.RecModel], StepFn]
  adapts_from_start: bool = False
  learns_inner_lr: bool = False
  uses_optimizer: bool = True


# Every training algorithm by its config name: jaxrec.meta's meta-learners
# (meta.ALGORITHMS) and "joint". Adding one is one entry here.
TRAINING_ALGORITHMS: dict[str, Algorithm] = {
    "maml": Algorithm(_meta_step, adapts_from_start=True),
    "fomaml": Algorithm(_meta_step, adapts_from_start=True),
    "meta_sgd": Algorithm(_meta_step, adapts_from_start=True, learns_inner_lr=True),
    "anil": Algorithm(_meta_step, adapts_from_start=True),
    "reptile": Algorithm(_meta_step),
    "model_average": Algorithm(_meta_step, uses_optimizer=False),
    "joint": Algorithm(_joint_step),
}


def algorithm_of(config: ml_collections.ConfigDict) -> Algorithm:
  """The :data:`TRAINING_ALGORITHMS` entry of ``config.meta.algorithm``.

  Raises:
    ValueError: the name is not in :data:`TRAINING_ALGORITHMS`.
  """
  name = config.meta.algorithm
  if name not in TRAINING_ALGORITHMS:
    raise ValueError(f"config.meta.algorithm: unknown algorithm {name!r}; expected one "
                     f"of {tuple(TRAINING_ALGORITHMS)}")
  return TRAINING_ALGORITHMS[name]


def make_train_step(config: ml_collections.ConfigDict, model: models.RecModel) -> StepFn:
  """The jitted ``step(state, batch) -> (state, metrics)`` of ``config.meta``
  (its :data:`TRAINING_ALGORITHMS` entry's ``make_step``).

  Raises:
    ValueError: as :func:`algorithm_of` and the entry's ``make_step``.
  """
  return algorithm_of(config).make_step(config, model)
