"""README tables of pooled results (``experiments/results/<dir>/results.json``, the
summary :func:`experiments.run_all.pool_runs` writes): per-state tables against the
strongest baseline, verdict bullets, text/no-text pairs, and the line saying which
code the runs are of. Cells are ``mean ± 95% CI`` over seeds with 3 decimals."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from jaxrec import results as results_lib
from jaxrec import zero_ratings

STATE_NAMES = {"warm": "warm", "new_users": "new users", "new_items": "new items",
               "new_users_new_items": "new users × new items"}
METHOD_NAMES = {
    "melu-maml": "MeLU + MAML (2nd order, 3 steps)", "melu-fomaml": "MeLU + FOMAML",
    "melu-reptile": "MeLU + Reptile (5 steps)", "melu-meta_sgd": "MeLU + Meta-SGD",
    "melu-anil": "MeLU + ANIL (head only)", "melu-paper": "MeLU, paper settings",
    "melu-joint": "MeLU, no meta-learning",
    "melu-joint+finetune": "MeLU, no meta-learning, fine-tuned",
    "user_mean": "user mean", "item_mean_user_bias": "item mean + user bias",
    "mf_foldin": "MF (ALS) + fold-in", "popularity": "popularity",
    "global_mean": "global mean", "item_mean": "item mean",
    "item_knn_baseline": "item-kNN + baseline predictors", "item_knn": "item-kNN",
    "ease": "EASE", "ials_foldin": "iALS + fold-in",
    "ials_foldin+rating": "iALS + fold-in blended with the final's rating",
    "foldin-solve": "fold-in (closed-form solve)",
    "foldin-maml": "fold-in (MAML steps)",
    "content_to_factor_features": "content-to-factor (features) + fold-in",
    "content_to_factor_text": "content-to-factor (text) + fold-in",
    "content_knn_features": "content-kNN (features)", "content_knn_text": "content-kNN (text)",
    "hybrid-text-maml": "hybrid + text", "hybrid-notext-maml": "hybrid, no text"}
ML100K_METHODS = ("melu-maml", "melu-fomaml", "melu-reptile", "melu-meta_sgd",
                  "melu-anil", "melu-paper", "melu-joint", "melu-joint+finetune",
                  "user_mean", "item_mean_user_bias", "item_knn_baseline", "mf_foldin",
                  "content_to_factor_features", "content_knn_features")
TEXT, NOTEXT = "hybrid-text-maml", "hybrid-notext-maml"
DIGITS = 3  # decimals of every mean and CI
BLEND = "ials_foldin+rating"  # the blend of experiments.ranking_check


def _short_code(identity: Mapping[str, Any] | None) -> str:
  """The first 12 characters of a code identity's ``code_hash``
  (:func:`jaxrec.provenance.code_identity`), or "not recorded"."""
  return ((identity or {}).get("code_hash") or "not recorded")[:12]


def _row(summary: Mapping[str, Any], method: str, state: str) -> dict[str, float]:
  """The aggregated metrics of ``method`` on ``state``.

  Raises:
    ValueError: if the summary has no such row.
  """
  for r in summary["aggregated"]:
    if (r["method"], r["state"]) == (method, state):
      return r["metrics"]
  raise ValueError(f"results.json of {summary.get('command', '?')!r}: no aggregated row "
                   f"for method {method!r} on state {state!r}")


def _cell(metrics: Mapping[str, float], metric: str) -> str:
  return results_lib.metric_cell(metrics, metric, DIGITS)


def _delta(p: Mapping[str, Any] | None) -> str:
  return results_lib.paired_cell(p, DIGITS)


def _paired(summary: Mapping[str, Any], method: str, reference: str, state: str,
            metric: str) -> Mapping[str, Any] | None:
  """The ``paired`` entry ``method - reference`` on ``state``/``metric``, or None."""
  for p in summary["paired"]:
    if (p["method"], p["reference"], p["state"], p["metric"]) == (method, reference,
                                                                  state, metric):
      return p
  return None


def provenance_line(summary: Mapping[str, Any], source: str) -> str:
  """One italic line: the source file, the number of pooled runs and the code they
  are of (``code`` of the summary), or that they are of older code (stale) when
  the summary records no code identity or pooled stale runs; then the seeds each
  method has when they differ, and the failed runs.

  Args:
    summary: a ``results.json`` dict of :func:`experiments.run_all.pool_runs`.
    source: its path as shown to the reader.
  """
  pooled = summary.get("pooled_runs", [])
  code = summary.get("code")
  stale = [r for r in pooled if "stale" in r]
  if code is None:
    origin = ("pooled from runs of older code (stale): this results.json records no "
              "code identity; to be re-run on the final code")
  else:
    dirty = ", dirty" if code.get("dirty") else ""
    ident = (f"code {str(code.get('code_hash'))[:12]} "
             f"(commit {str(code.get('git_commit'))[:12]}{dirty})")
    origin = (f"pooled with `--include_stale`: {len(stale)} of them of older code than "
              f"{ident} (stale)" if stale else f"all of {ident}")
    left_out = [r for r in summary.get("stale_runs", []) if r not in stale]
    if left_out:
      origin += f"; {len(left_out)} stale runs left out"
  seeds = {}
  for r in summary["aggregated"]:
    seeds[r["method"]] = max(seeds.get(r["method"], 0), r["n_seeds"])
  most = max(seeds.values(), default=0)
  fewer = [f"{METHOD_NAMES.get(m, m)} {n}" for m, n in seeds.items() if n < most]
  seed_text = f"; seeds per method {most}" + (f", {', '.join(fewer)}" if fewer else "")
  failed = [f"{r['config']} seed {r['seed']}" for r in summary.get("runs", [])
            if r.get("status") == "failed"]
  failed_text = f"; failed runs: {', '.join(failed)}" if failed else ""
  return f"_`{source}`: {len(pooled)} runs, {origin}{seed_text}{failed_text}._"


def state_table(summary: Mapping[str, Any], source: str, state: str,
                methods: Sequence[str], title: str) -> list[str]:
  """A state's results table: ``title`` with the test-user count, a row per method
  (RMSE, nDCG@3, AUC as mean ± 95% CI over seeds) and the paired difference of the
  run's curve metric against the strongest baseline
  (:func:`jaxrec.results.strongest_baseline`), then :func:`provenance_line`.

  Raises:
    ValueError: if a method has no row on ``state`` or the state no baseline.
  """
  metric = summary["metric"]
  reference = results_lib.strongest_baseline(summary["aggregated"], state, metric)
  users = _row(summary, reference, state).get("num_users", math.nan)
  lines = [f"{title} ({users:,.0f} test users per seed; Δ against "
           f"{METHOD_NAMES.get(reference, reference)}, the strongest baseline):", "",
           f"| method | RMSE | nDCG@3 | AUC | paired Δ {metric.upper()} |",
           "|---|---|---|---|---|"]
  for method in methods:
    m = _row(summary, method, state)
    lines.append(f"| {METHOD_NAMES.get(method, method)} | {_cell(m, 'rmse')} | "
                 f"{_cell(m, 'ndcg@3')} | {_cell(m, 'auc')} | "
                 f"{_delta(_paired(summary, method, reference, state, metric))} |")
  return lines + ["", provenance_line(summary, source)]


def ml100k_verdict(summary: Mapping[str, Any], source: str) -> list[str]:
  """Bullets: on new users and new items, MeLU + MAML's paired difference
  against the strongest baseline (:func:`jaxrec.results.verdict`
  wording, with display names); then every config's CPU time (:func:`cost_line`)."""
  lines = []
  for state in ("new_users", "new_items"):
    reference = results_lib.strongest_baseline(summary["aggregated"], state,
                                               summary["metric"])
    p = _paired(summary, "melu-maml", reference, state, summary["metric"])
    if p is None:
      raise ValueError(f"{source}: no paired melu-maml - {reference} on {state}")
    lines.append(f"- {STATE_NAMES[state]}: {METHOD_NAMES['melu-maml']} − "
                 f"{METHOD_NAMES.get(reference, reference)}: "
                 + results_lib.verdict(p).split(": ", 2)[2])
  return lines + ["", cost_line(summary)]


