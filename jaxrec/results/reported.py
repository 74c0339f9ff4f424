"""What the reports cover: the metric columns and which methods are baselines."""

from __future__ import annotations

from collections.abc import Sequence

# Full-catalogue metrics' cut-off k (``full_recall@k``, ``coverage@k``, ...).
CATALOGUE_K = 10
# Columns of the markdown tables (those present in the results), here and in each
# run's results.md (jaxrec.report); the candidate metrics of final_comparisons.
TABLE_METRICS = ("rmse", "mae", "ndcg@3", "ndcg@10", "precision@5", "recall@5", "auc",
                 f"full_recall@{CATALOGUE_K}", f"full_ndcg@{CATALOGUE_K}",
                 f"coverage@{CATALOGUE_K}", f"novelty@{CATALOGUE_K}",
                 f"diversity@{CATALOGUE_K}")


def is_baseline(method: str, baselines: Sequence[str] | None = None) -> bool:
  """Whether ``method`` is a baseline: in ``baselines`` when given, else a name
  without the ``"<model>-"`` prefix of meta-learned methods (``"mf_foldin"`` is,
  ``"melu-maml"`` is not)."""
  return method in baselines if baselines is not None else "-" not in method
