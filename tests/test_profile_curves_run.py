"""experiments.profile_runs: the trained fold-in with vs without the profile input
on the liked pools (k = 0-3), as experiments.profile_curves reports it."""

import dataclasses
import json

import numpy as np
import pytest

from experiments import profile_runs
from experiments import results_tables
from experiments.configs import foldin_kshot_ml100k
from experiments.configs import foldin_profile_ml100k
from experiments.configs import maml_synthetic
from jaxrec import prepare
from jaxrec import profile_curves
from jaxrec import train
from jaxrec import zero_ratings


def synthetic_kshot_config():
  """A warm-started explicit fold-in trained on k-shot supports (as
  ``foldin_kshot_ml100k``) on a synthetic MovieLens whose tastes follow the
  profile."""
  config = maml_synthetic.get_config()
  config.data.dataset = "synthetic"
  config.data.synthetic = {"num_users": 400, "num_items": 200, "seed": 0,
                           "demographic_share": 0.8}
  config.data.train_support_sizes = foldin_kshot_ml100k.K_SHOT
  config.model.name = "foldin"
  config.model.kwargs = {"rank": 4, "use_ids": True, "use_side": True, "init_bias": 3.5}
  config.model.warm_start = {"reg": 3.0, "foldin_reg": 10.0}
  config.meta.adapter = "solve"
  config.meta.num_steps = 0
  config.optimizer.learning_rate = 3e-2
  config.num_epochs = 3
  config.eval_every = 1000
  return config


def with_profile(config):
  config = config.copy_and_resolve_references()
  config.model.kwargs = {**config.model.kwargs, "user_fields": foldin_profile_ml100k.PROFILE}
  return config


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
  root = tmp_path_factory.mktemp("runs")
  config = synthetic_kshot_config()
  train.train(config, root / "run", progress=False)
  train.train(with_profile(config), root / "profile", progress=False)
  prepared = prepare.prepare(config)
  test = profile_curves.liked_pools(prepared.interactions, prepared.split, "test",
                                    pool_size=profile_curves.K_SHOTS[-1], seed=0)
  workdirs = {"run": root / "run", "profile prior": root / "profile"}
  return profile_runs.evaluate_runs(workdirs, 0, pools=test.pools), test, workdirs


def test_both_runs_score_every_test_user_at_every_k(evaluated):
  out, test, _ = evaluated
  assert set(out["per_user"]) == set(profile_runs.RUN_METHODS)
  for by_k in out["per_user"].values():
    assert sorted(by_k) == list(profile_curves.K_SHOTS)
    for k in profile_curves.K_SHOTS:
      assert len(by_k[k]["ndcg@10"]) == len(test.pools.users) >= 10
      assert np.isfinite(by_k[k]["ndcg@10"]).all()
  assert out["runs"]["profile prior"]["code"]["code_hash"]
  # the profile enters the prior: without ratings the two models rank differently
  assert out["per_user"]["profile prior"][0] != out["per_user"]["run"][0]


def test_the_profile_prior_lifts_zero_ratings_on_planted_demographics(evaluated):
  out, _, _ = evaluated
  prior = np.mean(out["per_user"]["profile prior"][0]["ndcg@10"])
  alone = np.mean(out["per_user"]["run"][0]["ndcg@10"])
  assert prior > alone + 0.02, (prior, alone)


def test_other_pools_or_another_seed_are_refused(evaluated):
  _, test, workdirs = evaluated
  for changed in (dataclasses.replace(test.pools, pool=test.pools.pool[::-1]),
                  dataclasses.replace(test.pools, users=test.pools.users[::-1]),
                  dataclasses.replace(test.pools, query_mask=1.0 - test.pools.query_mask)):
    with pytest.raises(ValueError, match="pools are not those"):
      profile_runs.evaluate_runs(workdirs, 0, pools=changed)
  with pytest.raises(ValueError, match="split seed is 0, expected 1"):
    profile_runs.evaluate_runs(workdirs, 1)


def test_the_profile_config_is_the_kshot_config_plus_the_profile():
  """``foldin_kshot_ml100k`` is ``foldin_profile_ml100k`` retrained without the profile."""
  ours, theirs = foldin_kshot_ml100k.get_config(), foldin_profile_ml100k.get_config()
  assert theirs.model.kwargs["user_fields"] == foldin_profile_ml100k.PROFILE
  assert ours.data.train_support_sizes == theirs.data.train_support_sizes == (0, 1, 2, 3)
  theirs.model.kwargs = {k: v for k, v in theirs.model.kwargs.items() if k != "user_fields"}
  theirs.name = ours.name
  assert json.loads(theirs.to_json()) == json.loads(ours.to_json())


def test_paired_differences_of_the_runs(evaluated):
  out, _, _ = evaluated
  seeds = {0: {"per_user": out["per_user"]}, 1: {"per_user": out["per_user"]}}
  summary = zero_ratings.pool_seeds(seeds, profile_runs.RUN_METHODS,
                                    profile_curves.K_SHOTS,
                                    profile_runs.RUN_COMPARISONS[:1])
  found = {(p["method"], p["reference"], p["k"]): p for p in summary["paired"]
           if p["metric"] == "ndcg@10"}
  for k in profile_curves.K_SHOTS:
    want = np.mean(np.subtract(out["per_user"]["profile prior"][k]["ndcg@10"],
                               out["per_user"]["run"][k]["ndcg@10"]))
    assert found[("profile prior", "run", k)]["mean"] == pytest.approx(want)


def test_the_table_lists_the_runs_beside_the_baselines(evaluated):
  """The runs join the baselines of the same seed (same test users) in one table,
  whose source line names the code the runs were trained with."""
  out, _, _ = evaluated
  prepared = prepare.prepare(synthetic_kshot_config())
  seed = profile_curves.evaluate_seed(prepared.interactions, prepared.split, seed=0)
  assert (len(seed["per_user"]["popularity"][0]["ndcg@10"])
          == len(out["per_user"]["run"][0]["ndcg@10"]))
  seed["per_user"].update(out["per_user"])
  seed["runs"] = out["runs"]
  summary = zero_ratings.pool_seeds(
      {0: seed, 1: seed}, profile_curves.METHODS + profile_runs.RUN_METHODS,
      profile_curves.K_SHOTS, profile_curves.COMPARISONS + profile_runs.RUN_COMPARISONS)
  data = json.loads(json.dumps({
      "ks": profile_curves.K_SHOTS, "metrics": profile_curves.METRICS, "summary": summary,
      "seeds": {0: seed, 1: seed}, "command": "cmd", "cpu_minutes": 0.1,
      "backoff_fields": ["age"]}))
  text = "\n".join(results_tables.profile_tables(data, "src.json"))
  for method in profile_runs.RUN_METHODS:
    assert f"| {results_tables.PROFILE_NAMES[method]} |" in text
  code = out["runs"]["run"]["code"]["code_hash"][:12]
  assert f"the runs trained with code {code}" in text


def test_only_the_comparisons_of_the_runs_given_are_made():
  pick = profile_runs.run_comparisons
  assert pick(()) == ()
  assert pick(("run",)) == (("run", "mf_foldin+mean", profile_curves.K_SHOTS),)
  alone = pick(("profile prior",))
  assert alone and all("run" not in (m, r) for m, r, _ in alone)
  assert pick(profile_runs.RUN_METHODS) == profile_runs.RUN_COMPARISONS