def _pair_cells(summary: Mapping[str, Any], method: str, reference: str, state: str,
                columns: Sequence[tuple[str, str]]) -> list[str]:
  """On ``state``: ``method``'s and ``reference``'s cells of each column's metric,
  then their paired difference of the curve metric.

  Raises:
    ValueError: if the state lacks a row of either method, or the summary their
      paired difference (a ``run_all --pair``).
  """
  mine, theirs = _row(summary, method, state), _row(summary, reference, state)
  paired = _paired(summary, method, reference, state, summary["metric"])
  if paired is None:
    raise ValueError(f"results.json of {summary.get('command', '?')!r}: no paired "
                     f"{method} - {reference} on {state} (run_all --pair)")
  return [*(_cell(m, key) for _, key in columns for m in (mine, theirs)), _delta(paired)]


def pair_table(summary: Mapping[str, Any], method: str, reference: str,
               columns: Sequence[tuple[str, str]]) -> list[str]:
  """Per state: ``method``'s and ``reference``'s ``columns`` (``(header, metric)``)
  and their paired difference ``method − reference`` of the curve metric (a
  ``run_all --pair``), mean ± 95% CI over seeds.

  Raises:
    ValueError: if a state lacks a row of either method.
  """
  names = [METHOD_NAMES.get(m, m) for m in (method, reference)]
  header = ["state", *(f"{who} {h}" for h, _ in columns for who in names),
            f"Δ {summary['metric'].upper()}, {names[0]} − {names[1]} (paired)"]
  lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
  for state in ("new_users", "new_items", "new_users_new_items", "warm"):
    lines.append("| " + " | ".join([STATE_NAMES[state],
                                    *_pair_cells(summary, method, reference, state, columns)])
                 + " |")
  return lines


