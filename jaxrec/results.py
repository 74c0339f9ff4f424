"""Pooling evaluation results over seeds: means, t-based 95% CIs, paired differences.

Inputs are what :func:`jaxrec.evaluate.evaluate_run` writes per run:

- a ``results.json`` dict ``{"dataset", "results": [{"method", "state", "seed",
  "metrics": {name: value}}], ...}``;
- a ``per_user.npz`` mapping ``"<method>|<state>|<metric>"`` to ``float64[U]``
  per-user values (NaN where the user is excluded) and ``"<state>|user"`` to the
  ``[U]`` user ids in the same order.

Every run lists the baselines next to its own method, so several runs of one seed
hold the same baseline rows; :func:`aggregate` keeps one of them. A 95% confidence
interval over ``n`` values ``x_1..x_n`` (mean ``m``, sample standard deviation
``s`` with ``n - 1`` degrees of freedom) is ``m ± t_{0.975, n-1} s / sqrt(n)``.

Everything here is plain numpy and the standard library (no scipy).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from jaxrec.metrics.direction import higher_is_better

# Full-catalogue metrics' cut-off k (``full_recall@k``, ``coverage@k``, ...).
CATALOGUE_K = 10
# Columns of the markdown tables (those present in the results), here and in each
# run's results.md (jaxrec.evaluate).
TABLE_METRICS = ("rmse", "mae", "ndcg@3", "ndcg@10", "precision@5", "recall@5", "auc",
                 f"full_recall@{CATALOGUE_K}", f"full_ndcg@{CATALOGUE_K}",
                 f"coverage@{CATALOGUE_K}", f"novelty@{CATALOGUE_K}",
                 f"diversity@{CATALOGUE_K}")


def is_baseline(method: str, baselines: Sequence[str] | None = None) -> bool:
  """Whether ``method`` is a baseline: in ``baselines`` when given, else a name
  without the ``"<model>-"`` prefix of meta-learned methods (``"mf_foldin"`` is,
  ``"melu-maml"`` is not)."""
  return method in baselines if baselines is not None else "-" not in method


def _two_sided_t_cdf(t: float, df: int) -> float:
  """``P(|T| <= t)`` for Student's t with integer ``df >= 1`` degrees of freedom.

  Closed forms with ``theta = atan(t / sqrt(df))``, ``c = cos(theta)``:
  odd ``df``: ``2/pi (theta + sin(theta) c (1 + sum_{j=1}^{(df-3)/2}
  prod_{i<=j} 2i/(2i+1) c^{2j}))`` (just ``2 theta / pi`` for ``df = 1``);
  even ``df``: ``sin(theta) (1 + sum_{j=1}^{(df-2)/2} prod_{i<=j} (2i-1)/(2i) c^{2j})``.
  """
  theta = math.atan(t / math.sqrt(df))
  c2 = math.cos(theta) ** 2
  if df % 2:
    if df == 1:
      return 2.0 * theta / math.pi
    i = np.arange(1, (df - 1) // 2)
    series = 1.0 + np.cumprod(2 * i / (2 * i + 1) * c2).sum()
    return 2.0 / math.pi * (theta + math.sin(theta) * math.cos(theta) * series)
  i = np.arange(1, df // 2)
  return math.sin(theta) * (1.0 + np.cumprod((2 * i - 1) / (2 * i) * c2).sum())


def student_t_ppf(p: float, df: int) -> float:
  """The ``p`` quantile of Student's t with ``df`` degrees of freedom.

  Solves ``P(T <= t) = p`` by bisection on the exact CDF (to about 1e-12), e.g.
  ``student_t_ppf(0.975, 2) = 4.3027``.

  Raises:
    ValueError: if ``p`` is not in (0, 1) or ``df`` is not an integer >= 1.
  """
  if not 0.0 < p < 1.0:
    raise ValueError(f"student_t_ppf: p must be in (0, 1), got {p}")
  if int(df) != df or df < 1:
    raise ValueError(f"student_t_ppf: df must be an integer >= 1, got {df}")
  if p < 0.5:
    return -student_t_ppf(1.0 - p, df)
  level = 2.0 * p - 1.0  # P(|T| <= t)
  lo, hi = 0.0, 1.0
  while _two_sided_t_cdf(hi, int(df)) < level:
    lo, hi = hi, 2.0 * hi
  while hi - lo > 1e-12 * max(1.0, hi):
    mid = 0.5 * (lo + hi)
    lo, hi = (mid, hi) if _two_sided_t_cdf(mid, int(df)) < level else (lo, mid)
  return 0.5 * (lo + hi)


def mean_ci95(values: Sequence[float] | np.ndarray) -> tuple[float, float, int]:
  """Mean and 95% CI half-width of the finite entries of ``values``.

  With ``n`` finite values, mean ``m`` and sample standard deviation ``s``
  (``ddof=1``): returns ``(m, t_{0.975, n-1} s / sqrt(n), n)``. The half-width is
  NaN when ``n < 2`` and the mean is NaN when ``n = 0``.

  Args:
    values: ``float[n]`` (NaN entries are dropped).

  Returns:
    ``(mean, ci95, n)``.
  """
  x = np.asarray(values, np.float64).ravel()
  x = x[np.isfinite(x)]
  n = len(x)
  if n == 0:
    return math.nan, math.nan, 0
  if n == 1:
    return float(x[0]), math.nan, 1
  half = student_t_ppf(0.975, n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
  return float(x.mean()), half, n


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
  (lowest for MAE/RMSE, highest otherwise) among the :func:`aggregate` rows.

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

  For each state where ``final`` has an :func:`aggregate` row, and each metric
  ``k`` of ``metrics`` with per-user values of ``final`` on that state: the
  reference is the method other than ``final`` (baselines and meta-learned methods
  alike, e.g. ``joint`` and ``joint+finetune``) with the best test mean of ``k``,
  and the entry is :func:`paired_differences` ``(final, reference, state, k)``
  (difference ``final - reference`` with its seed-level CI).

  Args:
    aggregated: :func:`aggregate` rows.
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


def _fmt(mean: float, ci: float, sign: str = "") -> str:
  if not math.isfinite(mean):
    return "n/a"
  return f"{mean:{sign}.4f}" if not math.isfinite(ci) else f"{mean:{sign}.4f} ± {ci:.4f}"


def _judgement(p: Mapping[str, Any]) -> str:
  """``"better"``, ``"worse"`` or ``"no difference"`` for a paired difference's mean."""
  if not math.isfinite(p["mean"]) or p["mean"] == 0:
    return "no difference"
  return "better" if (p["mean"] < 0) == p["lower_is_better"] else "worse"


