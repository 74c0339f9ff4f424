"""Meta-training runs: resuming, checkpoints, evaluation from a fresh process."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import types

import jax
import numpy as np
import pytest

from experiments.configs import default, maml_synthetic
from jaxrec import checkpoint
from jaxrec import config as config_lib
from jaxrec import meta
from jaxrec import parallel
from jaxrec import prepare
from jaxrec import scoring
from jaxrec import train
from jaxrec import train_step
from jaxrec.data import batching
from jaxrec.data import episodes as episodes_lib
from jaxrec.data import splits

ROOT = pathlib.Path(__file__).resolve().parents[1]
METRIC_KEYS = ("mae", "rmse", "ndcg@1", "ndcg@3", "ndcg@5", "ndcg@10", "ndcg_exp@10",
               "precision@5", "recall@5", "f1@5", "auc", "coverage@10", "novelty@10",
               "diversity@10")


def tiny_config(algorithm="maml"):
  config = maml_synthetic.get_config()
  config.data.synthetic = {"num_users": 100, "num_items": 120, "seed": 0}
  config.meta.algorithm = algorithm
  config.meta.num_steps = 2
  config.batch_size = 16
  config.buckets = None  # one padded shape: one compile of the step
  config.num_epochs = 3
  config.eval_every = 4
  config.patience = 100
  config.eval_batch_size = 64
  return config


def final_params(workdir, config):
  model = train.model_of(config, prepare.prepare(config))
  latest = checkpoint.managers(workdir, read_only=True)[0]
  state, meta = checkpoint.restore(latest, train.init_state(config, model))
  return state, meta


def assert_same_state(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("run")
  config = tiny_config()
  summary = train.train(config, workdir, progress=False)
  return workdir, config, summary


def test_training_writes_logs_and_checkpoints(finished_run):
  workdir, config, summary = finished_run
  records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in records] == sorted({r["step"] for r in records})
  assert records[-1]["step"] == summary["step"] > 0
  assert json.loads((workdir / "config.json").read_text()) == json.loads(config.to_json())
  assert summary["best_step"] in [r["step"] for r in records]
  best = min(r["val_rmse"] for r in records)
  assert summary["best"]["val_rmse"] == pytest.approx(best)
  # The first line validates the starting state (step 0, no training metrics yet).
  assert records[0]["step"] == 0 and "train_query_loss_after" not in records[0]
  trained = records[1:]
  # Meta-training improves the adapted query loss over the first logged value.
  assert trained[-1]["train_query_loss_after"] < trained[0]["train_query_loss_before"]
  # Each line's training metrics average its own steps (15 steps, logged at 4, 8,
  # 12 and 15): no line repeats the previous one's.
  losses = [r["train_query_loss_after"] for r in trained]
  assert len(set(losses)) == len(losses)


def test_crashed_run_resumes_to_identical_result(finished_run, tmp_path, monkeypatch):
  workdir, config, summary = finished_run
  shard_batch = parallel.shard_batch
  calls = []

  def crashing(batch, mesh):
    calls.append(1)
    if len(calls) == 7:  # after the checkpoint of step 4, before the one of step 8
      raise RuntimeError("simulated crash")
    return shard_batch(batch, mesh)

  monkeypatch.setattr(parallel, "shard_batch", crashing)
  with pytest.raises(RuntimeError, match="simulated crash"):
    train.train(config, tmp_path, progress=False)
  monkeypatch.setattr(parallel, "shard_batch", shard_batch)
  resumed = train.train(config, tmp_path, progress=False)

  assert resumed == summary
  assert_same_state(final_params(tmp_path, config)[0], final_params(workdir, config)[0])
  assert ((tmp_path / "metrics.jsonl").read_text()
          == (workdir / "metrics.jsonl").read_text())


def test_run_crashed_before_its_first_validation_resumes(finished_run, tmp_path,
                                                         monkeypatch):
  """A crash between the step-0 checkpoint and the first ``eval_every`` step: the
  resumed run neither validates step 0 again nor differs from an uninterrupted one."""
  workdir, config, summary = finished_run
  shard_batch = parallel.shard_batch

  def crashing(batch, mesh):
    raise RuntimeError("simulated crash")

  monkeypatch.setattr(parallel, "shard_batch", crashing)
  with pytest.raises(RuntimeError, match="simulated crash"):
    train.train(config, tmp_path, progress=False)
  monkeypatch.setattr(parallel, "shard_batch", shard_batch)
  assert train.train(config, tmp_path, progress=False) == summary
  assert ((tmp_path / "metrics.jsonl").read_text()
          == (workdir / "metrics.jsonl").read_text())


def test_rerunning_a_finished_run_changes_nothing(finished_run):
  workdir, config, summary = finished_run
  before = final_params(workdir, config)[0]
  assert train.train(config, workdir, progress=False)["step"] == summary["step"]
  assert_same_state(final_params(workdir, config)[0], before)


def test_resume_refuses_a_different_config(finished_run):
  workdir, config, _ = finished_run
  other = tiny_config()
  other.meta.inner_lr = 0.123
  with pytest.raises(ValueError, match="different config"):
    train.train(other, workdir, progress=False)


def test_an_epoch_trains_on_every_training_user_exactly_once(tmp_path, monkeypatch):
  config = tiny_config()
  config.batch_size = 24  # 80 training users: 3 full batches and 8 users left over
  config.num_epochs = 1
  config.meta.num_steps = 1
  config.eval_every = 100
  shard_batch = parallel.shard_batch
  users = []

  def recording(batch, mesh):
    real = np.asarray(batch["query"]["mask"]).sum(1) > 0
    users.extend(np.asarray(batch["query"]["user"])[real].tolist())
    return shard_batch(batch, mesh)

  monkeypatch.setattr(parallel, "shard_batch", recording)
  summary = train.train(config, tmp_path, progress=False)
  prepared = prepare.prepare(config)
  episodes = episodes_lib.training_episodes(
      prepared.interactions, prepared.split, epoch=0, seed=config.seed,
      query_size=config.data.query_size, negatives=config.data.negatives)
  assert len(episodes) % config.batch_size
  assert sorted(users) == sorted(episodes.user.tolist())
  assert summary["step"] == batching.num_batches(episodes, config.batch_size,
                                                 buckets=config.buckets)


@pytest.mark.parametrize("name, head", [
    ("melu", {("mlp", "out", "kernel"), ("mlp", "out", "bias")}),
    ("two_tower", {("user_tower", "user_vec"), ("user_tower", "proj", "kernel"),
                   ("user_tower", "proj", "bias"), ("item_bias", "kernel"),
                   ("item_bias", "bias"), ("bias",)})])
def test_anil_adapts_the_output_layer_the_model_declares(name, head):
  config = tiny_config("anil")
  config.meta.adapt = "head"
  config.model.name = name
  model = train.model_of(config, prepare.prepare(config))
  mask = scoring.trainable(config, model)
  assert mask is model.head_mask
  flat = jax.tree_util.tree_flatten_with_path(mask)[0]
  assert {tuple(k.key for k in path) for path, leaf in flat if leaf} == head


def test_training_algorithms_are_the_meta_learners_and_joint():
  assert set(train_step.TRAINING_ALGORITHMS) == {*meta.ALGORITHMS, "joint"}
  assert [n for n, a in train_step.TRAINING_ALGORITHMS.items() if a.learns_inner_lr] == [
      "meta_sgd"]
  assert [n for n, a in train_step.TRAINING_ALGORITHMS.items() if not a.uses_optimizer] == [
      "model_average"]


def test_an_unknown_algorithm_fails_before_the_run_is_written(tmp_path):
  with pytest.raises(ValueError, match="config.meta.algorithm: unknown algorithm 'bogus'"):
    train.train(tiny_config("bogus"), tmp_path, progress=False)
  assert not (tmp_path / "config.json").exists()
  assert not (tmp_path / "provenance.json").exists()


def test_the_config_schema_is_the_package_s():
  assert default.get_config is config_lib.get_config
  assert config_lib.get_config().to_json() == default.get_config().to_json()
  assert config_lib.get_config() is not config_lib.get_config()


def test_train_reaches_its_data_and_step_through_their_modules():
  """One name per concept: the run's data and step are jaxrec.prepare's and
  jaxrec.train_step's, not also attributes of jaxrec.train."""
  for name in ("prepare", "Prepared", "make_train_step", "make_optimizer", "algorithm_of",
               "StepFn"):
    assert not hasattr(train, name), name


