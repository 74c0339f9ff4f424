"""Which way each metric improves: the one table training, baseline tuning and
result pooling select with.

A metric name's prefix says its direction: ``mae``, ``rmse``, ``mse`` (errors) are
minimised; ``auc``, ``ndcg``, ``precision``, ``recall``, ``f1``, every full-catalogue
metric (``full_ndcg@10``, ``full_recall@10``, ...), ``coverage``, ``novelty`` and
``diversity`` are maximised.
"""

from __future__ import annotations

# Metric-name prefixes where a smaller value is better.
LOWER_IS_BETTER = ("mae", "rmse", "mse")
# Metric-name prefixes where a larger value is better.
HIGHER_IS_BETTER = ("auc", "ndcg", "precision", "recall", "f1", "full_", "coverage",
                    "novelty", "diversity")


def higher_is_better(metric: str) -> bool:
  """Whether a larger value of ``metric`` is better (by its name's prefix).

  Raises:
    ValueError: ``metric`` starts with none of :data:`LOWER_IS_BETTER` and
      :data:`HIGHER_IS_BETTER`.
  """
  if metric.startswith(HIGHER_IS_BETTER):
    return True
  if metric.startswith(LOWER_IS_BETTER):
    return False
  raise ValueError(f"unknown metric {metric!r}: its name starts with none of "
                   f"{LOWER_IS_BETTER + HIGHER_IS_BETTER}, so it has no direction")


def is_better(metric: str, new: float, best: float | None) -> bool:
  """Whether ``new`` strictly improves on ``best`` for ``metric``: ``new > best`` when
  :func:`higher_is_better`, else ``new < best``; True when ``best`` is None.

  Raises:
    ValueError: as :func:`higher_is_better`.
  """
  higher = higher_is_better(metric)
  if best is None:
    return True
  return new > best if higher else new < best