def text_pair_table(summary: Mapping[str, Any], source: str,
                    columns: Sequence[tuple[str, str]]) -> list[str]:
  """Per state: the text and no-text model's ``columns`` (``(header, metric)``),
  the paired text − no-text difference of the curve metric, the strongest
  baseline's curve metric and, when recorded, the strongest baseline's
  full-catalogue recall@10 (the baseline with the best mean of it); then the test
  users per state, :func:`cost_line` and :func:`provenance_line`.

  Raises:
    ValueError: if a state lacks a row of either model.
  """
  metric = summary["metric"]
  full = "full_recall@10"
  has_full = any(full in r["metrics"] for r in summary["aggregated"]
                 if results_lib.is_baseline(r["method"]))
  header = ["state"] + [f"{who} {h}" for h, _ in columns for who in ("text", "no-text")]
  header += [f"text − no-text {metric.upper()} (paired)", f"best baseline {metric.upper()}"]
  if has_full:
    header += ["best baseline full-catalogue recall@10"]
  lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
  users = []
  for state in ("new_items", "new_users_new_items", "new_users", "warm"):
    cells = [STATE_NAMES[state], *_pair_cells(summary, TEXT, NOTEXT, state, columns)]
    text = _row(summary, TEXT, state)
    for key in (metric, full) if has_full else (metric,):
      best = results_lib.strongest_baseline(summary["aggregated"], state, key)
      cells.append(f"{_cell(_row(summary, best, state), key)} "
                   f"({METHOD_NAMES.get(best, best)})")
    lines.append("| " + " | ".join(cells) + " |")
    users.append(f"{text.get('num_users', math.nan):,.0f} {STATE_NAMES[state]}")
  return lines + ["", f"(mean ± 95% CI over seeds; test users per seed: "
                  f"{', '.join(users)}.)", "", cost_line(summary), "",
                  provenance_line(summary, source)]


ZERO_RATINGS_NAMES = {"popularity": "popularity", "friends": "friends' listening",
                      "friends+popularity": "friends' listening + popularity (blend)",
                      "ials": "iALS fold-in of the k ratings",
                      "ials+friends": "iALS fold-in of the k ratings + friends' artists"}


