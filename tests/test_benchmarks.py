"""Tests for benchmarks/ and for the fast paths the meta-step benchmark relies on.

The fast paths (``SharedInputDense``, the staged MeLU loss with catalogue
features, ``adapt`` hoisting ``prepare`` out of the inner loop and running the
first step outside the scan) must give the straightforward path's losses and
meta-gradients to float tolerance. The feature-space MAML loss is tested in
``test_meta_feature_space.py``.
"""

import json
import pathlib
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from benchmarks import meta_step, workload
from jaxrec import meta, models
from jaxrec.models.layers import MLP
from tests.melu_case import assert_trees_close, reference_loss, small_batch, small_model

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_shared_input_dense_matches_dense_on_concatenation():
  shared, x = jnp.arange(3.0) - 1.0, jnp.linspace(-1.0, 1.0, 10).reshape(5, 2)
  concat = jnp.concatenate([jnp.broadcast_to(shared, (5, 3)), x], axis=-1)

  class Plain(nn.Module):
    @nn.compact
    def __call__(self, z):
      return nn.Dense(1, name="out")(nn.relu(nn.Dense(4, name="hidden_0")(z)))

  params = MLP((4,), 1).init(jax.random.key(3), x, shared=shared)
  plain = Plain().init(jax.random.key(3), concat)
  assert_trees_close(params, plain, rtol=0, atol=0)  # same names, shapes, init
  np.testing.assert_allclose(MLP((4,), 1).apply(params, x, shared=shared),
                             Plain().apply(plain, concat), rtol=1e-6)


def test_melu_loss_is_staged_and_matches_the_straightforward_loss_and_grad():
  model, user, item = small_model()
  assert isinstance(model.loss, models.StagedLoss)
  assert isinstance(model.loss, meta.StagedLossFn)
  # prepare reads exactly the leaves the inner loop does not adapt
  assert jax.tree.map(lambda a, b: a != b, model.loss.prepare_reads, model.adapt_mask) \
      == jax.tree.map(lambda _: True, model.adapt_mask)
  params = model.init(jax.random.key(0))
  part = jax.tree.map(lambda x: x[0], small_batch(len(user["zip"]), len(item["rate"]))["support"])
  value, grads = jax.value_and_grad(model.loss)(params, part)
  ref_value, ref_grads = jax.value_and_grad(reference_loss(model))(params, part)
  np.testing.assert_allclose(value, ref_value, rtol=1e-6)
  assert_trees_close(grads, ref_grads)


@pytest.mark.parametrize("num_steps, first_order", [(1, False), (3, False), (3, True)])
def test_hoisted_maml_meta_gradient_matches_the_plain_path(num_steps, first_order):
  model, user, item = small_model()
  params = model.init(jax.random.key(0))
  batch = small_batch(len(user["zip"]), len(item["rate"]))
  support, query = (jax.tree.map(lambda x: x[1], batch[k]) for k in ("support", "query"))

  def objective(loss_fn):
    return jax.jit(jax.value_and_grad(lambda p: meta.maml_loss(
        loss_fn, p, support, query, 0.1, num_steps, first_order=first_order,
        trainable=model.adapt_mask)))

  value, grads = objective(model.loss)(params)
  ref_value, ref_grads = objective(reference_loss(model))(params)
  np.testing.assert_allclose(value, ref_value, rtol=1e-5)
  assert_trees_close(grads, ref_grads, rtol=1e-4, atol=1e-6)
  # the embeddings get an outer gradient through the hoisted features
  assert float(optax.tree.norm(grads["item"])) > 0
  assert float(optax.tree.norm(grads["user_embed"])) > 0


def test_staged_loss_is_not_hoisted_when_prepare_reads_an_adapted_leaf():
  model, user, item = small_model()
  params = model.init(jax.random.key(0))
  support = jax.tree.map(lambda x: x[0],
                         small_batch(len(user["zip"]), len(item["rate"]))["support"])
  # trainable=None adapts the embeddings too: hoisting would freeze them
  adapted = meta.adapt(model.loss, params, support, 0.5, 2)
  reference = meta.adapt(reference_loss(model), params, support, 0.5, 2)
  assert_trees_close(adapted, reference)
  assert not np.allclose(adapted["item"]["embed"]["actor"], params["item"]["embed"]["actor"])


