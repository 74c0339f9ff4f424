"""All query-set metrics of a method in one call, with the keys of results.json.

To evaluate many (differently padded) batches, collect ``per_user_metrics`` of
each batch and pass the list to ``summarize``: every user then counts once,
whichever batch they came in. The per-user arrays also serve paired
significance tests between methods evaluated on the same users.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from jaxrec.metrics import _checks, ranking, rating

# Support-size bins ``(lo, hi)``, inclusive, ``hi = None`` unbounded: 1-10, 11-30, 31+.
SUPPORT_BINS = ((1, 10), (11, 30), (31, None))


def relevance_threshold_for(implicit: bool, relevance_threshold: float | None) -> float:
  """The relevance threshold to use: the given one, else 1 (implicit) or 4 (explicit)."""
  if relevance_threshold is not None:
    return float(relevance_threshold)
  return 1.0 if implicit else 4.0


def per_user_metrics(scores, y, mask, *, ks: Sequence[int] = (1, 3, 5, 10),
                     relevance_threshold: float | None = None,
                     implicit: bool = False) -> dict[str, np.ndarray]:
  """Every query-set metric per user.

  Keys (each ``float64[B]``, NaN where the user is excluded, see the metric):
  ``"mae"``, ``"rmse"`` (explicit data only: implicit scores are not ratings),
  and for each ``k`` in ``ks``: ``"ndcg@k"`` (linear gain ``y``),
  ``"ndcg_exp@k"`` (gain ``2^y - 1``), ``"precision@k"``, ``"recall@k"``,
  ``"f1@k"``; plus ``"auc"`` with positives ``y >= relevance_threshold``.

  Args:
    scores: ``float[B, Q]`` predictions.
    y: ``float[B, Q]`` true ratings (explicit) or 0/1 labels (implicit).
    mask: ``float[B, Q]``, 1 for a real query row.
    ks: ranking cut-offs.
    relevance_threshold: minimum relevant ``y``; None means 4 for explicit and
      1 for implicit data.
    implicit: whether ``y`` holds implicit 0/1 labels.

  Returns:
    A dict of ``float64[B]`` arrays.

  Raises:
    ValueError: on malformed inputs, a ``k < 1``, or a negative ``y``.
  """
  threshold = relevance_threshold_for(implicit, relevance_threshold)
  out = {}
  if not implicit:
    out["mae"] = rating.per_user_mae(scores, y, mask)
    out["rmse"] = rating.per_user_rmse(scores, y, mask)
  for k in ks:
    out[f"ndcg@{k}"] = ranking.per_user_ndcg_at_k(scores, y, mask, k)
    out[f"ndcg_exp@{k}"] = ranking.per_user_ndcg_exp_at_k(scores, y, mask, k)
    out[f"precision@{k}"] = ranking.per_user_precision_at_k(scores, y, mask, k, threshold)
    out[f"recall@{k}"] = ranking.per_user_recall_at_k(scores, y, mask, k, threshold)
    out[f"f1@{k}"] = ranking.per_user_f1_at_k(scores, y, mask, k, threshold)
  out["auc"] = ranking.per_user_auc(scores, y, mask, threshold)
  return out


def summarize(per_user: Mapping[str, np.ndarray] | Sequence[Mapping[str, np.ndarray]]
              ) -> dict[str, float | int]:
  """Averages per-user metrics over users, pooling several batches.

  Each key's value is the mean of its non-NaN per-user entries (NaN when there
  are none). Count keys are added for the users entering the means:
  ``"num_users"`` (users with a query row; precision and rating metrics use
  these; nDCG additionally needs a positive gain), ``"num_users_with_relevant"``
  (recall and F1), ``"num_users_auc"`` (users with both classes), each present
  when its metric is.

  Args:
    per_user: one ``per_user_metrics`` dict, or a sequence of them (all with
      the same keys) whose arrays are concatenated.

  Returns:
    ``{key: float}`` plus the integer counts.

  Raises:
    ValueError: if the dicts of a sequence have different keys or the sequence
      is empty.
  """
  parts = [per_user] if isinstance(per_user, Mapping) else list(per_user)
  if not parts:
    raise ValueError("summarize got no per-user metrics")
  keys = list(parts[0])
  for i, part in enumerate(parts):
    if list(part) != keys:
      raise ValueError(f"per-user metrics #{i} has keys {sorted(part)}, #0 has "
                       f"{sorted(keys)}")
  pooled = {key: np.concatenate([np.asarray(p[key], np.float64) for p in parts])
            for key in keys}
  out: dict[str, float | int] = {key: _checks.mean_over_users(v) for key, v in pooled.items()}
  count_sources = {"num_users": _first_key(keys, ("mae", "precision@")),
                   "num_users_with_relevant": _first_key(keys, ("recall@",)),
                   "num_users_auc": _first_key(keys, ("auc",))}
  for name, key in count_sources.items():
    if key is not None:
      out[name] = int((~np.isnan(pooled[key])).sum())
  return out


def evaluate_predictions(scores, y, mask, *, ks: Sequence[int] = (1, 3, 5, 10),
                         relevance_threshold: float | None = None,
                         implicit: bool = False) -> dict[str, float | int]:
  """``summarize(per_user_metrics(...))`` for one set of ``float[B, Q]`` arrays.

  Returns the results.json keys (see ``per_user_metrics``; ``k`` substituted)
  with user-averaged values, plus the user counts of ``summarize``. Raises
  ValueError as ``per_user_metrics``.
  """
  return summarize(per_user_metrics(scores, y, mask, ks=ks,
                                    relevance_threshold=relevance_threshold,
                                    implicit=implicit))


def _first_key(keys: Sequence[str], prefixes: Sequence[str]) -> str | None:
  """The first of ``keys`` starting with one of ``prefixes`` (tried in order)."""
  for prefix in prefixes:
    for key in keys:
      if key.startswith(prefix):
        return key
  return None


def mean_by_support_size(values, support_sizes,
                         bins: Sequence[tuple[int, int | None]] = SUPPORT_BINS
                         ) -> dict[str, tuple[float, int]]:
  """A per-user metric averaged within bins of the users' support-set sizes.

  For a bin ``(lo, hi)`` the users are those with ``lo <= n_u <= hi`` (no upper
  bound when ``hi`` is None) and a finite value ``v_u``; the bin's entry is
  ``(mean_u v_u, count)``, NaN mean when the bin is empty.

  Args:
    values: ``float[U]`` per-user values (NaN marks an excluded user), e.g. MAE.
    support_sizes: ``int[U]`` support ratings per user, same order.
    bins: increasing, non-overlapping ``(lo, hi)`` pairs, ``lo >= 1``.

  Returns:
    ``{label: (mean, count)}`` in bin order, labels ``"lo-hi"`` or ``"lo+"``.

  Raises:
    ValueError: if ``values`` and ``support_sizes`` are not 1-D of one length, or
      a bin has ``lo < 1``, ``hi < lo`` or overlaps the previous one.
  """
  values = np.asarray(values, np.float64)
  sizes = np.asarray(support_sizes)
  if values.ndim != 1 or values.shape != sizes.shape:
    raise ValueError(f"'values' {values.shape} and 'support_sizes' {sizes.shape} must be "
                     "1-D of one length")
  out, previous = {}, 0
  for lo, hi in bins:
    if lo < 1 or lo <= previous or (hi is not None and hi < lo):
      raise ValueError(f"support bin ({lo}, {hi}) must have 1 <= lo <= hi and lie "
                       f"above the previous bin (ending at {previous})")
    previous = np.inf if hi is None else hi
    members = (sizes >= lo) & (sizes <= (np.inf if hi is None else hi)) & np.isfinite(values)
    label = f"{lo}+" if hi is None else f"{lo}-{hi}"
    out[label] = (_checks.mean_over_users(values[members]), int(members.sum()))
  return out
