"""Data-parallel meta-training over devices and processes.

The task axis (the leading axis of every batch leaf) is split over the ``"data"``
axis of a ``jax.sharding.Mesh``; parameters and optimizer state are replicated.
The meta-steps of :mod:`jaxrec.meta` run unchanged under ``jax.jit`` with these
shardings (XLA partitions the vmapped per-task work and inserts the all-reduce of
the weighted task sums), so the update is still

  ḡ = Σ_b w_b g_b / max(Σ_b w_b, 1)   over all B tasks of the global batch,

with w_b = 0 for padded tasks wherever they sit. :func:`make_pmap_step` builds
the same update for ``jax.pmap`` users, combining the per-device sums with
``lax.psum``.

Multi-host: :func:`initialize_distributed` starts ``jax.distributed`` from the
config; each process feeds its local share of a batch (:func:`process_shard`) to
:func:`shard_batch`, which assembles the global array. Checkpoints of the
replicated state are written by every process through
:mod:`jaxrec.checkpoint` and restore onto any device count by passing the new
sharding, e.g. ``checkpoint.restore(manager, state, sharding=replicated(mesh))``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import optax

from jaxrec.data.episodes import Episodes
from jaxrec.meta import LossFn, PyTree, StepFn, make_meta_parts, step_from_parts

DATA_AXIS = "data"


def make_mesh(num_devices: int | None = None) -> jax.sharding.Mesh:
  """A one-axis mesh ``("data",)`` over the first ``num_devices`` devices.

  Args:
    num_devices: how many devices to use; None or 0 for all of
      ``jax.devices()`` (with several processes, all of them are required).

  Returns:
    A ``Mesh`` with one ``Auto`` axis named ``DATA_AXIS``.

  Raises:
    ValueError: when ``num_devices`` is negative or larger than the device
      count, or a subset of devices is asked for with several processes.
  """
  devices = jax.devices()
  num_devices = num_devices or len(devices)
  if not 1 <= num_devices <= len(devices):
    raise ValueError(f"num_devices={num_devices}, but there are {len(devices)} "
                     f"devices")
  if jax.process_count() > 1 and num_devices != len(devices):
    raise ValueError(f"num_devices={num_devices}: with {jax.process_count()} "
                     f"processes the mesh must span all {len(devices)} devices")
  return jax.make_mesh((num_devices,), (DATA_AXIS,),
                       axis_types=(jax.sharding.AxisType.Auto,),
                       devices=devices[:num_devices])


def replicated(mesh: jax.sharding.Mesh) -> jax.sharding.NamedSharding:
  """The sharding that puts a full copy of an array on every device of ``mesh``."""
  return jax.sharding.NamedSharding(mesh, jax.P())


def task_sharded(mesh: jax.sharding.Mesh) -> jax.sharding.NamedSharding:
  """The sharding that splits an array's leading (task) axis over ``DATA_AXIS``."""
  return jax.sharding.NamedSharding(mesh, jax.P(DATA_AXIS))


def replicate(tree: PyTree, mesh: jax.sharding.Mesh) -> PyTree:
  """Every leaf of ``tree`` as a global array replicated over ``mesh``.

  With several processes each passes the same values (e.g. the state built
  from the same seed), as ``jax.make_array_from_process_local_data`` requires.

  Args:
    tree: pytree of arrays (numpy or jax), e.g. a ``MetaState``.
    mesh: the device mesh.

  Returns:
    The pytree with every leaf a ``jax.Array`` of the same shape and dtype,
    sharded as ``replicated(mesh)``.
  """
  sharding = replicated(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree)


def _num_tasks(batch: PyTree) -> int:
  """The common leading-axis length of the leaves of ``batch``.

  Raises:
    ValueError: when ``batch`` has no leaves, a scalar leaf, or leaves whose
      leading axes differ (the message names the leaf).
  """
  leaves = jax.tree_util.tree_leaves_with_path(batch)
  if not leaves:
    raise ValueError("the batch has no arrays")
  sizes = {}
  for path, leaf in leaves:
    name = jax.tree_util.keystr(path)
    if not np.ndim(leaf):
      raise ValueError(f"batch{name} is a scalar; every batch leaf needs a leading "
                       f"task axis")
    sizes[name] = np.shape(leaf)[0]
  if len(set(sizes.values())) > 1:
    raise ValueError(f"batch leaves have different numbers of tasks: {sizes}")
  return next(iter(sizes.values()))


def _check_divisible(num_tasks: int, parts: int, what: str,
                     unit: str = "devices") -> None:
  """Raises ValueError unless ``num_tasks`` splits evenly into ``parts``."""
  if num_tasks % parts:
    raise ValueError(f"{what} has {num_tasks} tasks, not divisible by the {parts} "
                     f"{unit} it is split over; choose a batch size that is a "
                     f"multiple of the number of {unit}")


