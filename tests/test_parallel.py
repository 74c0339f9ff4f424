"""jaxrec.parallel on fake CPU devices: the sharded and pmapped meta-steps reproduce
the single-device step, checkpoints move across device counts, multi-host."""

import functools
import pathlib
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import multihost_worker as problem_def
from jaxrec import checkpoint, meta, models, parallel
from jaxrec.data.episodes import Episodes

ALGORITHMS = ("maml", "fomaml", "reptile")
RTOL, ATOL = 1e-5, 1e-6


def melu_problem():
  """MeLU over small synthetic tables, with episode batches of the contract."""
  rng = np.random.default_rng(1)
  num_users, num_items, b, s, q = 7, 12, problem_def.NUM_TASKS, 6, 4
  genre = rng.integers(1, 6, (num_items, 3)).astype(np.int32)
  genre_mask = (np.arange(3)[None] < rng.integers(1, 4, num_items)[:, None])
  user_table = {"user_id": np.arange(num_users, dtype=np.int32),
                "gender": rng.integers(0, 3, num_users).astype(np.int32),
                "age": rng.integers(0, 5, num_users).astype(np.int32)}
  item_table = {"item_id": np.arange(num_items, dtype=np.int32),
                "genre": np.where(genre_mask, genre, 0).astype(np.int32),
                "genre_mask": genre_mask.astype(np.float32),
                "year": rng.integers(0, 4, num_items).astype(np.int32)}
  vocab = {"gender": 3, "age": 5, "genre": 6, "year": 4, "user_id": num_users,
           "item_id": num_items}
  model = models.make_model("melu", user_table, item_table, vocab, embed_dim=4,
                            hidden=(8,))
  batches = []
  for padded in problem_def.PADDED_TASKS:
    valid = np.ones(b, bool)
    valid[list(padded)] = False
    user = np.where(valid, rng.integers(1, num_users, b), 0).astype(np.int32)

    def part(rows, user=user, valid=valid):
      lengths = rng.integers(2, rows + 1, b) * valid
      mask = (np.arange(rows)[None] < lengths[:, None]).astype(np.float32)
      item = (rng.integers(1, num_items, (b, rows)) * mask).astype(np.int32)
      y = (rng.integers(1, 6, (b, rows)) * mask).astype(np.float32)
      return {"user": user, "item": item, "y": y, "mask": mask}

    batches.append({"support": part(s), "query": part(q)})
  optimizer = optax.chain(optax.clip_by_global_norm(10.0), optax.adam(0.01))
  kwargs = {"inner_lr": 0.05, "num_steps": 1, "trainable": model.adapt_mask}
  return model.loss, model.init(jax.random.key(0)), batches, optimizer, kwargs


@functools.cache
def problem(name):
  """``(loss_fn, params, batches, optimizer, step kwargs)`` of ``"mlp"`` / ``"melu"``."""
  if name == "melu":
    return melu_problem()
  return (problem_def.mlp_loss, problem_def.mlp_params(), problem_def.mlp_batches(),
          optax.adam(0.05), problem_def.STEP_KWARGS)


@functools.cache
def meta_step(name, algorithm):
  """The (non-donating) jaxrec.meta step, shared by the reference and sharded runs."""
  loss_fn, _, _, optimizer, kwargs = problem(name)
  return meta.make_meta_step(algorithm, loss_fn, optimizer, donate=False, **kwargs)


def initial_state(name):
  _, params, _, optimizer, _ = problem(name)
  return meta.init_meta_state(jax.tree.map(jnp.asarray, params), optimizer)


@functools.cache
def reference(name, algorithm, num_steps=3):
  """Flat parameters and last metrics after ``num_steps`` single-device steps."""
  state = initial_state(name)
  for batch in problem(name)[2][:num_steps]:
    state, metrics = meta_step(name, algorithm)(state, batch)
  return np.asarray(ravel_pytree(state.params)[0]), jax.device_get(metrics)


