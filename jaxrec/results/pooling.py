"""Pooling runs over seeds: one row per (method, state) with means and 95% CIs, and
which runs are of the current code (only those are pooled by default)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxrec.results.stats import mean_ci95


def _same_metrics(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
  if set(a) != set(b):
    return False
  keys = sorted(a)
  return bool(np.allclose([float(a[k]) for k in keys], [float(b[k]) for k in keys],
                          rtol=1e-9, atol=1e-12, equal_nan=True))


def aggregate(results_list: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
  """Pools the ``results.json`` dicts of several runs (methods x seeds).

  Rows are first deduplicated by ``(method, state, seed)`` (the baselines of every
  run of a seed). Then for each ``(method, state)`` and each metric ``k`` over its
  seeds: ``metrics[k]`` is the mean over the seeds with a finite value and
  ``metrics[k + "_ci95"]`` the half-width ``t_{0.975, n-1} s / sqrt(n)`` of
  :func:`mean_ci95` (NaN with one seed).

  Args:
    results_list: ``results.json`` dicts, all of the same ``"dataset"``.

  Returns:
    ``[{"method", "state", "seeds": sorted seeds, "n_seeds", "metrics"}]`` in
    order of first appearance (states, then methods within a state).

  Raises:
    ValueError: if the runs are of different datasets, or two rows of the same
      ``(method, state, seed)`` have different metrics (the runs were not
      evaluated on the same episodes, or two configs share a method name).
  """
  datasets = sorted({r.get("dataset") for r in results_list}, key=str)
  if len(datasets) > 1:
    raise ValueError(f"aggregate: runs of different datasets {datasets} cannot be pooled")
  rows: dict[tuple[str, str, int], Mapping[str, Any]] = {}
  for run_index, run in enumerate(results_list):
    for row in run["results"]:
      key = (row["method"], row["state"], int(row["seed"]))
      if key not in rows:
        rows[key] = row["metrics"]
      elif not _same_metrics(rows[key], row["metrics"]):
        raise ValueError(
            f"aggregate: run #{run_index} has method {key[0]!r}, state {key[1]!r}, seed "
            f"{key[2]} with metrics different from an earlier run of that seed: were "
            "the runs evaluated on the same data (or do two configs share a method "
            "name? set config.name)")
  states = list(dict.fromkeys(state for _, state, _ in rows))
  out = []
  for state in states:
    methods = list(dict.fromkeys(m for m, s, _ in rows if s == state))
    for method in methods:
      seeds = sorted(seed for m, s, seed in rows if (m, s) == (method, state))
      per_seed = [rows[method, state, seed] for seed in seeds]
      names = list(dict.fromkeys(k for metrics in per_seed for k in metrics))
      metrics = {}
      for name in names:
        mean, ci, _ = mean_ci95([float(m.get(name, math.nan)) for m in per_seed])
        metrics[name], metrics[f"{name}_ci95"] = mean, ci
      out.append({"method": method, "state": state, "seeds": seeds,
                  "n_seeds": len(seeds), "metrics": metrics})
  return out


def stale_reason(identities: Mapping[str, Mapping[str, Any] | None],
                 current: Mapping[str, Any]) -> str | None:
  """Why a run is not of the current code, or None when it is.

  A run is current when every stage's identity (e.g. ``{"trained":
  provenance.json, "evaluated": results.json's protocol["code"]}``, each a
  :func:`jaxrec.provenance.code_identity` dict) has the ``code_hash`` of
  ``current``. Commits and package versions are recorded but not compared: a
  commit touching neither ``jaxrec/`` nor the configs leaves the code the same.

  Returns:
    None, or a phrase such as ``"trained: no code identity recorded"`` or
    ``"evaluated: code 0123456789ab (commit 89abcdef0123, dirty), current
    fedcba987654"``, stages joined by ``"; "``.
  """
  now = current.get("code_hash")
  if now is None:
    return "the current code has no identity (not a git checkout), nothing can match it"
  reasons = []
  for stage, identity in identities.items():
    code = (identity or {}).get("code_hash")
    if code is None:
      reasons.append(f"{stage}: no code identity recorded")
    elif code != now:
      commit = str(identity.get("git_commit"))[:12]
      dirty = ", dirty" if identity.get("dirty") else ""
      reasons.append(f"{stage}: code {code[:12]} (commit {commit}{dirty}), current "
                     f"{now[:12]}")
  return "; ".join(reasons) or None