def verdict(p: Mapping[str, Any]) -> str:
  """One sentence on a :func:`paired_differences` result, e.g. ``"new_users:
  melu-maml vs mf_foldin: RMSE difference +0.0120 ± 0.0100 (95% CI over 5 seeds;
  worse, CI excludes 0); melu-maml better for 41% of users."``. The CI is the
  seed-level one of :func:`paired_differences` (none with one seed)."""
  ci, mean, n_seeds = p["ci95"], p["mean"], p["n_seeds"]
  if not math.isfinite(ci):
    ci_name, significance = f"{n_seeds} seed{'s' * (n_seeds != 1)}", "no CI"
  else:
    ci_name = f"95% CI over {n_seeds} seeds"
    significance = "CI excludes 0" if abs(mean) > ci else "CI includes 0"
  share = ("" if not math.isfinite(p["frac_better"]) else
           f"; {p['method']} better for {100 * p['frac_better']:.0f}% of users")
  return (f"{p['state']}: {p['method']} vs {p['reference']}: {p['metric'].upper()} "
          f"difference {_fmt(mean, ci, '+')} ({ci_name}; {_judgement(p)}, {significance})"
          f"{share}.")


def support_table(rows: Sequence[Mapping[str, Any]], metric: str = "mae") -> list[str]:
  """Markdown lines of ``metric`` by support size: a row per method, a column per bin.

  The bins are the ``"<metric>_support_<bin>"`` keys of the rows' metrics (written
  by :func:`jaxrec.evaluate.evaluate_run` on ``new_users``, e.g. ``mae_support_1-10``),
  each cell ``mean ± ci95`` (the mean alone without a CI), each header holding the
  bin's user count ``num_users_support_<bin>`` of the first row (a mean over seeds
  when pooled).

  Args:
    rows: ``{"method", "metrics"}`` rows of one state (one run's, or
      :func:`aggregate` rows).
    metric: the binned metric.

  Returns:
    The title, table and a blank line; ``[]`` when no row has binned values.
  """
  prefix = f"{metric}_support_"
  rows = [r for r in rows if any(k.startswith(prefix) for k in r["metrics"])]
  bins = list(dict.fromkeys(k[len(prefix):] for r in rows for k in r["metrics"]
                            if k.startswith(prefix) and not k.endswith("_ci95")))
  if not bins:
    return []
  counts = rows[0]["metrics"]
  header = [f"{b} (n={counts.get(f'num_users_support_{b}', math.nan):.4g})" for b in bins]
  lines = [f"### {metric.upper()} by support size (support ratings per user)", "",
           "| method | " + " | ".join(header) + " |", "|---" * (len(bins) + 1) + "|"]
  for r in rows:
    values = r["metrics"]
    cells = [_fmt(values.get(prefix + b, math.nan), values.get(f"{prefix}{b}_ci95",
                                                               math.nan)) for b in bins]
    lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
  return lines + [""]