def assert_matches_reference(params, metrics, name, algorithm, num_steps=3):
  expected_params, expected_metrics = reference(name, algorithm, num_steps)
  np.testing.assert_allclose(ravel_pytree(params)[0], expected_params, rtol=RTOL,
                             atol=ATOL, err_msg="params")
  assert set(metrics) == set(expected_metrics)
  for key, value in expected_metrics.items():
    np.testing.assert_allclose(metrics[key], value, rtol=RTOL, atol=ATOL, err_msg=key)


@functools.cache
def sharded_run(name, algorithm, num_devices):
  """The state and metrics after 3 data-parallel steps on ``num_devices``."""
  mesh = parallel.make_mesh(num_devices)
  step = parallel.data_parallel_step(meta_step(name, algorithm), mesh)
  state = parallel.replicate(initial_state(name), mesh)
  first = state
  for batch in problem(name)[2]:
    state, metrics = step(state, parallel.shard_batch(batch, mesh))
  assert all(x.is_deleted() for x in jax.tree.leaves(first.params))
  return mesh, state, metrics


def slow_unless(fast, *params):
  """``params`` as a pytest.param, marked slow unless it is in ``fast``."""
  return pytest.param(*params, marks=() if params in fast else pytest.mark.slow)


@pytest.mark.parametrize("algorithm,num_devices", [
    slow_unless({("maml", 1), ("maml", 2), ("maml", 4), ("maml", 8), ("fomaml", 8),
                 ("reptile", 8)}, algorithm, num_devices)
    for algorithm in ALGORITHMS for num_devices in (1, 2, 4, 8)])
def test_sharded_mlp_step_equals_single_device_step(algorithm, num_devices):
  mesh, state, metrics = sharded_run("mlp", algorithm, num_devices)
  assert int(state.step) == 3 and int(metrics["num_tasks"]) == 6
  for leaf in jax.tree.leaves(state):
    assert leaf.sharding.is_equivalent_to(parallel.replicated(mesh), leaf.ndim)
  assert_matches_reference(state.params, metrics, "mlp", algorithm)


@pytest.mark.parametrize("algorithm,num_devices", [
    slow_unless({("maml", 8)}, algorithm, num_devices)
    for algorithm in ALGORITHMS for num_devices in (1, 2, 4, 8)])
def test_sharded_melu_step_equals_single_device_step(algorithm, num_devices):
  _, state, metrics = sharded_run("melu", algorithm, num_devices)
  assert_matches_reference(state.params, metrics, "melu", algorithm)


@pytest.mark.parametrize("name,remat", [("mlp", "none"), ("melu", "recompute")])
def test_sharded_step_with_microbatches_equals_single_device_step(name, remat):
  """Each of the 2 slices of the 8 tasks keeps one task per device on 4; the
  reference keeps every inner step's activations (remat "none")."""
  loss_fn, _, batches, optimizer, kwargs = problem(name)
  mesh = parallel.make_mesh(4)
  step = parallel.data_parallel_step(meta.make_meta_step(
      "maml", loss_fn, optimizer, donate=False, microbatches=2,
      **{**kwargs, "remat": remat}), mesh)
  state = parallel.replicate(initial_state(name), mesh)
  for batch in batches:
    state, metrics = step(state, parallel.shard_batch(batch, mesh))
  assert_matches_reference(state.params, metrics, name, "maml")


@pytest.mark.parametrize("name,algorithm", [
    slow_unless({("mlp", "maml")}, name, algorithm)
    for name, algorithm in [("mlp", "maml"), ("mlp", "fomaml"), ("mlp", "reptile"),
                            ("melu", "maml")]])
def test_pmap_step_equals_single_device_step(name, algorithm):
  """Batch 2 leaves device 3 (of 4) without a valid task: a pmean of per-device
  means would weight it like the others."""
  loss_fn, params, batches, optimizer, kwargs = problem(name)
  step = parallel.make_pmap_step(algorithm, loss_fn, optimizer,
                                 devices=jax.devices()[:4], **kwargs)
  states = parallel.pmap_replicate(initial_state(name), 4)
  for batch in batches:
    states, metrics = step(states, parallel.pmap_split(batch, 4))
  for leaf in jax.tree.leaves((states, metrics)):
    np.testing.assert_array_equal(leaf, np.broadcast_to(leaf[0], leaf.shape))
  state = parallel.pmap_unreplicate(states)
  assert int(state.step) == 3
  assert_matches_reference(state.params, parallel.pmap_unreplicate(metrics), name,
                           algorithm)


