"""Comparing methods: paired per-user differences with a seed-level 95% CI, the
strongest baseline of a state, and the final method against the strongest other one."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from jaxrec.metrics.direction import higher_is_better
from jaxrec.results.reported import TABLE_METRICS, is_baseline
from jaxrec.results.stats import mean_ci95


def _find_per_user(runs: Sequence[Mapping[str, np.ndarray]], method: str, state: str,
                   metric: str) -> tuple[np.ndarray, np.ndarray] | None:
  """``(user ids, values)`` of the first run holding ``method`` on ``state``."""
  key, users = f"{method}|{state}|{metric}", f"{state}|user"
  for arrays in runs:
    if key in arrays and users in arrays:
      return np.asarray(arrays[users]), np.asarray(arrays[key], np.float64)
  return None


def _matched(seed: int, state: str, method_arrays: tuple[np.ndarray, np.ndarray],
             reference_arrays: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
  """Per-user ``method - reference`` over the users (matched by id) with both
  values finite."""
  (users_m, values_m), (users_r, values_r) = method_arrays, reference_arrays
  for users, values in (method_arrays, reference_arrays):
    if len(users) != len(values):
      raise ValueError(f"seed {seed}, state {state!r}: {len(users)} user ids but "
                       f"{len(values)} per-user values")
    if len(np.unique(users)) != len(users):
      raise ValueError(f"seed {seed}, state {state!r}: repeated user ids")
  if set(users_m.tolist()) != set(users_r.tolist()):
    raise ValueError(f"seed {seed}, state {state!r}: the runs evaluated different users "
                     f"({len(users_m)} and {len(users_r)} users, "
                     f"{len(np.intersect1d(users_m, users_r))} in common)")
  order_m, order_r = np.argsort(users_m), np.argsort(users_r)
  diff = values_m[order_m] - values_r[order_r]
  return diff[np.isfinite(diff)]


def paired_differences(per_user_runs: Sequence[tuple[int, Mapping[str, np.ndarray]]],
                       method: str, reference: str, state: str, metric: str
                       ) -> dict[str, Any]:
  """Paired difference ``method - reference`` of ``metric`` on ``state``, with a
  seed-level 95% CI.

  For each seed ``s`` with both methods: the users are matched by id, and
  ``d_{s,u} = metric(method, u) - metric(reference, u)`` over the ``n_s`` users
  with both values finite (same seed, hence same split, episodes and users).

  - per seed: ``mean_s = (1 / n_s) sum_u d_{s,u}``;
  - ``mean`` and ``ci95``: the mean of the ``n_seeds`` per-seed means and its
    t-interval half-width ``t_{0.975, n_seeds-1} sd(mean_s) / sqrt(n_seeds)``
    (:func:`mean_ci95`; NaN with one seed). The seeds are the independent
    replicates (each re-draws split, initialisation and episodes); the users of
    one seed are not, so there is deliberately no per-user CI;
  - for information: ``num_pairs`` (every ``d_{s,u}``, ``sum_s n_s``) and
    ``frac_better`` / ``frac_worse``, the share of those pairs where ``method`` is
    strictly better / worse (lower for MAE/RMSE, higher otherwise; ties make up
    the rest).

  A negative difference is an improvement for error metrics, a positive one for
  the others (:func:`jaxrec.metrics.higher_is_better`).

  Args:
    per_user_runs: ``(seed, per_user.npz mapping)`` of every run; several runs of
      a seed may hold the same baseline, the first one is used.
    method, reference: method names, e.g. ``"melu-maml"``, ``"mf_foldin"``.
    state: evaluation state, e.g. ``"new_users"``.
    metric: per-user metric key, e.g. ``"rmse"``.

  Returns:
    ``{"method", "reference", "state", "metric", "lower_is_better", "per_seed":
    [{"seed", "mean", "num_users"}], "n_seeds", "mean", "ci95", "num_pairs",
    "frac_better", "frac_worse"}``.

  Raises:
    ValueError: if no seed holds both methods on ``state``/``metric``, or a seed's
      arrays are malformed (lengths, repeated ids) or cover different users.
  """
  by_seed: dict[int, list[Mapping[str, np.ndarray]]] = {}
  for seed, arrays in per_user_runs:
    by_seed.setdefault(int(seed), []).append(arrays)
  per_seed, pooled = [], []
  for seed in sorted(by_seed):
    found_m = _find_per_user(by_seed[seed], method, state, metric)
    found_r = _find_per_user(by_seed[seed], reference, state, metric)
    if found_m is None or found_r is None:
      continue
    diff = _matched(seed, state, found_m, found_r)
    per_seed.append({"seed": seed, "mean": float(diff.mean()) if len(diff) else math.nan,
                     "num_users": len(diff)})
    pooled.append(diff)
  if not per_seed:
    raise ValueError(f"paired_differences: no seed has per-user {metric!r} of both "
                     f"{method!r} and {reference!r} on state {state!r}")
  mean, ci, n_seeds = mean_ci95([p["mean"] for p in per_seed])
  diffs = np.concatenate(pooled)
  num_pairs = len(diffs)
  lower = not higher_is_better(metric)
  better = diffs < 0 if lower else diffs > 0
  worse = diffs > 0 if lower else diffs < 0
  frac_better = float(better.mean()) if num_pairs else math.nan
  frac_worse = float(worse.mean()) if num_pairs else math.nan
  return {"method": method, "reference": reference, "state": state, "metric": metric,
          "lower_is_better": lower, "per_seed": per_seed, "n_seeds": n_seeds,
          "mean": mean, "ci95": ci, "num_pairs": num_pairs, "frac_better": frac_better,
          "frac_worse": frac_worse}


def _strongest(aggregated: Sequence[Mapping[str, Any]], state: str, metric: str,
               eligible: Callable[[str], bool]) -> str | None:
  """The ``eligible`` method with the best finite mean ``metric`` on ``state``
  (lowest for MAE/RMSE, highest otherwise), or None when there is none."""
  candidates = [(r["metrics"][metric], r["method"]) for r in aggregated
                if r["state"] == state and eligible(r["method"])
                and math.isfinite(r["metrics"].get(metric, math.nan))]
  if not candidates:
    return None
  pick = max if higher_is_better(metric) else min
  return pick(candidates, key=lambda c: c[0])[1]


def strongest_baseline(aggregated: Sequence[Mapping[str, Any]], state: str, metric: str,
                       baselines: Sequence[str] | None = None) -> str:
  """The baseline (:func:`is_baseline`) with the best mean ``metric`` on ``state``
  (lowest for MAE/RMSE, highest otherwise) among the :func:`jaxrec.results.aggregate` rows.

  Raises:
    ValueError: if no baseline has a finite mean ``metric`` on ``state``.
  """
  found = _strongest(aggregated, state, metric, lambda m: is_baseline(m, baselines))
  if found is None:
    raise ValueError(f"strongest_baseline: no baseline has a finite {metric!r} on state "
                     f"{state!r}")
  return found


def final_comparisons(aggregated: Sequence[Mapping[str, Any]],
                      per_user_runs: Sequence[tuple[int, Mapping[str, np.ndarray]]],
                      final: str, metrics: Sequence[str] = TABLE_METRICS
                      ) -> list[dict[str, Any]]:
  """The final method against the strongest other method, per state and metric.

  For each state where ``final`` has an :func:`jaxrec.results.aggregate` row, and each metric
  ``k`` of ``metrics`` with per-user values of ``final`` on that state: the
  reference is the method other than ``final`` (baselines and meta-learned methods
  alike, e.g. ``joint`` and ``joint+finetune``) with the best test mean of ``k``,
  and the entry is :func:`paired_differences` ``(final, reference, state, k)``
  (difference ``final - reference`` with its seed-level CI).

  Args:
    aggregated: :func:`jaxrec.results.aggregate` rows.
    per_user_runs: ``(seed, per_user.npz mapping)`` of every run.
    final: the final method's name, e.g. ``"hybrid-text-maml"``.
    metrics: candidate metrics (those without per-user values are skipped).

  Returns:
    :func:`paired_differences` dicts, by state then metric.

  Raises:
    ValueError: if ``final`` has no row in ``aggregated``, or as
      :func:`paired_differences`.
  """
  states = list(dict.fromkeys(r["state"] for r in aggregated if r["method"] == final))
  if not states:
    methods = sorted({r["method"] for r in aggregated})
    raise ValueError(f"final method {final!r} is not among the pooled methods {methods}")
  out = []
  for state in states:
    for metric in metrics:
      if not any(f"{final}|{state}|{metric}" in arrays for _, arrays in per_user_runs):
        continue
      reference = _strongest(aggregated, state, metric, lambda m: m != final)
      if reference is not None:
        out.append(paired_differences(per_user_runs, final, reference, state, metric))
  return out
