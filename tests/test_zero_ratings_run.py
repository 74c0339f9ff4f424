"""experiments.zero_ratings_run: a trained run's k-shot curves with and without friends."""

import json
import pathlib

import numpy as np
import pytest

from experiments import zero_ratings_run
from jaxrec import prepare
from jaxrec import recommend
from jaxrec import train
from jaxrec import zero_ratings
from jaxrec.serving import signals as signals_lib
from tests.test_foldin import warm_lastfm_config
from tests.test_friends_prior import with_friends


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
  """A warm-started implicit fold-in run (seed 0) on a synthetic Last.fm and the
  same run trained with friends, their curves, and the zero-ratings baselines of
  the same seed."""
  config = warm_lastfm_config(num_users=300, num_artists=150, rank=8)
  config.data.synthetic = {**config.data.synthetic, "artists_per_user": (12, 40)}
  config.data.min_ratings = 1
  root = tmp_path_factory.mktemp("runs")
  train.train(config, root / "seed_0", progress=False)
  train.train(with_friends(config), root / "friends" / "seed_0", progress=False)
  prepared = prepare.prepare(config)
  baselines = zero_ratings.evaluate_seed(prepared.interactions, prepared.split, seed=0)
  return (zero_ratings_run.evaluate_seed(root / "seed_0", 0, root / "friends" / "seed_0"),
          {"seeds": {"0": baselines}})


def test_curves_cover_every_k_and_the_baselines_users(evaluated):
  run, baselines = evaluated
  users = len(baselines["seeds"]["0"]["per_user"]["popularity"][0]["ndcg@10"])
  assert run["users"]["test"] == users >= 10
  for method in zero_ratings_run.METHODS + zero_ratings_run.PRIOR_METHODS:
    assert sorted(run["per_user"][method]) == list(zero_ratings.K_SHOTS)
    for k in zero_ratings.K_SHOTS:
      assert len(run["per_user"][method][k]["ndcg@10"]) == users


def test_friends_weight_is_the_validation_best_and_serving_uses_its_own(evaluated):
  run, _ = evaluated
  for k, scores in run["validation"]["friends_weight"].items():
    assert run["chosen"]["friends_weight"][k] == max(scores, key=scores.get)
    assert set(scores) == set(zero_ratings.GRID["friends_weight"])
  serving = run["per_user"]["run+friends (serving)"]
  for k in zero_ratings.K_SHOTS:
    if run["chosen"]["friends_weight"][k] == signals_lib.FRIENDS_WEIGHT:
      assert run["per_user"]["run+friends"][k] == serving[k]
  assert serving[0] != run["per_user"]["run"][0]  # serving's weight adds the friends


def test_friends_lift_the_run_at_zero_ratings_on_planted_tastes(evaluated):
  """Friendships follow planted tastes: the friends' rows raise the run's test
  nDCG@10 at k = 0 (where the run alone has only its prior)."""
  run, _ = evaluated
  with_friends = np.nanmean(run["per_user"]["run+friends"][0]["ndcg@10"])
  alone = np.nanmean(run["per_user"]["run"][0]["ndcg@10"])
  assert with_friends > alone + 0.02, (with_friends, alone)


def test_the_friends_prior_lifts_the_retrained_run_at_zero_ratings(evaluated):
  """The same model trained with the friends input serves a user with no rating
  from their friends: better than the run without friends (its prior alone)."""
  run, _ = evaluated
  prior = np.nanmean(run["per_user"]["friends prior"][0]["ndcg@10"])
  alone = np.nanmean(run["per_user"]["run"][0]["ndcg@10"])
  assert prior > alone + 0.02, (prior, alone)
  ours, theirs = (recommend.load_recommender(pathlib.Path(run[key]["workdir"])).config
                  for key in ("run", "friends_run"))
  assert theirs.data.friends and not ours.data.friends
  assert theirs.model.kwargs["user_fields"] == ["friends"]
  theirs.data.friends = False
  theirs.model.kwargs = {k: v for k, v in theirs.model.kwargs.items()
                         if k not in ("user_fields", "user_pull")}
  # the same model, retrained without friends
  assert json.loads(theirs.to_json()) == json.loads(ours.to_json())


def test_paired_differences_against_the_baselines(evaluated):
  run, baselines = evaluated
  merged = zero_ratings_run.with_baselines({0: run, 1: run}, {
      "seeds": {"0": baselines["seeds"]["0"], "1": baselines["seeds"]["0"]}})
  summary = zero_ratings.pool_seeds(merged, zero_ratings_run.METHODS, zero_ratings.K_SHOTS,
                                    zero_ratings_run.COMPARISONS)
  found = {(p["method"], p["reference"], p["k"], p["metric"]): p for p in summary["paired"]}
  p = found[("run+friends", "friends+popularity", 0, "ndcg@10")]
  theirs = baselines["seeds"]["0"]["per_user"]["friends+popularity"][0]["ndcg@10"]
  want = np.nanmean(np.asarray(run["per_user"]["run+friends"][0]["ndcg@10"])
                    - np.asarray(theirs))
  assert p["mean"] == pytest.approx(want) and p["ci95"] == pytest.approx(0.0, abs=1e-12)
  short = {0: {"per_user": {**run["per_user"], "run": {
      k: {m: v[:-1] for m, v in by_metric.items()}
      for k, by_metric in run["per_user"]["run"].items()}}, "test_users": run["test_users"]}}
  with pytest.raises(ValueError, match="not the same pools"):
    zero_ratings.pool_seeds(zero_ratings_run.with_baselines(short, baselines),
                            zero_ratings_run.METHODS, zero_ratings.K_SHOTS,
                            zero_ratings_run.COMPARISONS)
  swapped = {0: {**run, "test_users": run["test_users"][::-1]}}
  with pytest.raises(ValueError, match="not the baselines'"):
    zero_ratings_run.with_baselines(swapped, baselines)