def zero_ratings_tables(data: Mapping[str, Any], source: str) -> list[str]:
  """The k-shot tables of :mod:`experiments.zero_ratings`' JSON: full-catalogue
  nDCG@10 and recall@10 per method and ``k`` (mean ± 95% CI over seeds, "—"
  where a method has no score), the paired differences, and a line naming the
  source, the users and the cost.

  Raises:
    KeyError: if the JSON lacks a field the tables need.
  """
  ks = [str(k) for k in data["ks"]]
  lines = _kshot_lines(data, ZERO_RATINGS_NAMES)
  users = sorted({run["users"]["test"] for run in data["seeds"].values()})
  without = sorted({run["users"]["test_without_friends"] for run in data["seeds"].values()})
  chosen = [run["chosen"] for run in data["seeds"].values()]
  settings = "; ".join(
      f"seed {seed}: iALS " + ", ".join(f"{k} {v:g}" for k, v in c["ials"].items())
      + f", β {c['blend']:g}, γ_k " + "/".join(f"{v:g}" for v in c["friends_weight"].values())
      for seed, c in zip(data["seeds"], chosen))
  lines += ["", f"Chosen on each seed's validation users (γ_k for k = {'/'.join(ks)}): "
            f"{settings}."]
  code = _short_code(data.get("code"))
  lines += ["", f"_`{source}`: `{data['command']}` (code {code}); {len(data['seeds'])} seeds, "
            f"{users[0]}–{users[-1]} test users per seed ({without[0]}–{without[-1]} "
            f"without a training friend); {data['cpu_minutes']} CPU-minutes in all._"]
  return lines


def _final_comparison(summary: Mapping[str, Any], state: str, metric: str
                      ) -> Mapping[str, Any]:
  """The final method's comparison on ``state`` / ``metric``.

  Raises:
    ValueError: if the summary has none.
  """
  for p in (summary.get("final") or {}).get("comparisons", []):
    if (p["state"], p["metric"]) == (state, metric):
      return p
  raise ValueError(f"results.json of {summary.get('command', '?')!r}: no final "
                   f"comparison on {state} / {metric}")


def final_table(summary: Mapping[str, Any], source: str,
                metrics: Mapping[str, Sequence[str]]) -> list[str]:
  """The ``--final`` method against the strongest other method (every baseline and
  jaxrec method pooled) on ``metrics`` (``{state: metrics}``), from
  :func:`jaxrec.results.final_markdown`; then every pooled config's CPU-minutes
  per run (:func:`cost_line`) and :func:`provenance_line`.

  Raises:
    ValueError: if the summary has no final comparison of a requested pair.
  """
  chosen = [_final_comparison(summary, state, metric)
            for state, names in metrics.items() for metric in names]
  rows = results_lib.final_markdown(chosen, summary["aggregated"])[2:-1]  # no heading
  return rows + ["", cost_line(summary), "", provenance_line(summary, source)]


def _delta4(p: Mapping[str, Any]) -> str:
  return results_lib.paired_cell(p, 4)


def _outcome(p: Mapping[str, Any]) -> str:
  """``"wins"`` / ``"loses"`` when a paired difference's seed-level CI excludes 0
  (by the metric's direction; higher is better unless ``lower_is_better``), else
  ``"ties"`` (also without a finite CI)."""
  if not math.isfinite(p["ci95"]) or abs(p["mean"]) <= p["ci95"]:
    return "ties"
  return "wins" if (p["mean"] < 0) == p.get("lower_is_better", False) else "loses"


def _outcomes(found: Sequence[Mapping[str, Any]], reached: bool = True) -> str:
  """One word for several comparisons: "wins" only if each wins (and the goal's
  size is ``reached``; else "wins, short of the goal"), "loses" if any loses, else
  "ties"."""
  words = {_outcome(p) for p in found}
  if "loses" in words:
    return "loses"
  if words == {"wins"}:
    return "wins" if reached else "wins, short of the goal"
  return "ties"


def _final_means(summary: Mapping[str, Any], p: Mapping[str, Any]) -> tuple[float, float]:
  """``(final's mean, strongest other's mean)`` of comparison ``p``."""
  return (_row(summary, p["method"], p["state"])[p["metric"]],
          _row(summary, p["reference"], p["state"])[p["metric"]])


def _ranking_run(data: Mapping[str, Any]) -> str:
  """The method name of the run :mod:`experiments.ranking_check` scored."""
  return next(iter(next(iter(data["seeds"].values()))["runs"]))


COLD_METRICS = {"ML-100K": ("rmse", "auc", "full_ndcg@10", "full_recall@10"),
                "Last.fm": ("full_ndcg@10", "full_recall@10")}