def shard_batch(batch: PyTree, mesh: jax.sharding.Mesh) -> PyTree:
  """Global task-sharded arrays from this process's numpy batch.

  With one process ``batch`` is the whole batch. With P processes each passes
  its own ``B / P`` consecutive tasks (``process_shard``); process p's tasks
  become tasks ``p B / P .. (p + 1) B / P − 1`` of the global array.

  Args:
    batch: pytree whose leaves share a leading task axis ``[B_local, ...]``
      (e.g. the contract's episode batch).
    mesh: the device mesh.

  Returns:
    The pytree with every leaf a global ``jax.Array`` ``[B_local · P, ...]``
    sharded as ``task_sharded(mesh)``.

  Raises:
    ValueError: when the leaves' leading axes differ or ``B_local`` is not a
      multiple of this process's number of devices in ``mesh``.
  """
  _check_divisible(_num_tasks(batch), len(mesh.local_devices),
                   f"process {jax.process_index()}'s batch")
  sharding = task_sharded(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), batch)


def jit_sharded(step_fn: StepFn, mesh: jax.sharding.Mesh, *,
                donate: bool = True) -> StepFn:
  """``jax.jit(step_fn)`` with the state and metrics ``replicated`` over ``mesh``
  and every batch leaf ``task_sharded``; ``data_parallel_step`` without its
  batch checks (the jitted function, e.g. to ``lower`` and ``compile``)."""
  return jax.jit(step_fn, in_shardings=(replicated(mesh), task_sharded(mesh)),
                 out_shardings=replicated(mesh), donate_argnums=(0,) if donate else ())


def data_parallel_step(step_fn: StepFn, mesh: jax.sharding.Mesh, *,
                       donate: bool = True) -> StepFn:
  """Runs a meta-step with its batch's tasks split over ``mesh``.

  The result is ``jax.jit(step_fn)`` with the state and metrics replicated and
  every batch leaf sharded along its leading axis (``task_sharded``); the
  math is that of ``step_fn`` on the whole batch, so the update uses
  Σ_b w_b g_b / max(Σ_b w_b, 1) over all B tasks.

  Args:
    step_fn: ``step(state, batch) -> (state, metrics)``, e.g. from
      ``jaxrec.meta.make_meta_step`` (already jitted or not).
    mesh: the device mesh.
    donate: donate the input state's buffers to the output.

  Returns:
    ``step(state, batch) -> (state, metrics)``. The state should be
    ``replicate``d on ``mesh``; the batch comes from ``shard_batch`` (or, with
    one process, may be the numpy batch itself).

  Raises:
    ValueError: at a call, when the batch's leading axes differ or ``B`` is not
      a multiple of the mesh's device count.
  """
  jitted = jit_sharded(step_fn, mesh, donate=donate)

  def step(state: Any, batch: PyTree) -> tuple[Any, dict[str, jax.Array]]:
    _check_divisible(_num_tasks(batch), mesh.size, "the batch")
    return jitted(state, batch)

  return step


def make_pmap_step(algorithm: str, loss_fn: LossFn,
                   optimizer: optax.GradientTransformation | None = None, *,
                   axis_name: str = "devices", devices: list[Any] | None = None,
                   donate: bool = True, **kwargs: Any) -> StepFn:
  """A ``jax.pmap``-ed meta-step over per-device shards of a batch.

  Device d computes the weighted sums of its tasks (``jaxrec.meta``
  ``StepParts.sums``); they are ``lax.psum``-ed over ``axis_name`` before the
  division, so every device applies the same update with
  ḡ = Σ_d Σ_b w_db g_db / max(Σ_d Σ_b w_db, 1), exactly the single-device
  step on the concatenated batch even when devices hold different numbers of
  valid tasks (a plain ``pmean`` of per-device means would not be).

  Args:
    algorithm, loss_fn, optimizer, **kwargs: as ``jaxrec.meta.make_meta_step``
      (less ``donate``).
    axis_name: the name of the mapped axis.
    devices: the devices to map over; None for ``jax.local_devices()``.
    donate: donate the input state's buffers to the output.

  Returns:
    ``step(states, batches) -> (states, metrics)`` where every leaf has a
    leading device axis ``D``: the state replicated (``pmap_replicate``) and
    the batch ``[D, B / D, ...]`` (``pmap_split``); the outputs are identical
    along ``D``.

  Raises:
    ValueError: as ``jaxrec.meta.make_meta_step``.
  """
  parts = make_meta_parts(algorithm, loss_fn, optimizer, **kwargs)
  step = step_from_parts(parts, functools.partial(jax.lax.psum, axis_name=axis_name))
  return jax.pmap(step, axis_name=axis_name, devices=devices,
                  donate_argnums=(0,) if donate else ())