@pytest.mark.parametrize("algorithm", [
    "meta_sgd", pytest.param("model_average", marks=pytest.mark.slow)])
def test_meta_sgd_and_model_average_in_both_entry_points(algorithm):
  loss_fn, params, batches, _, kwargs = problem("mlp")
  optimizer = optax.sgd(0.1)
  mesh = parallel.make_mesh(8)
  rates, step_kwargs = None, kwargs
  if algorithm == "meta_sgd":
    rates = meta.meta_sgd_init(params, kwargs["inner_lr"])
    step_kwargs = {"num_steps": kwargs["num_steps"]}
  state = meta.init_meta_state(params, optimizer, rates)
  single = meta.make_meta_step(algorithm, loss_fn, optimizer, donate=False,
                               **step_kwargs)
  sharded = parallel.data_parallel_step(single, mesh, donate=False)
  pmapped = parallel.make_pmap_step(algorithm, loss_fn, optimizer, donate=False,
                                    devices=jax.devices()[:2], **step_kwargs)
  expected, _ = single(state, batches[1])
  got, _ = sharded(parallel.replicate(state, mesh), batches[1])
  got_pmap, _ = pmapped(parallel.pmap_replicate(state, 2),
                        parallel.pmap_split(batches[1], 2))
  for actual in (got, parallel.pmap_unreplicate(got_pmap)):
    np.testing.assert_allclose(ravel_pytree(actual.params)[0],
                               ravel_pytree(expected.params)[0], rtol=RTOL, atol=ATOL)
    if algorithm == "meta_sgd":
      np.testing.assert_allclose(ravel_pytree(actual.inner_lr)[0],
                                 ravel_pytree(expected.inner_lr)[0], rtol=RTOL,
                                 atol=ATOL)


def test_checkpoint_from_eight_devices_restores_on_one_and_on_two(tmp_path):
  mesh, state, _ = sharded_run("mlp", "maml", 8)
  latest, best = checkpoint.managers(tmp_path)
  checkpoint.save(latest, int(state.step), state, {"note": "8 devices"})
  one = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  two = parallel.replicated(parallel.make_mesh(2))
  template = initial_state("mlp")
  for sharding in (one, two):
    restored, saved_meta = checkpoint.restore(latest, template, sharding=sharding)
    assert saved_meta == {"note": "8 devices"}
    for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(state)):
      assert got.sharding == sharding and got.dtype == want.dtype
      np.testing.assert_array_equal(got, want)
  latest.close()
  best.close()


def test_batch_not_divisible_by_the_devices_is_an_error():
  mesh = parallel.make_mesh(4)
  batch = jax.tree.map(lambda x: x[:6], problem("mlp")[2][0])
  step = parallel.data_parallel_step(meta_step("mlp", "maml"), mesh)
  message = "the batch has 6 tasks, not divisible by the 4 devices"
  with pytest.raises(ValueError, match=message):
    step(parallel.replicate(initial_state("mlp"), mesh), batch)
  with pytest.raises(ValueError, match=message):
    parallel.pmap_split(batch, 4)
  with pytest.raises(ValueError, match="process 0's batch has 6 tasks, not divisible"):
    parallel.shard_batch(batch, mesh)
  ragged = {"a": np.zeros((8, 2)), "b": np.zeros(4)}
  with pytest.raises(ValueError, match=r"different numbers of tasks: \{\"\['a'\]\": 8"):
    parallel.shard_batch(ragged, mesh)
  with pytest.raises(ValueError, match=r"batch\['s'\] is a scalar"):
    parallel.shard_batch({"s": np.float32(1.0)}, mesh)
  with pytest.raises(ValueError, match="num_devices=9, but there are 8 devices"):
    parallel.make_mesh(9)