def targets_table(ml100k: Mapping[str, Any], lastfm: Mapping[str, Any],
                  ranking: Mapping[str, Any]) -> list[str]:
  """The targets of the final methods and where each stands, from the final
  studies' summaries (``ml100k``, ``lastfm``) and :mod:`experiments.ranking_check`'s
  JSON (``ranking``): a target is met ("wins") when every paired difference it names
  is in its favour with a seed-level CI excluding 0 and, where the goal has a size
  (MAE ≤ 0.97×, +10% relative), by that much. The new-item row counts the
  outcomes over :data:`COLD_METRICS` on both item-cold states.

  Raises:
    ValueError: if a summary lacks a final comparison the table needs, or the
      ranking check scored another method than the ML-100K study's final one.
  """
  scored = _ranking_run(ranking)
  if scored != ml100k["final"]["method"]:
    raise ValueError(f"the ranking check scored {scored!r}, the ML-100K "
                     f"study's final method is {ml100k['final']['method']!r}")
  mae, rmse = (_final_comparison(ml100k, "new_users", m) for m in ("mae", "rmse"))
  mine, other = _final_means(ml100k, mae)
  liked = _final_comparison(ml100k, "new_users", "full_ndcg@10")
  ials = {**next(p for p in ranking["summary"]["paired"]
                 if (p["method"], p["reference"], p["metric"])
                 == (scored, "ials_foldin", "ndcg@10")),
          "lower_is_better": False}
  users = [_final_comparison(lastfm, "new_users", m)
           for m in ("full_ndcg@10", "full_recall@10")]
  ours, theirs = _final_means(lastfm, users[0])
  gain = ours / theirs - 1
  cold = [(name, _final_comparison(summary, state, metric))
          for name, summary in (("ML-100K", ml100k), ("Last.fm", lastfm))
          for state in ("new_items", "new_users_new_items") for metric in COLD_METRICS[name]]
  closest = max(cold, key=lambda c: (-1 if c[1]["lower_is_better"] else 1) * c[1]["mean"]
                - c[1]["ci95"])
  words = [_outcome(p) for _, p in cold]
  counts = ", ".join(f"{word} on {words.count(word)}" for word in ("wins", "ties", "loses")
                     if word in words)
  losses = "; ".join(f"{name} {STATE_NAMES[p['state']]} {_metric_name(p)} {_delta4(p)} "
                     f"against {METHOD_NAMES.get(p['reference'], p['reference'])}"
                     for name, p in cold if _outcome(p) == "loses")
  return [
      "| target | goal | result |", "|---|---|---|",
      "| ML-100K new users, MAE and RMSE | below the strongest other, CI excluding 0; MAE "
      f"≤ 0.97× it | MAE {mine / other:.3f}× ({mine:.4f} against {other:.4f}, "
      f"{_delta4(mae)}), RMSE {_delta4(rmse)}: "
      f"{_outcomes([mae, rmse], mine / other <= 0.97)} |",
      "| ML-100K new users, liked-movie nDCG@10 | above the strongest other, CI excluding "
      f"0 | {_delta4(liked)} against the rating models ({_outcome(liked)}); {_delta4(ials)} "
      f"against the iALS fold-in on rated movies ({_outcome(ials)}) |",
      "| Last.fm new users, nDCG@10 and recall@10 | above, CI excluding 0; +10% relative | "
      f"{gain:+.1%} ({_delta4(users[0])} and {_delta4(users[1])}): "
      f"{_outcomes(users, gain >= 0.10)} |",
      "| new items and new users × new items | above the strongest other (the content "
      f"baselines among them), CI excluding 0 | {counts} of {len(cold)} metrics (closest: "
      f"{closest[0]} {STATE_NAMES[closest[1]['state']]} {_metric_name(closest[1])} "
      f"{_delta4(closest[1])}){'; loses: ' + losses if losses else ''} |"]


def _metric_name(p: Mapping[str, Any]) -> str:
  """A comparison's metric as the README writes it (``full_ndcg@10`` -> nDCG@10)."""
  return (p["metric"].replace("full_", "").replace("ndcg", "nDCG").replace("rmse", "RMSE")
          .replace("auc", "AUC"))


