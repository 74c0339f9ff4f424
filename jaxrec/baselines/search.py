"""Hyperparameter selection for baselines on validation episodes."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from jaxrec.baselines import base
from jaxrec.metrics import evaluate
from jaxrec.metrics.catalogue import batch_full_catalogue
from jaxrec.metrics.direction import higher_is_better


@dataclasses.dataclass(frozen=True)
class GridSearchResult:
  """Outcome of ``grid_search``.

  Attributes:
    best_params: the chosen constructor keyword arguments.
    best_score: their validation metric.
    best_baseline: the baseline fit with ``best_params``.
    scores: ``(params, score)`` for every grid point, in grid order.
  """

  best_params: dict[str, Any]
  best_score: float
  best_baseline: base.Baseline
  scores: list[tuple[dict[str, Any], float]]


def grid_search(baseline_cls: type[base.Baseline], grid: Mapping[str, Sequence[Any]],
                fit_args: Sequence[Any] | Mapping[str, Any],
                val_batches: Iterable[dict[str, Any]], metric: str = "rmse", *,
                implicit: bool = False,
                relevance_threshold: float | None = None,
                candidates: Sequence[int] | None = None) -> GridSearchResult:
  """Picks the grid point with the best validation metric.

  For every combination of ``grid`` values (the Cartesian product, in the
  order of the keys), builds ``baseline_cls(**params)``, fits it on the
  training interactions ``fit_args`` (``(user, item, y, num_users,
  num_items)`` or the matching keyword dict) and scores it on the validation
  episode batches: the ``metric`` of ``jaxrec.metrics.per_user_metrics``
  (e.g. ``"rmse"``, ``"ndcg@5"``), averaged over all validation users of all
  batches, or a full-catalogue metric (``"full_ndcg@10"``, ``"full_recall@10"``:
  every item of ``candidates`` but the user's support positives ranked,
  :func:`jaxrec.metrics.batch_full_catalogue`), averaged over the users with a
  relevant query item. Grid entries the baseline lists in ``PREDICT_PARAMS`` do not change
  the fit: it is fit once per combination of the other entries and each
  prediction-time value is applied with ``with_params``. The metric is
  minimised or maximised as :func:`jaxrec.metrics.higher_is_better` says (MAE
  and RMSE minimised, ranking metrics maximised); ties keep the earlier
  grid point and NaN scores are never chosen. Only ``val_batches`` are scored:
  pass validation users' episodes, never test ones.

  Args:
    baseline_cls: a ``Baseline`` subclass, or any callable returning one from
      the grid's keyword arguments (e.g. a ``functools.partial`` that fixes
      inputs such as item vectors).
    grid: hyperparameter name -> candidate values (an empty grid tries the
      defaults once).
    fit_args: training interactions, positional sequence or keyword mapping.
    val_batches: episode batches (``{"support": ..., "query": ...}``).
    metric: a key of ``per_user_metrics``, or ``"full_<key>@k"`` (see above).
    implicit: whether labels are implicit (forwarded to ``per_user_metrics``).
    relevance_threshold: forwarded to ``per_user_metrics``.
    candidates: ``int[C]`` item ids ranked by a ``full_*`` metric (the
      validation state's catalogue); unused otherwise.

  Returns:
    A ``GridSearchResult``; ``scores`` in grid order.

  Raises:
    ValueError: if a grid entry is empty, there are no validation batches, the
      metric is unknown, or its value is NaN for every grid point.
  """
  for name, values in grid.items():
    if len(values) == 0:
      raise ValueError(f"grid entry '{name}' has no values")
  val_batches = list(val_batches)
  if not val_batches:
    raise ValueError("grid_search needs at least one validation batch")
  sign = -1.0 if higher_is_better(metric) else 1.0
  points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
  predict_names = set(baseline_cls(**points[0]).PREDICT_PARAMS) & set(grid)
  fits: dict[str, list[int]] = {}  # fit-time params -> indices of their grid points
  for index, params in enumerate(points):
    fit_params = {k: v for k, v in params.items() if k not in predict_names}
    fits.setdefault(repr(fit_params), []).append(index)
  scores, best = [math.nan] * len(points), None
  for indices in fits.values():
    model = baseline_cls(**points[indices[0]])
    if isinstance(fit_args, Mapping):
      model.fit(**fit_args)
    else:
      model.fit(*fit_args)
    for index in indices:
      candidate = model.with_params(
          **{k: v for k, v in points[index].items() if k in predict_names})
      score = _validation_score(candidate, val_batches, metric, implicit, candidates,
                                relevance_threshold)
      scores[index] = score
      if not math.isnan(score) and (
          best is None or sign * score < sign * best[1]
          or (score == best[1] and index < best[3])):
        best = (points[index], score, candidate, index)
  if best is None:
    raise ValueError(f"metric '{metric}' is NaN for every grid point (no eligible "
                     "validation users)")
  return GridSearchResult(*best[:3], list(zip(points, scores)))


def _validation_score(model: base.Baseline, val_batches: Sequence[dict[str, Any]],
                      metric: str, implicit: bool, candidates: Sequence[int] | None,
                      relevance_threshold: float | None) -> float:
  """``metric`` of ``model`` averaged over every validation user of every batch
  (for a ``full_*`` metric, over those with a relevant query item)."""
  ks = (_cutoff(metric),) if "@" in metric else ()
  if metric.startswith("full_"):
    if candidates is None:
      raise ValueError(f"metric '{metric}' ranks a candidate catalogue: pass candidates")
    candidates = np.asarray(candidates)
    threshold = evaluate.relevance_threshold_for(implicit, relevance_threshold)
    values = []
    for batch in val_batches:
      support = batch["support"]
      query = np.broadcast_to(candidates, (support["item"].shape[0], len(candidates)))
      scores = model.predict(support["item"], support["y"], support["mask"], query)
      per_user, _ = batch_full_catalogue(scores, batch, candidates, threshold, ks)
      key = metric[len("full_"):]
      if key not in per_user:
        raise ValueError(f"unknown metric '{metric}'; available: "
                         f"{sorted('full_' + k for k in per_user)}")
      values.append(per_user[key])
    values = np.concatenate(values)
    return float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
  per_user = [
      evaluate.per_user_metrics(model.predict_batch(batch), batch["query"]["y"],
                                batch["query"]["mask"], ks=ks, implicit=implicit,
                                relevance_threshold=relevance_threshold)
      for batch in val_batches]
  if metric not in per_user[0]:
    raise ValueError(f"unknown metric '{metric}'; available: {sorted(per_user[0])}")
  return evaluate.summarize(per_user)[metric]


def _cutoff(metric: str) -> int:
  """The ``k`` of a ``"name@k"`` metric; raises ValueError if it is not an integer."""
  suffix = metric.rsplit("@", 1)[1]
  if not suffix.isdigit():
    raise ValueError(f"metric '{metric}' must end in '@<integer k>'")
  return int(suffix)
