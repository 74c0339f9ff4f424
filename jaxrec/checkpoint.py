"""Orbax checkpointing of meta-training runs.

A run directory holds two Orbax ``CheckpointManager`` folders:

- ``<workdir>/checkpoints/``: the latest checkpoints (periodic; resume point);
- ``<workdir>/best/``: the single checkpoint with the best validation metric.

Each checkpoint stores the training state pytree (params, optimizer state, step,
learned inner rates) under ``"state"`` and a JSON dict under ``"meta"`` (data-iterator
position, config, validation metrics). Orbax writes into a temporary folder and renames
it when complete, so a run killed mid-save never leaves a half-written checkpoint.

Restoring takes a *template* state (e.g. a freshly initialised one) whose arrays give
shapes, dtypes and the target sharding, so a checkpoint written on 8 devices restores
on 1 (or the other way round).
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp


def managers(workdir: str | pathlib.Path, *, keep: int = 2,
             best_metric: str = "val_rmse", best_mode: str = "min",
             read_only: bool = False) -> tuple[ocp.CheckpointManager, ocp.CheckpointManager]:
  """Returns ``(latest, best)`` checkpoint managers for a run directory.

  Args:
    workdir: the run directory.
    keep: how many periodic checkpoints to keep.
    best_metric: key of the metrics dict passed to :func:`save` that ranks
      checkpoints in the ``best`` manager.
    best_mode: ``"min"`` or ``"max"``.
    read_only: open for restoring only (evaluation scripts).
  """
  root = pathlib.Path(workdir).absolute()
  latest = ocp.CheckpointManager(
      root / "checkpoints",
      options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only,
                                           read_only=read_only),
      item_names=("state", "meta"))
  best = ocp.CheckpointManager(
      root / "best",
      options=ocp.CheckpointManagerOptions(
          max_to_keep=1, best_fn=lambda m: m[best_metric], best_mode=best_mode,
          create=not read_only, read_only=read_only),
      item_names=("state", "meta"))
  return latest, best


def save(manager: ocp.CheckpointManager, step: int, state: Any, meta: dict,
         metrics: dict | None = None) -> None:
  """Saves ``state`` (a pytree) and ``meta`` (JSON-serialisable) at ``step``; waits."""
  manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                             meta=ocp.args.JsonSave(meta)),
               metrics=metrics, force=True)
  manager.wait_until_finished()


def abstract_like(template: Any, sharding: jax.sharding.Sharding | None = None) -> Any:
  """``ShapeDtypeStruct`` targets for restoring onto ``template``'s layout.

  Args:
    template: a pytree of arrays with the wanted shapes and dtypes.
    sharding: the sharding to restore every array with; by default each leaf's
      own sharding (or the first local device for non-jax leaves).
  """
  def leaf(x):
    x = jax.numpy.asarray(x)
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding or x.sharding)
  return jax.tree.map(leaf, template)


def restore(manager: ocp.CheckpointManager, template: Any, step: int | None = None,
            sharding: jax.sharding.Sharding | None = None) -> tuple[Any, dict]:
  """Restores ``(state, meta)`` from ``step`` (default: the latest).

  Raises:
    FileNotFoundError: the manager's directory holds no checkpoint.
  """
  step = manager.latest_step() if step is None else step
  if step is None:
    raise FileNotFoundError(f"no checkpoint found in {manager.directory}")
  restored = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract_like(template, sharding)),
      meta=ocp.args.JsonRestore()))
  return restored["state"], restored["meta"]
