"""experiments.ranking_check: a run's liked-item ranking beside the ranking-only
baselines on the run's own test users, and its README table."""

import numpy as np
import pytest

from experiments import _study
from experiments import ranking_check
from experiments import results_tables
from jaxrec import evaluate
from jaxrec import scoring
from jaxrec import train
from jaxrec import zero_ratings
from tests.test_profile_curves_run import synthetic_kshot_config


def _config():
  config = synthetic_kshot_config()
  del config.data.train_support_sizes
  config.name = "foldin-solve"
  return config


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
  """``(workdir, the run's per_user.npz, evaluate_seed's output)`` of a synthetic
  explicit fold-in run evaluated as run_all evaluates it."""
  workdir = tmp_path_factory.mktemp("ranking") / "seed_0"
  train.train(_config(), workdir, progress=False)
  evaluate.evaluate_run(workdir, progress=False)
  return workdir, np.load(workdir / "per_user.npz"), ranking_check.evaluate_seed(
      _config(), 0, workdir)


@pytest.mark.slow
def test_the_runs_figures_are_its_own_and_every_method_ranks_the_same_users(checked):
  _, saved, out = checked
  per_user = out["per_user"]
  rankers = [*ranking_check.GRIDS, ranking_check.BLEND]
  assert set(per_user) == {"foldin-solve", *rankers}
  ours = per_user["foldin-solve"]["all"]
  for metric in zero_ratings.METRICS:
    np.testing.assert_array_equal(ours[metric], saved[f"foldin-solve|new_users|full_{metric}"])
    left_out = np.isnan(ours[metric])
    for name in rankers:
      theirs = np.asarray(per_user[name]["all"][metric])
      np.testing.assert_array_equal(np.isnan(theirs), left_out)
      assert ((theirs[~left_out] >= 0) & (theirs[~left_out] <= 1)).all()
  assert out["users"]["liked_test"] == int((~left_out).sum())
  assert set(out["chosen"]) == set(rankers)
  assert out["chosen"][ranking_check.BLEND]["beta"] in ranking_check.BETAS


@pytest.mark.slow
def test_the_blend_reads_the_runs_own_ratings(checked):
  """With a constant ranker the blend ranks by the served rating alone, and scores
  each test user as the run's own evaluation did."""
  workdir, saved, _ = checked
  config = _config()
  prepared = _study.prepared(config, 0)
  test = scoring.padded_batches(ranking_check.test_episodes(config, prepared, 0),
                                scoring.batch_shape(config))
  constant = lambda batch, candidates: np.zeros(  # noqa: E731
      (batch["support"]["item"].shape[0], len(candidates)))
  rating = ranking_check.served_rating(_study.load_run(workdir, 0))
  figures = ranking_check._figures(ranking_check.blend(constant, rating, 1.0), test,
                                   prepared)["all"]
  for metric in zero_ratings.METRICS:
    np.testing.assert_allclose(figures[metric],
                               saved[f"foldin-solve|new_users|full_{metric}"], atol=1e-6)


@pytest.mark.slow
def test_a_run_of_another_split_is_refused(checked):
  workdir, _, _ = checked
  with pytest.raises(ValueError, match="not the run of this config and seed"):
    ranking_check.evaluate_seed(_config(), 1, workdir)


def test_the_blend_standardises_each_users_scores_and_beta_0_is_the_ranker():
  ranker = lambda batch, cand: np.array([[3.0, 1.0, 2.0], [5.0, 5.0, 5.0]])  # noqa: E731
  rating = lambda batch, cand: np.array([[1.0, 5.0, 3.0], [1.0, 2.0, 3.0]])  # noqa: E731
  alone = ranking_check.blend(ranker, rating, 0.0)(None, None)
  np.testing.assert_allclose(alone[0], np.array([1.0, -1.0, 0.0]) * np.sqrt(1.5))
  np.testing.assert_array_equal(alone[1], 0.0)  # equal scores: no NaN
  mixed = ranking_check.blend(ranker, rating, 2.0)(None, None)
  assert np.argmax(mixed[0]) == 1 and np.argmax(mixed[1]) == 2


def test_the_table_has_a_row_per_method_and_deltas_against_the_run():
  cell = lambda mean: {"ndcg@10": [mean, 0.01], "recall@10": [mean, 0.02]}  # noqa: E731
  paired = [{"method": "final", "reference": "popularity", "k": "all", "metric": m,
             "mean": -0.1, "ci95": 0.04, "low": -0.14, "seeds": 2}
            for m in ("ndcg@10", "recall@10")]
  paired.append({"method": "ials_foldin+rating", "reference": "ials_foldin", "k": "all",
                 "metric": "ndcg@10", "mean": 0.003, "ci95": 0.002, "low": 0.001,
                 "seeds": 2})
  run = {"chosen": {"popularity": {}, "ease": {"l2": 100.0}},
         "users": {"test": 10, "liked_test": 9},
         "runs": {"final": {"code": {"code_hash": "abc"}}}}
  data = {"ks": ["all"], "metrics": ["ndcg@10", "recall@10"], "command": "cmd",
          "code": {"code_hash": "def"}, "cpu_minutes": 0.5,
          "summary": {"table": {"final": {"all": cell(0.1)},
                                "popularity": {"all": cell(0.2)}}, "paired": paired},
          "seeds": {"0": run, "1": run}}
  lines = results_tables.ranking_check_table(data, "src.json")
  assert lines[2] == "| final | 0.100 ± 0.010 | 0.100 ± 0.020 | — | — |"
  assert lines[3].startswith("| popularity | 0.200 ± 0.010 | 0.200 ± 0.020 | -0.100 ± 0.040")
  assert lines[5] == ("The blend against the iALS fold-in alone (paired, 95% CI over seeds): "
                      "nDCG@10 +0.003 ± 0.002.")
  assert "seed 0: EASE l2 100; seed 1: EASE l2 100." in lines[7]
  assert "(code def; the runs trained with code abc); 2 seeds, 9–9 test users" in lines[9]