def test_meta_step_with_staged_loss_matches_plain_loss():
  model, user, item = small_model()
  batch = small_batch(len(user["zip"]), len(item["rate"]), batch_size=4)
  states = []
  for loss_fn in (model.loss, reference_loss(model)):
    step = meta.make_meta_step("maml", loss_fn, optax.sgd(1.0), inner_lr=0.3, num_steps=2,
                               trainable=model.adapt_mask, donate=False)
    state, metrics = step(meta.init_meta_state(model.init(jax.random.key(0)),
                                               optax.sgd(1.0)), batch)
    states.append((state.params, metrics))
  assert_trees_close(*states, rtol=1e-4, atol=1e-6)


def test_synthetic_episodes_and_buckets():
  episodes = workload.synthetic_episodes(400, num_users=10, num_items=20, seed=0)
  sizes = episodes.support_sizes
  assert sizes.min() >= 3 and sizes.max() <= 90 and (episodes.query_sizes == 10).all()
  again = workload.synthetic_episodes(400, num_users=10, num_items=20, seed=0)
  np.testing.assert_array_equal(episodes.support_item, again.support_item)
  buckets = workload.bucket_batches(episodes, 8, "pow2")
  assert [length for length, _, _ in buckets] == [8, 16, 32, 64, int(sizes.max())]
  assert sum(f for _, f, _ in buckets) == pytest.approx(1.0)
  for length, _, batch in buckets:
    assert batch["support"]["item"].shape == (8, length)
  with pytest.raises(ValueError, match="bucket S=8 has .* fewer than batch_size=400"):
    workload.bucket_batches(episodes, 400, "pow2")
  with pytest.raises(ValueError, match="min_support"):
    workload.synthetic_episodes(5, num_users=3, num_items=3, seed=0, min_support=0)


def test_step_names_bucket_modes_and_schedulers():
  assert meta_step.step_spec("maml5") == ("maml", 5, False, "none")
  assert meta_step.step_spec("maml12w") == ("maml", 12, True, "none")
  assert meta_step.step_spec("maml5:recompute") == ("maml", 5, False, "recompute")
  assert meta_step.step_spec("maml3w:steps") == ("maml", 3, True, "steps")
  assert meta_step.step_spec("reptile3") == ("reptile", 3, False, "none")
  for bad in ("fomaml1w", "maml", "sgd1", "reptile2:steps", "maml2:full"):
    with pytest.raises(ValueError, match=f"unknown step '{bad}'"):
      meta_step.step_spec(bad)
  assert [meta_step.bucket_mode(m) for m in ("none", "pow2", "12")] == [None, "pow2", 12]
  for bad in ("0", "quantile", "-3"):
    with pytest.raises(ValueError, match=f"unknown bucket mode '{bad}'"):
      meta_step.bucket_mode(bad)
  assert meta_step.scheduler_options("default") == {}
  assert meta_step.scheduler_options("memory") == {
      "xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}
  with pytest.raises(ValueError, match="unknown scheduler 'fast'"):
    meta_step.scheduler_options("fast")


@pytest.mark.parametrize("name", list(meta_step.FINAL_STEPS))
def test_final_method_steps_train_and_are_timed(name):
  """Each final method's step (its config's model and training step over the
  workload's tables) updates the item side and reports throughput, FLOPs and
  memory."""
  user, item, vocab = workload.ml1m_tables(0, workload.QUICK_SCALE)
  step, fresh_state = meta_step.final_step(name, user, item, vocab)
  batch = small_batch(len(user["zip"]), len(item["rate"]), batch_size=4)
  state = fresh_state()
  before = np.asarray(state.params["item"]["embed"]["item_id"])
  after, metrics = step(state, batch)
  assert all(np.isfinite(float(v)) for v in jax.tree.leaves(metrics))
  assert not np.allclose(np.asarray(after.params["item"]["embed"]["item_id"]), before)
  episodes = workload.synthetic_episodes(64, num_users=len(user["zip"]),
                                         num_items=len(item["rate"]), seed=0, max_support=16)
  row = meta_step.bench_config(None, episodes, name, batch_size=4, buckets="pow2",
                               dtype=jnp.float32, warmup=0, reps=1,
                               mesh=meta_step.parallel.make_mesh(1),
                               tables=(user, item, vocab))
  assert (row["name"], row["algorithm"], row["num_steps"]) == (name, "maml", 0)
  assert row["tasks_per_s"] > 0 and row["flops_per_task"] > 0
  assert row["peak_memory_bytes"] == max(b["memory_bytes"] for b in row["buckets_detail"]) > 0


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU scheduler options")
def test_step_memory_compiles_under_each_scheduler():
  # The memory-optimised scheduler's option must be one XLA:CPU accepts.
  model, user, item = small_model()
  batch = small_batch(len(user["zip"]), len(item["rate"]), batch_size=4)
  for scheduler in meta_step.SCHEDULERS:
    row = meta_step.step_memory(model, batch, "maml3:recompute", scheduler=scheduler)
    assert (row["step"], row["remat"], row["scheduler"]) == (
        "maml3:recompute", "recompute", scheduler)
    assert row["total_bytes"] == row["temp_bytes"] + row["argument_bytes"] > 0


def test_ml1m_tables_have_the_movielens_vocabularies():
  user, item, vocab = workload.ml1m_tables()
  assert (len(item["rate"]), len(user["zip"])) == (3706, 6040)
  assert vocab["actor"] == 8030 and item["actor"].shape == (3706, 10)
  assert item["actor"].max() < 8030 and (item["actor_mask"].sum(1) >= 1).all()
  # MeLU on them has a 256-wide MLP input
  model = models.melu(user, item, vocab)
  assert jax.eval_shape(model.init, jax.random.key(0))["mlp"]["hidden_0"]["kernel"].shape \
      == (256, 64)


@pytest.mark.slow
def test_quick_benchmark_prints_the_expected_json():
  proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "meta_step.py"),
                         "--quick"], capture_output=True, text=True, cwd=ROOT, check=True)
  report = json.loads(proc.stdout)
  assert set(report) == {"source", "machine", "setup", "results", "memory", "headline"}
  assert report["source"].startswith("python ") and "meta_step.py" in report["source"]
  assert report["machine"]["peak_fp32_gflops"] > 0
  names = {(r["name"], r["buckets"]) for r in report["results"]}
  assert names == {("maml1", "pow2"), ("reptile5", "pow2")}
  for r in report["results"]:
    assert r["tasks_per_s"] > 0 and r["compile_s"] > 0 and r["flops_per_task"] > 0
    assert [b["support_len"] for b in r["buckets_detail"]] == [8, 16]
  assert [(m["step"], m["remat"], m["microbatches"]) for m in report["memory"]] == [
      ("maml1", "none", 1), ("maml1:steps", "steps", 1), ("maml1:recompute", "recompute", 1),
      ("maml1w:steps", "steps", 1), ("fomaml1", "none", 1), ("maml1:recompute", "recompute", 8),
      ("fomaml1", "none", 8)]
  assert {m["scheduler"] for m in report["memory"]} == {"default"}
  assert "| maml1:recompute | 8 | default |" in proc.stderr
  assert "maml1_b8_pow2" in report["headline"]
  assert "| maml1 | 8 | pow2 |" in proc.stderr


