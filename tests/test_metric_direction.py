"""One direction per metric, used by training, baseline tuning and result pooling."""

import pytest

from jaxrec import metrics
from jaxrec import results
from jaxrec.baselines import search


@pytest.mark.parametrize("metric", ["mae", "rmse", "mse"])
def test_errors_are_minimised(metric):
  assert not metrics.higher_is_better(metric)
  assert metrics.is_better(metric, 0.9, 1.0) and not metrics.is_better(metric, 1.0, 0.9)


@pytest.mark.parametrize("metric", [
    "auc", "ndcg@10", "ndcg_exp@10", "precision@5", "recall@5", "f1@5", "full_ndcg@10",
    "full_recall@10", "coverage@10", "novelty@10", "diversity@10"])
def test_ranking_and_catalogue_metrics_are_maximised(metric):
  assert metrics.higher_is_better(metric)
  assert metrics.is_better(metric, 1.0, 0.9) and not metrics.is_better(metric, 0.9, 1.0)


def test_ties_and_the_first_value():
  assert not metrics.is_better("rmse", 1.0, 1.0)
  assert metrics.is_better("full_ndcg@10", 0.0, None)


def test_a_metric_without_a_direction_is_an_error():
  with pytest.raises(ValueError, match="unknown metric 'loss'"):
    metrics.higher_is_better("loss")
  with pytest.raises(ValueError, match="unknown metric 'loss'"):
    metrics.is_better("loss", 1.0, None)


def test_results_pick_the_strongest_by_the_same_direction():
  rows = [{"method": m, "state": "new_users", "metrics": {"coverage@10": v}}
          for m, v in (("a", 0.2), ("b", 0.5))]
  assert results.strongest_baseline(rows, "new_users", "coverage@10") == "b"


def test_one_table_of_metric_columns():
  assert not hasattr(search, "LOWER_IS_BETTER")
  assert {"full_ndcg@10", "novelty@10", "diversity@10"} <= set(results.TABLE_METRICS)