def test_validation_ranks_at_evaluation_s_cut_offs(monkeypatch):
  """Validation and evaluation report the query-set ranking metrics at the same k
  (jaxrec.scoring.KS), so every evaluated metric can be a best_metric."""
  monkeypatch.setattr(scoring, "KS", (2,))
  config = tiny_config()
  prepared = prepare.prepare(config)
  episodes = episodes_lib.make_episodes(prepared.interactions, prepared.split, "new_users",
                                        group="val", seed=0)
  state = types.SimpleNamespace(params=None, inner_lr=None)

  def predict(params, inner_lr, num_steps, batch):
    return np.zeros(batch["query"]["item"].shape)
  values = train.validation_metric(config, predict, state, episodes, implicit=False)
  assert "val_ndcg@2" in values and "val_ndcg@10" not in values


def test_popularity_counts_distinct_training_users():
  config = tiny_config()
  prepared = prepare.prepare(config)
  inter = prepared.interactions
  rows = splits.training_mask(inter, prepared.split)
  users = [set(inter.user[rows & (inter.item == i)].tolist())
           for i in range(inter.num_items)]
  np.testing.assert_array_equal(prepared.popularity, [len(u) for u in users])
  assert prepared.popularity.dtype == np.float32


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["fomaml", "reptile", "meta_sgd", "joint"])
def test_other_algorithms_train(algorithm, tmp_path):
  config = tiny_config(algorithm)
  config.num_epochs = 1
  summary = train.train(config, tmp_path, progress=False)
  assert summary["step"] > 0 and np.isfinite(summary["best"]["val_rmse"])