@pytest.mark.slow
def test_recommend_latency_reports_requests_with_friends(tmp_path):
  """``benchmarks/recommend_latency.py`` on a tiny implicit run, each request with
  two ratings and the user's friends: the JSON names its source and signals."""
  from jaxrec import train  # pylint: disable=import-outside-toplevel
  from tests.test_foldin import lastfm_foldin_config  # pylint: disable=import-outside-toplevel
  config = lastfm_foldin_config(num_users=120, num_artists=100, rank=4)
  config.meta.adapter = "solve"
  config.meta.num_steps = 0
  config.best_metric = "full_ndcg@10"
  config.num_epochs = 1
  config.eval_every = 1000
  config.name = "tiny-foldin"
  train.train(config, tmp_path / "run", progress=False)
  proc = subprocess.run(
      [sys.executable, "-m", "benchmarks.recommend_latency", f"--workdir={tmp_path / 'run'}",
       "--signals=friends", "--support=2", "--repeats=3", "--warmup=1", "--batch=2",
       f"--out={tmp_path / 'latency.json'}"],
      capture_output=True, text=True, cwd=ROOT, check=True)
  report = json.loads((tmp_path / "latency.json").read_text())
  assert report == json.loads(proc.stdout)
  assert "recommend_latency" in report["source"] and report["signals"] == ["friends"]
  assert (report["model"], report["adapter"], report["support"]) == ("foldin", "solve", 2)
  assert (report["method"], report["dataset"], report["seed"]) == (
      "tiny-foldin", "synthetic-lastfm", config.seed)
  assert report["run_code_hash"] == json.loads(
      (tmp_path / "run" / "provenance.json").read_text())["code_hash"]
  assert report["repeats"] == 3 and report["batch"] == 2
  assert 0 < report["min_ms"] <= report["p50_ms"] <= report["p99_ms"]