def test_process_shard_splits_consecutive_blocks():
  episodes = Episodes(
      state="train", group="train", user=np.arange(5, dtype=np.int32) + 10,
      support_item=np.arange(10, dtype=np.int32), support_y=np.ones(10, np.float32),
      support_offsets=np.arange(0, 11, 2), query_item=np.arange(5, dtype=np.int32),
      query_y=np.ones(5, np.float32), query_offsets=np.arange(6))
  shards = [parallel.process_shard(episodes, p, 2) for p in range(2)]
  assert [s.user.tolist() for s in shards] == [[10, 11], [12, 13, 14]]
  np.testing.assert_array_equal(shards[1].support_item, np.arange(4, 10))
  np.testing.assert_array_equal(shards[1].support_offsets, [0, 2, 4, 6])
  assert [parallel.process_shard(np.arange(7), p, 3).tolist() for p in range(3)] == [
      [0, 1], [2, 3], [4, 5, 6]]
  batch = problem("mlp")[2][0]
  half = parallel.process_shard(batch, 1, 2)
  np.testing.assert_array_equal(half["query"]["x"], batch["query"]["x"][4:])
  whole = parallel.process_shard(batch)  # one process: everything
  np.testing.assert_array_equal(whole["support"]["x"], batch["support"]["x"])
  with pytest.raises(ValueError, match="the batch has 8 tasks, not divisible by the 3 "
                                       "processes"):
    parallel.process_shard(batch, 0, 3)
  with pytest.raises(ValueError,
                     match=r"process_index=2 is not in \[0, process_count=2\)"):
    parallel.process_shard(episodes, 2, 2)


def test_initialize_distributed_is_a_no_op_without_a_coordinator():
  assert not parallel.initialize_distributed(ml_collections.ConfigDict({"seed": 0}))
  config = ml_collections.ConfigDict({"distributed": {
      "coordinator_address": "", "num_processes": 1, "process_id": 0}})
  assert not parallel.initialize_distributed(config)
  config.distributed.coordinator_address = "127.0.0.1:1"
  config.distributed.num_processes = 2
  config.distributed.process_id = 2
  with pytest.raises(ValueError, match=r"process_id must be in \[0, 2\), got 2"):
    parallel.initialize_distributed(config)
  config.distributed.num_processes = 0
  with pytest.raises(ValueError, match="num_processes must be >= 1, got 0"):
    parallel.initialize_distributed(config)


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
  """Two localhost processes x 2 fake CPU devices (gloo collectives) run the MAML
  steps of the worker; their result and checkpoint match one process."""
  worker = pathlib.Path(problem_def.__file__)
  env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2",
         "JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"}
  port = free_port()
  procs = [subprocess.Popen([sys.executable, str(worker), str(p), "2", str(port),
                             str(tmp_path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True) for p in range(2)]
  try:
    outputs = [proc.communicate(timeout=240)[0] for proc in procs]
  finally:
    for proc in procs:
      proc.kill()
  for proc, output in zip(procs, outputs):
    assert proc.returncode == 0, output[-3000:]
  result = np.load(tmp_path / "result.npz")
  assert int(result["devices"]) == 4 and int(result["processes"]) == 2
  metrics = {k: result[k] for k in result.files if k not in ("params", "devices",
                                                              "processes")}
  params = ravel_pytree(initial_state("mlp").params)[1](result["params"])
  assert_matches_reference(params, metrics, "mlp", "maml", problem_def.NUM_STEPS)
  latest, best = checkpoint.managers(tmp_path / "run", read_only=True)
  restored, saved_meta = checkpoint.restore(latest, initial_state("mlp"))
  assert saved_meta == {"devices": 4} and int(restored.step) == problem_def.NUM_STEPS
  np.testing.assert_array_equal(ravel_pytree(restored.params)[0], result["params"])
  latest.close()
  best.close()