def pmap_replicate(tree: PyTree, num_devices: int | None = None) -> PyTree:
  """Every leaf of ``tree`` stacked ``num_devices`` times along a new axis 0.

  Args:
    tree: pytree of arrays ``[...]``.
    num_devices: D; None for ``jax.local_device_count()``.

  Returns:
    The pytree with leaves ``[D, ...]`` (numpy; ``jax.pmap`` places them).
  """
  num_devices = num_devices or jax.local_device_count()
  return jax.tree.map(
      lambda x: np.broadcast_to(np.asarray(x), (num_devices,) + np.shape(x)), tree)


def pmap_split(batch: PyTree, num_devices: int | None = None) -> PyTree:
  """A batch ``[B, ...]`` reshaped into per-device shards ``[D, B / D, ...]``.

  Device d gets tasks ``d B / D .. (d + 1) B / D − 1``.

  Args:
    batch: pytree whose leaves share a leading task axis ``B``.
    num_devices: D; None for ``jax.local_device_count()``.

  Returns:
    The pytree with leaves ``[D, B / D, ...]`` (numpy).

  Raises:
    ValueError: when the leading axes differ or ``B`` is not a multiple of D.
  """
  num_devices = num_devices or jax.local_device_count()
  _check_divisible(_num_tasks(batch), num_devices, "the batch")
  return jax.tree.map(
      lambda x: np.reshape(np.asarray(x), (num_devices, -1) + np.shape(x)[1:]), batch)


def pmap_unreplicate(tree: PyTree) -> PyTree:
  """The first device's copy of every leaf of a ``pmap`` output ``[D, ...]``."""
  return jax.tree.map(lambda x: x[0], tree)


def initialize_distributed(config: Any) -> bool:
  """Starts multi-process JAX from ``config.distributed``, if it names a coordinator.

  Reads ``coordinator_address`` (``"host:port"`` of process 0; ``""`` or a
  missing ``distributed`` section: single process, nothing is done),
  ``num_processes`` and ``process_id``, and calls
  ``jax.distributed.initialize(coordinator_address, num_processes,
  process_id)``. It must run before anything touches a JAX device. On CPU the
  cross-process collectives are those of ``jax_cpu_collectives_implementation``
  (gloo by default).

  Args:
    config: a ``ConfigDict`` (or mapping) with an optional ``distributed``
      section.

  Returns:
    True when ``jax.distributed`` was initialised, False for a single process.

  Raises:
    ValueError: when ``num_processes < 1`` or ``process_id`` is not in
      ``[0, num_processes)`` (the message names the field).
  """
  dist = config.get("distributed") or {}
  address = dist.get("coordinator_address", "")
  if not address:
    return False
  num_processes = int(dist.get("num_processes", 1))
  process_id = int(dist.get("process_id", 0))
  if num_processes < 1:
    raise ValueError(f"config.distributed.num_processes must be >= 1, got "
                     f"{num_processes}")
  if not 0 <= process_id < num_processes:
    raise ValueError(f"config.distributed.process_id must be in [0, {num_processes}), "
                     f"got {process_id}")
  jax.distributed.initialize(coordinator_address=address, num_processes=num_processes,
                             process_id=process_id)
  return True


def process_shard(data: Any, process_index: int | None = None,
                  process_count: int | None = None) -> Any:
  """Process p's block of consecutive entries of ``data`` (p of P processes).

  Entries ``⌊p n / P⌋ .. ⌊(p + 1) n / P⌋ − 1`` of the n entries: episodes of
  an ``Episodes``, or rows along the leading axis of every leaf of an array
  or pytree (e.g. a global batch, whose n must then divide evenly so that every
  process feeds ``shard_batch`` the same number of tasks).

  Args:
    data: an ``Episodes``, an array (e.g. user or episode indices), or a
      ``Mapping`` batch pytree with a common leading axis.
    process_index: p; None for ``jax.process_index()``.
    process_count: P; None for ``jax.process_count()``.

  Returns:
    The same kind of object holding only process p's block.

  Raises:
    ValueError: when p is not in ``[0, P)``, the leaves' leading axes differ,
      or a ``Mapping`` batch has a number of tasks not divisible by P.
  """
  p = jax.process_index() if process_index is None else process_index
  count = jax.process_count() if process_count is None else process_count
  if not 0 <= p < count:
    raise ValueError(f"process_index={p} is not in [0, process_count={count})")
  if isinstance(data, Episodes):
    n = len(data)
    return data.select(np.arange(p * n // count, (p + 1) * n // count))
  n = _num_tasks(data)
  if isinstance(data, Mapping):
    _check_divisible(n, count, "the batch", unit="processes")
  return jax.tree.map(lambda x: x[p * n // count:(p + 1) * n // count], data)