def cost_line(summary: Mapping[str, Any]) -> str:
  """Each pooled config's mean CPU-minutes per run, training + evaluation, in order
  of first appearance; each part is the mean over the runs that recorded it."""
  runs = summary.get("pooled_runs", [])
  parts = []
  for config in dict.fromkeys(r["config"] for r in runs):
    costs = [r["cpu_minutes"] for r in runs if r["config"] == config and "cpu_minutes" in r]
    if not costs:
      parts.append(f"`{config}` not recorded")
      continue
    means = []
    for part in ("train", "evaluate"):
      values = [c[part] for c in costs if part in c]
      means.append(f"{sum(values) / len(values):.1f}" if values else "—")
    runs_word = "run" if len(costs) == 1 else "runs"
    parts.append(f"`{config}` {means[0]} + {means[1]} ({len(costs)} {runs_word})")
  return ("CPU-minutes per run, training + evaluation (every baseline fit and tuned), "
          "mean of each config's runs: " + ", ".join(parts) + ".")


PROFILE_NAMES = {"popularity": "popularity (training users who liked the item)",
                 "profile": "profile back-off means",
                 "mf_foldin": "MF fold-in of the k ratings",
                 "mf_foldin+mean": "MF fold-in from the mean training user",
                 "mf_foldin+profile": "MF fold-in from the profile's mean user",
                 "run": "meta-learned fold-in for 0–3 ratings, without profile",
                 "profile prior": "meta-learned fold-in for 0–3 ratings, with profile"}