@pytest.mark.slow
def test_evaluate_in_fresh_process_on_one_device(finished_run):
  """Checkpoints written with 8 (fake) devices are evaluated by a process with 1."""
  workdir, _, _ = finished_run
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
  subprocess.run([sys.executable, "-m", "experiments.evaluate", f"--workdir={workdir}"],
                 cwd=ROOT, env=env, check=True, capture_output=True, text=True)
  output = json.loads((workdir / "results.json").read_text())
  assert output["protocol"]["device"].endswith("x1")
  states = {r["state"] for r in output["results"]}
  assert states == set(episodes_lib.STATES)
  methods = {r["method"] for r in output["results"]}
  assert {"melu-maml", "global_mean", "user_mean", "item_mean", "item_mean_user_bias",
          "mf_foldin"} <= methods
  for r in output["results"]:
    if r["method"].startswith("content_knn"):  # similarities, not ratings
      assert not {"mae", "rmse"} & set(r["metrics"]), r["method"]
      assert set(METRIC_KEYS) - {"mae", "rmse"} <= set(r["metrics"]), r["method"]
    else:
      assert set(METRIC_KEYS) <= set(r["metrics"]), r["method"]
  assert any(r["method"].startswith("content_knn") for r in output["results"])
  for name in ("results.md", "per_user.npz", "learning_curves.png", "k_shot.png",
               "inner_steps.png"):
    assert (workdir / name).exists(), name
  per_user = np.load(workdir / "per_user.npz")
  assert len(per_user["new_users|user"]) == len(per_user["melu-maml|new_users|rmse"])


@pytest.mark.slow
def test_killed_process_resumes(finished_run, tmp_path):
  """A SIGKILLed training process, restarted with the same command, ends with the
  same parameters as the uninterrupted run."""
  workdir, config, _ = finished_run
  config_file = tmp_path / "config.py"
  config_file.write_text(
      "import ml_collections, json\n"
      f"def get_config():\n  return ml_collections.ConfigDict(json.loads({config.to_json()!r}))\n")
  run_dir = tmp_path / "run"
  command = [sys.executable, "-m", "experiments.meta_train", f"--config={config_file}",
             f"--workdir={run_dir}"]
  proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while not any((run_dir / "checkpoints").glob("[0-9]*")) and time.time() < deadline:
    time.sleep(0.2)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
  assert_same_state(final_params(run_dir, config)[0], final_params(workdir, config)[0])