def final_markdown(comparisons: Sequence[Mapping[str, Any]],
                   aggregated: Sequence[Mapping[str, Any]]) -> list[str]:
  """Markdown lines of :func:`final_comparisons`: a row per (state, metric) with
  the final method's mean, the strongest other method and its mean, and the paired
  difference ``final - other`` ± its seed-level 95% CI; ``[]`` without comparisons."""
  if not comparisons:
    return []
  means = {(r["method"], r["state"]): r["metrics"] for r in aggregated}
  final = comparisons[0]["method"]
  lines = [f"## Final method: {final} vs the strongest other method", "",
           "| state | metric | final | strongest other | other | Δ final - other "
           "(95% CI over seeds) | verdict |", "|---" * 7 + "|"]
  for p in comparisons:
    mine, theirs = means[final, p["state"]], means[p["reference"], p["state"]]
    metric = p["metric"]
    significance = ("no CI" if not math.isfinite(p["ci95"]) else
                    "CI excludes 0" if abs(p["mean"]) > p["ci95"] else "CI includes 0")
    lines.append(
        f"| {p['state']} | {metric} | {_fmt(mine[metric], mine.get(f'{metric}_ci95', math.nan))} | "
        f"{p['reference']} | {_fmt(theirs[metric], theirs.get(f'{metric}_ci95', math.nan))} | "
        f"{_fmt(p['mean'], p['ci95'], '+')} ({p['n_seeds']} seeds) | "
        f"{_judgement(p)}, {significance} |")
  return lines + [""]


def markdown_table(aggregated: Sequence[Mapping[str, Any]],
                   paired: Sequence[Mapping[str, Any]], *,
                   metrics: Sequence[str] = TABLE_METRICS,
                   baselines: Sequence[str] | None = None,
                   final: Sequence[Mapping[str, Any]] = ()) -> str:
  """Markdown report: the final method's comparisons, then per state a table and
  verdict sentences.

  First :func:`final_markdown` of ``final``. Each state's table has a row per
  method of ``aggregated`` and a column per metric of ``metrics`` present in the
  state's rows, as ``mean ± ci95`` over seeds (the mean alone with one seed); then
  one column ``Δ <metric> vs <reference>`` per (metric, reference) of the state's
  ``paired`` entries, holding ``method - reference`` ± its seed-level CI (none with
  one seed). Below each table, :func:`support_table` when the state has binned MAE,
  and :func:`verdict` of every paired entry whose method is not a baseline
  (:func:`is_baseline`).

  Args:
    aggregated: :func:`aggregate` rows.
    paired: :func:`paired_differences` results.
    metrics: candidate metric columns.
    baselines: baseline names; None means names without a ``"-"``.
    final: :func:`final_comparisons` results.

  Returns:
    The markdown text.
  """
  lines = final_markdown(final, aggregated)
  states = list(dict.fromkeys(r["state"] for r in aggregated))
  for state in states:
    rows = [r for r in aggregated if r["state"] == state]
    present = [m for m in metrics if any(m in r["metrics"] for r in rows)]
    state_paired = [p for p in paired if p["state"] == state]
    deltas = list(dict.fromkeys((p["metric"], p["reference"]) for p in state_paired))
    seeds = max(r["n_seeds"] for r in rows)
    users = rows[0]["metrics"].get("num_users", math.nan)
    full_users = rows[0]["metrics"].get("full_users", math.nan)
    user_text = f", {users:.0f} test users per seed" if math.isfinite(users) else ""
    if math.isfinite(full_users):
      user_text += f", full_* over {full_users:.0f} with a relevant query item"
    header = present + [f"Δ {metric} vs {ref}" for metric, ref in deltas]
    lines += [f"## {state} ({seeds} seed{'s' * (seeds != 1)}{user_text})", "",
              "| method | " + " | ".join(header) + " |",
              "|---" * (len(header) + 1) + "|"]
    for r in rows:
      values = r["metrics"]
      cells = [_fmt(values.get(m, math.nan), values.get(f"{m}_ci95", math.nan))
               for m in present]
      for metric, ref in deltas:
        match = [p for p in state_paired if (p["metric"], p["reference"], p["method"])
                 == (metric, ref, r["method"])]
        cells.append(_fmt(match[0]["mean"], match[0]["ci95"], "+") if match else "—")
      lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
    lines += [""] + support_table(rows)
    sentences = [verdict(p) for p in state_paired
                 if not is_baseline(p["method"], baselines)]
    if sentences:
      lines += [f"- {s}" for s in sentences] + [""]
  return "\n".join(lines)
