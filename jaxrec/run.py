"""Reading a meta_train run directory back: its config and its best checkpoint.

A run directory (:func:`jaxrec.train.train`) holds ``config.json`` and the Orbax
manager ``best/``. :func:`load_config` and :func:`restore_best` read only those;
:func:`load_run` also rebuilds the run's data (:func:`jaxrec.prepare.prepare`, a
pure function of the config), which evaluation needs and serving does not
(:mod:`jaxrec.serving` reads the run's serving bundle instead).
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import jax
import ml_collections

from jaxrec import checkpoint
from jaxrec import meta
from jaxrec import models
from jaxrec import prepare
from jaxrec import train as train_lib


def load_config(workdir: str | pathlib.Path) -> ml_collections.ConfigDict:
  """The config a run was trained with (``<workdir>/config.json``).

  Raises:
    FileNotFoundError: ``workdir`` has no ``config.json``.
  """
  path = pathlib.Path(workdir) / "config.json"
  if not path.exists():
    raise FileNotFoundError(f"{path} not found: is {workdir} a meta_train workdir?")
  return ml_collections.ConfigDict(json.loads(path.read_text()))


def restore_best(workdir: str | pathlib.Path, config: ml_collections.ConfigDict,
                 model: models.RecModel) -> meta.MetaState:
  """The best checkpoint's meta-state of ``model`` (``train.init_state`` is the
  restore template), restored onto the first device (replicated there), whatever
  device count wrote it. The checkpoint is opened read only.

  Raises:
    FileNotFoundError: ``<workdir>/best`` holds no checkpoint.
  """
  template = train_lib.init_state(config, model)
  best = checkpoint.managers(workdir, read_only=True)[1]
  state, _ = checkpoint.restore(best, template,
                                sharding=jax.sharding.SingleDeviceSharding(jax.devices()[0]))
  return state


def load_run(workdir: str | pathlib.Path, config: ml_collections.ConfigDict | None = None
             ) -> tuple[ml_collections.ConfigDict, prepare.Prepared, Any, Any]:
  """``(config, prepared, model, state)``: the run's config (``config`` or
  :func:`load_config`), its data rebuilt by :func:`jaxrec.prepare.prepare`, its
  model and the best checkpoint's state (:func:`restore_best`).

  Raises:
    FileNotFoundError: no ``config.json`` or no best checkpoint in ``workdir``.
  """
  config = config or load_config(workdir)
  prepared = prepare.prepare(config)
  model = train_lib.model_of(config, prepared)
  return config, prepared, model, restore_best(workdir, config, model)
