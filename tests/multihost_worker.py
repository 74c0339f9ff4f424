"""One process of the two-process test of jaxrec.parallel (and the shared problem).

``python tests/multihost_worker.py PROCESS_ID NUM_PROCESSES PORT OUT_DIR`` joins a
``jax.distributed`` run coordinated on 127.0.0.1:PORT, runs ``NUM_STEPS``
data-parallel MAML steps on the MLP problem below (each process feeding only its
share of every batch), saves the state with :mod:`jaxrec.checkpoint` into
``OUT_DIR/run`` from every process, and process 0 writes the final parameters and
metrics to ``OUT_DIR/result.npz``. Set ``XLA_FLAGS`` (fake CPU devices) before
starting it. ``tests/test_parallel.py`` imports the problem definition from here.
"""

import pathlib
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

NUM_TASKS, SUPPORT, QUERY, FEATURES, HIDDEN = 8, 6, 5, 3, 8
STEP_KWARGS = {"inner_lr": 0.3, "num_steps": 2}
NUM_STEPS = 2
# Padded tasks of each batch: none; the last three (whole devices empty on 4 or
# 8 devices); two far apart.
PADDED_TASKS = ((), (5, 6, 7), (0, 3))


def mlp_params(seed: int = 0) -> dict:
  """A one-hidden-layer tanh MLP ``FEATURES -> HIDDEN -> 1``."""
  rng = np.random.default_rng(seed)
  return {"hidden": {"w": rng.normal(size=(FEATURES, HIDDEN)).astype(np.float32) * 0.5,
                     "b": np.zeros(HIDDEN, np.float32)},
          "out": {"w": rng.normal(size=(HIDDEN,)).astype(np.float32) * 0.5,
                  "b": np.float32(0.1)}}


def mlp_loss(params: dict, part: dict) -> jax.Array:
  """Masked mean squared error of the MLP's prediction of ``y`` from ``x``."""
  hidden = jnp.tanh(part["x"] @ params["hidden"]["w"] + params["hidden"]["b"])
  pred = hidden @ params["out"]["w"] + params["out"]["b"]
  return (jnp.sum(part["mask"] * (pred - part["y"]) ** 2)
          / jnp.maximum(jnp.sum(part["mask"]), 1.0))


def mlp_batches(seed: int = 0) -> list[dict]:
  """Three numpy batches of ``NUM_TASKS`` regression tasks with padded rows and
  the padded tasks of ``PADDED_TASKS``."""
  rng = np.random.default_rng(seed)
  batches = []
  for padded in PADDED_TASKS:
    w = rng.normal(size=(NUM_TASKS, 1, FEATURES))
    valid = np.ones(NUM_TASKS, bool)
    valid[list(padded)] = False

    def part(rows: int) -> dict:
      lengths = rng.integers(2, rows + 1, NUM_TASKS) * valid
      mask = (np.arange(rows)[None, :] < lengths[:, None]).astype(np.float32)
      x = rng.normal(size=(NUM_TASKS, rows, FEATURES)) * mask[..., None]
      y = (np.sum(x * w, -1) + 0.1 * rng.normal(size=(NUM_TASKS, rows))) * mask
      return {"x": x.astype(np.float32), "y": y.astype(np.float32), "mask": mask}

    batches.append({"support": part(SUPPORT), "query": part(QUERY)})
  return batches


def main(process_id: int, num_processes: int, port: int, out_dir: pathlib.Path) -> None:
  """Runs this process's share of the test (see the module docstring)."""
  from jaxrec import checkpoint, meta, parallel  # pylint: disable=import-outside-toplevel
  config = ml_collections.ConfigDict({"distributed": {
      "coordinator_address": f"127.0.0.1:{port}", "num_processes": num_processes,
      "process_id": process_id}})
  assert parallel.initialize_distributed(config)
  mesh = parallel.make_mesh()
  optimizer = optax.adam(0.05)
  step = parallel.data_parallel_step(
      meta.make_meta_step("maml", mlp_loss, optimizer, **STEP_KWARGS), mesh)
  state = parallel.replicate(meta.init_meta_state(mlp_params(), optimizer), mesh)
  for batch in mlp_batches()[:NUM_STEPS]:
    state, metrics = step(state, parallel.shard_batch(parallel.process_shard(batch),
                                                      mesh))
  latest, best = checkpoint.managers(out_dir / "run")
  checkpoint.save(latest, int(state.step), state, {"devices": jax.device_count()})
  latest.close()
  best.close()
  if process_id == 0:
    np.savez(out_dir / "result.npz", params=np.asarray(ravel_pytree(state.params)[0]),
             devices=jax.device_count(), processes=jax.process_count(),
             **{k: np.asarray(v) for k, v in metrics.items()})
  jax.distributed.shutdown()


if __name__ == "__main__":
  main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), pathlib.Path(sys.argv[4]))
