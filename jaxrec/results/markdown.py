"""Markdown rendering of pooled results: per-state tables, support-size tables, the
final method's comparisons and one verdict sentence per paired difference."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from jaxrec.results.reported import TABLE_METRICS, is_baseline


def fmt_mean_ci(mean: float, ci: float = math.nan, digits: int = 4,
                sign: bool = False) -> str:
  """``"mean ± ci"`` with ``digits`` decimals (``"+"`` on non-negative means when
  ``sign``); the mean alone when ``ci`` is NaN; ``"n/a"`` when the mean is NaN."""
  if not math.isfinite(mean):
    return "n/a"
  text = f"{mean:{'+' if sign else ''}.{digits}f}"
  return text if not math.isfinite(ci) else f"{text} ± {ci:.{digits}f}"


def metric_cell(metrics: Mapping[str, float], metric: str, digits: int = 4) -> str:
  """:func:`fmt_mean_ci` of ``metrics[metric]`` and its ``metrics[metric + "_ci95"]``
  (a missing CI counts as NaN); ``"—"`` when ``metrics`` has no ``metric`` (a method
  that does not report it, e.g. a ranking-only baseline's RMSE)."""
  if metric not in metrics:
    return "—"
  return fmt_mean_ci(metrics[metric], metrics.get(f"{metric}_ci95", math.nan), digits)


def paired_cell(p: Mapping[str, Any] | None, digits: int = 4) -> str:
  """A :func:`jaxrec.results.paired_differences` result's ``mean ± ci95`` with its
  sign (:func:`fmt_mean_ci`), ``"—"`` for None (no such comparison)."""
  return "—" if p is None else fmt_mean_ci(p["mean"], p["ci95"], digits, sign=True)


def _judgement(p: Mapping[str, Any]) -> str:
  """``"better"``, ``"worse"`` or ``"no difference"`` for a paired difference's mean."""
  if not math.isfinite(p["mean"]) or p["mean"] == 0:
    return "no difference"
  return "better" if (p["mean"] < 0) == p["lower_is_better"] else "worse"


def _significance(p: Mapping[str, Any]) -> str:
  """Whether a paired difference's seed-level 95% CI excludes 0 (``"no CI"`` with
  one seed)."""
  if not math.isfinite(p["ci95"]):
    return "no CI"
  return "CI excludes 0" if abs(p["mean"]) > p["ci95"] else "CI includes 0"


def verdict(p: Mapping[str, Any]) -> str:
  """One sentence on a :func:`jaxrec.results.paired_differences` result, e.g. ``"new_users:
  melu-maml vs mf_foldin: RMSE difference +0.0120 ± 0.0100 (95% CI over 5 seeds;
  worse, CI excludes 0); melu-maml better for 41% of users."``. The CI is the
  seed-level one of :func:`jaxrec.results.paired_differences` (none with one seed)."""
  n_seeds = p["n_seeds"]
  ci_name = (f"95% CI over {n_seeds} seeds" if math.isfinite(p["ci95"]) else
             f"{n_seeds} seed{'s' * (n_seeds != 1)}")
  share = ("" if not math.isfinite(p["frac_better"]) else
           f"; {p['method']} better for {100 * p['frac_better']:.0f}% of users")
  return (f"{p['state']}: {p['method']} vs {p['reference']}: {p['metric'].upper()} "
          f"difference {paired_cell(p)} ({ci_name}; "
          f"{_judgement(p)}, {_significance(p)})"
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
      :func:`jaxrec.results.aggregate` rows).
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
    cells = [metric_cell(r["metrics"], prefix + b) for b in bins]
    lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
  return lines + [""]


def final_markdown(comparisons: Sequence[Mapping[str, Any]],
                   aggregated: Sequence[Mapping[str, Any]]) -> list[str]:
  """Markdown lines of :func:`jaxrec.results.final_comparisons`: a row per (state, metric) with
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
    lines.append(
        f"| {p['state']} | {metric} | {metric_cell(mine, metric)} | "
        f"{p['reference']} | {metric_cell(theirs, metric)} | "
        f"{paired_cell(p)} ({p['n_seeds']} seeds) | "
        f"{_judgement(p)}, {_significance(p)} |")
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
    aggregated: :func:`jaxrec.results.aggregate` rows.
    paired: :func:`jaxrec.results.paired_differences` results.
    metrics: candidate metric columns.
    baselines: baseline names; None means names without a ``"-"``.
    final: :func:`jaxrec.results.final_comparisons` results.

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
      cells = [metric_cell(r["metrics"], m) for m in present]
      for metric, ref in deltas:
        match = [p for p in state_paired if (p["metric"], p["reference"], p["method"])
                 == (metric, ref, r["method"])]
        cells.append(paired_cell(match[0] if match else None))
      lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
    lines += [""] + support_table(rows)
    sentences = [verdict(p) for p in state_paired
                 if not is_baseline(p["method"], baselines)]
    if sentences:
      lines += [f"- {s}" for s in sentences] + [""]
  return "\n".join(lines)
