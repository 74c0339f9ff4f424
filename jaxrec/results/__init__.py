"""Pooling evaluation results over seeds: means, t-based 95% CIs, paired differences.

Inputs are what :func:`jaxrec.evaluate.evaluate_run` writes per run:

- a ``results.json`` dict ``{"dataset", "results": [{"method", "state", "seed",
  "metrics": {name: value}}], ...}``;
- a ``per_user.npz`` mapping ``"<method>|<state>|<metric>"`` to ``float64[U]``
  per-user values (NaN where the user is excluded) and ``"<state>|user"`` to the
  ``[U]`` user ids in the same order.

Every run lists the baselines next to its own method, so several runs of one seed
hold the same baseline rows; :func:`aggregate` keeps one of them. One idea per
module:

- ``stats``: Student's t quantile and the mean's 95% CI (plain numpy, no scipy);
- ``pooling``: :func:`aggregate` (methods x seeds) and :func:`stale_reason` (which
  runs are of the current code);
- ``comparisons``: :func:`paired_differences`, :func:`strongest_baseline`,
  :func:`final_comparisons`;
- ``markdown``: the report's tables, cells (:func:`fmt_mean_ci`) and verdict sentences;
- ``reported``: the metric columns (:data:`TABLE_METRICS`) and :func:`is_baseline`.
"""

from jaxrec.results.comparisons import final_comparisons
from jaxrec.results.comparisons import paired_differences
from jaxrec.results.comparisons import strongest_baseline
from jaxrec.results.markdown import final_markdown
from jaxrec.results.markdown import fmt_mean_ci
from jaxrec.results.markdown import markdown_table
from jaxrec.results.markdown import metric_cell
from jaxrec.results.markdown import paired_cell
from jaxrec.results.markdown import support_table
from jaxrec.results.markdown import verdict
from jaxrec.results.pooling import aggregate
from jaxrec.results.pooling import stale_reason
from jaxrec.results.reported import CATALOGUE_K
from jaxrec.results.reported import TABLE_METRICS
from jaxrec.results.reported import is_baseline
from jaxrec.results.stats import mean_ci95
from jaxrec.results.stats import student_t_ppf

__all__ = ["CATALOGUE_K", "TABLE_METRICS", "aggregate", "final_comparisons",
           "final_markdown", "fmt_mean_ci", "is_baseline", "markdown_table",
           "mean_ci95", "metric_cell", "paired_cell", "paired_differences",
           "stale_reason", "strongest_baseline", "student_t_ppf", "support_table",
           "verdict"]