def _kshot_lines(data: Mapping[str, Any], names: Mapping[str, str]) -> list[str]:
  """Per metric of ``data["metrics"]``, a table of ``names``' methods by ``k``
  (mean ± 95% CI over seeds, "—" where a method has no score), then the paired
  differences of ``data["summary"]["paired"]`` (k-shot JSON as written by
  :mod:`experiments._study`); a reference outside ``names`` is named by
  ``ZERO_RATINGS_NAMES``."""
  ks = [str(k) for k in data["ks"]]
  table, lines = data["summary"]["table"], []
  metrics = data["metrics"]
  for metric in metrics:
    lines += [f"| full-catalogue {metric.replace('ndcg', 'nDCG')} | "
              + " | ".join(f"k = {k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    for method, name in names.items():
      cells = [results_lib.fmt_mean_ci(*table[method][k][metric], DIGITS)
               if k in table[method] else "—" for k in ks]
      lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
  lines += ["| paired difference (same test users, seed-level 95% CI) | k | "
            + " | ".join(m.replace("ndcg", "nDCG") for m in metrics) + " |",
            "|---|---|" + "---|" * len(metrics)]
  paired = {(p["method"], p["reference"], p["k"], p["metric"]): p
            for p in data["summary"]["paired"]}
  for method, reference, k in dict.fromkeys(key[:3] for key in paired):
    cells = [_delta(paired[(method, reference, k, m)]) for m in metrics]
    lines.append(f"| {names[method]} − {names.get(reference, ZERO_RATINGS_NAMES.get(reference))}"
                 f" | {k} | " + " | ".join(cells) + " |")
  return lines


def profile_tables(data: Mapping[str, Any], source: str) -> list[str]:
  """The k-shot tables of :mod:`experiments.profile_curves`' JSON (ML-100K new
  users with vs without profile): full-catalogue nDCG@10 and recall@10 of the
  liked query items per method and ``k``, the paired differences, each seed's
  validation choices, and a line naming the source, the users and the cost.

  Raises:
    KeyError: if the JSON lacks a field the tables need.
  """
  lines = _kshot_lines(data, {method: name for method, name in PROFILE_NAMES.items()
                             if method in data["summary"]["table"]})
  runs = data["seeds"].values()
  trained = sorted({_short_code(about["code"])
                    for run in runs for about in run.get("runs", {}).values()})
  users = sorted({run["users"]["test"] for run in runs})
  no_liked = sorted({run["users"]["no_liked_test"] for run in runs})
  settings = "; ".join(
      f"seed {seed}: MF " + ", ".join(f"{k} {v:g}" for k, v in run["chosen"]["mf"].items())
      + f", m {run['chosen']['profile_shrinkage']:g}, m′_k "
      + "/".join(f"{v:g}" for v in run["chosen"]["prior_shrinkage"].values())
      for seed, run in data["seeds"].items())
  code = _short_code(data.get("code"))
  return lines + [
      "", f"Chosen on each seed's validation users (m′_k for k = {'/'.join(map(str, data['ks']))}"
      f"): {settings}.",
      "", f"_`{source}`: `{data['command']}` (code {code}"
      + (f"; the runs trained with code {', '.join(trained)}" if trained else "")
      + f"); {len(data['seeds'])} seeds, "
      f"{users[0]}–{users[-1]} test users per seed ({no_liked[0]}–{no_liked[-1]} left out "
      f"without a liked query item); back-off order {', '.join(data['backoff_fields'])}; "
      f"{data['cpu_minutes']} CPU-minutes in all._"]


SENTENCE_NAMES = {"popularity": "popularity",
                  "sentence": "proxy sentence (cosine to the item text)",
                  "sentence+popularity": "proxy sentence + popularity (blend)",
                  "unrelated": "unrelated sentence (another test user's)",
                  "unrelated+popularity": "unrelated sentence + popularity (blend)",
                  "foldin": "fold-in of the k ratings",
                  "foldin+sentence": "fold-in + the sentence's nearest items",
                  "foldin+unrelated": "fold-in + the unrelated sentence's nearest items"}


# What ``recommend`` serves a description alone (the fold-in of the sentence's
# nearest items) against what it would serve with nothing known: popularity. The
# study's own comparisons leave k = 0's fold-in out (no reference without a
# sentence); these are computed here from the JSON's per-user figures.
SERVED_AT_ZERO = (("foldin+sentence", "popularity", ("0",)),
                  ("foldin+unrelated", "popularity", ("0",)))


def sentence_tables(data: Mapping[str, Any], source: str) -> list[str]:
  """The tables of :mod:`experiments.sentence_proxy`' JSON: full-catalogue nDCG@10
  and recall@10 per method at k = 0 and 3 (mean ± 95% CI over seeds), the paired
  differences (the JSON's and :data:`SERVED_AT_ZERO`'s), whether each
  unrelated-sentence difference's lower 95% bound on nDCG@10 is above the JSON's
  ``unrelated_floor``, each seed's validation choices, example sentences, and a line
  naming the source, the users and the cost.

  Raises:
    KeyError: if the JSON lacks a field the tables need.
  """
  served = zero_ratings.pool_seeds(data["seeds"], (), ("0",), SERVED_AT_ZERO)["paired"]
  data = {**data, "summary": {**data["summary"],
                              "paired": data["summary"]["paired"] + served}}
  lines = _kshot_lines(data, SENTENCE_NAMES)
  metric, floor = data["metrics"][0], data["unrelated_floor"]
  checks = [f"{SENTENCE_NAMES[p['method']]} − {SENTENCE_NAMES[p['reference']]} at k = "
            f"{p['k']}: lower bound {p['low']:+.{DIGITS}f}, "
            + ("above" if p["low"] > floor else "not above")
            for p in data["summary"]["paired"]
            if "unrelated" in p["method"] and p["metric"] == metric]
  runs = data["seeds"]
  settings = "; ".join(
      f"seed {seed}: fold-in " + ", ".join(f"{k} {v:g}" for k, v in run["chosen"]["foldin"].items())
      + f", β {run['chosen']['blend']:g}, (M, w) "
      + "/".join(f"({m}, {w:g})" for m, w in run["chosen"]["sentence"].values())
      for seed, run in runs.items())
  examples = next(iter(runs.values()))["examples"][:3]
  users = sorted({run["users"]["test"] for run in runs.values()})
  left_out = sorted({run["users"]["test_without_liked_query"]
                     + run["users"]["test_without_history"] for run in runs.values()})
  code = _short_code(data.get("code"))
  return lines + [
      "", f"Unrelated-sentence check (nDCG@10, lower 95% bound against {floor}): "
      + "; ".join(checks) + ".",
      "", f"Chosen on each seed's validation users ((M, w) for k = "
      f"{'/'.join(map(str, data['ks']))}): {settings}.",
      "", "Example proxy sentences (seed " + next(iter(runs)) + "): "
      + "; ".join(f"“{s}”" for s in examples) + ".",
      "", f"_`{source}`: `{data['command']}` (code {code}); {len(runs)} seeds, "
      f"{_span(users)} test users per seed ({_span(left_out)} left out without a liked "
      f"query item or an item to describe); {data['cpu_minutes']} CPU-minutes in all._"]


def _span(values: Sequence[int]) -> str:
  """"a" when the sorted ``values`` are all ``a``, else "first–last"."""
  return f"{values[0]}" if values[0] == values[-1] else f"{values[0]}–{values[-1]}"


RUN_NAMES = {"run": "the run's fold-in of the k ratings",
             "run+friends": "the run + friends' rows (γ_k tuned)",
             "run+friends (serving)": "the run + friends' rows (serving's γ)",
             "friends prior": "the model trained with friends (prior from friends)"}


def run_friends_tables(data: Mapping[str, Any], source: str) -> list[str]:
  """The k-shot tables of :mod:`experiments.zero_ratings_run`' JSON: the trained
  run with and without the friends' rows, the paired differences against the
  zero-ratings baselines of the same users, the choices and the source line."""
  ks = "/".join(str(k) for k in data["ks"])
  lines = _kshot_lines(data, {method: name for method, name in RUN_NAMES.items()
                             if method in data["summary"]["table"]})
  chosen = "; ".join(f"seed {seed}: γ_k " + "/".join(
      f"{v:g}" for v in run["chosen"]["friends_weight"].values())
      for seed, run in data["seeds"].items())
  runs = sorted({_short_code(run[key]["code"]) for run in data["seeds"].values()
                 for key in ("run", "friends_run") if key in run})
  users = sorted({run["users"]["test"] for run in data["seeds"].values()})
  code = _short_code(data.get("code"))
  return lines + [
      "", f"Chosen on each seed's validation users (γ_k for k = {ks}): {chosen}; serving's "
      f"fixed γ is {data['serving_friends_weight']:g}.", "",
      f"_`{source}`: `{data['command']}` (code {code}; the runs trained with code "
      f"{', '.join(runs)}); {len(data['seeds'])} seeds, {users[0]}–{users[-1]} test users "
      f"per seed; {data['cpu_minutes']} CPU-minutes in all._"]


def ranking_check_table(data: Mapping[str, Any], source: str) -> list[str]:
  """The table of :mod:`experiments.ranking_check`'s JSON: each method's
  full-catalogue nDCG@10 and recall@10 of the liked query items on new users
  (mean ± 95% CI over seeds), the run's paired difference against each ranking
  baseline, the blend's against the iALS fold-in, each seed's choices, and a line
  naming the source and the users.

  Raises:
    KeyError: if the JSON lacks a field the table needs.
  """
  (k,), metrics = data["ks"], data["metrics"]
  table = data["summary"]["table"]
  runs = data["seeds"].values()
  final = _ranking_run(data)
  paired = {(p["method"], p["reference"], p["metric"]): p for p in data["summary"]["paired"]}
  names = [m.replace("ndcg", "nDCG") for m in metrics]
  lines = ["| method | " + " | ".join(f"full-catalogue {n}" for n in names) + " | "
           + " | ".join(f"Δ final − method, {n}" for n in names) + " |",
           "|---|" + "---|" * 2 * len(metrics)]
  for method in table:
    cells = [results_lib.fmt_mean_ci(*table[method][k][m], DIGITS) for m in metrics]
    deltas = ["—" if method == final else _delta(paired[(final, method, m)])
              for m in metrics]
    lines.append(f"| {'final' if method == final else METHOD_NAMES[method]} | "
                 + " | ".join(cells + deltas) + " |")
  choices = "; ".join(f"seed {seed}: " + ", ".join(
      f"{METHOD_NAMES[name]} {' '.join(f'{p} {v:g}' for p, v in params.items())}"
      for name, params in run["chosen"].items() if params)
      for seed, run in data["seeds"].items())
  users = sorted({run["users"]["liked_test"] for run in runs})
  trained = sorted({_short_code(about["code"]) for run in runs
                    for about in run["runs"].values()})
  blended = [p for p in data["summary"]["paired"] if p["method"] == BLEND]
  if blended:
    lines += ["", "The blend against the iALS fold-in alone (paired, 95% CI over seeds): "
              + ", ".join(f"{p['metric'].replace('ndcg', 'nDCG')} {_delta(p)}"
                          for p in blended) + "."]
  return lines + [
      "", f"Chosen on each seed's validation users by full-catalogue nDCG@10: {choices}.",
      "", f"_`{source}`: `{data['command']}` (code {_short_code(data.get('code'))}; the "
      f"runs trained with code {', '.join(trained)}); {len(data['seeds'])} seeds, "
      f"{users[0]}–{users[-1]} test users per seed with a liked query movie; "
      f"{data['cpu_minutes']} CPU-minutes in all._"]
