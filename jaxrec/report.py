"""A run's report: the markdown tables and the plots of its evaluation.

:func:`jaxrec.evaluate.evaluate_run` writes ``results.md`` (:func:`results_markdown`)
and the figures (:func:`plot_all`) from the results dict it returns; the experiment
command lines print the same markdown.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

from jaxrec import results as results_lib
from jaxrec.data import episodes as episodes_lib


def results_markdown(output: dict[str, Any]) -> str:
  """One markdown table per state: a row per method, a column per main metric any
  method reports (:func:`jaxrec.results.metric_cell`: ``mean ± 95% CI`` when several
  seeds are pooled, "—" for a metric the method does not report); on ``new_users``
  also MAE by support size (:func:`jaxrec.results.support_table`)."""
  lines = [f"# {output['dataset']}", ""]
  for state_name in episodes_lib.STATES:
    rows = [r for r in output["results"] if r["state"] == state_name]
    if not rows:
      continue
    present = [m for m in results_lib.TABLE_METRICS if any(m in r["metrics"] for r in rows)]
    users = rows[0]["metrics"].get("num_users", "?")
    full_users = rows[0]["metrics"].get("full_users")
    full_text = ("" if full_users is None else
                 f"; full_* over the {full_users} with a relevant query item")
    lines += [f"## {state_name} ({users} test users{full_text})", "",
              "| method | " + " | ".join(present) + " |",
              "|---" * (len(present) + 1) + "|"]
    for r in rows:
      cells = [results_lib.metric_cell(r["metrics"], m) for m in present]
      lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
    lines += [""] + results_lib.support_table(rows)
  return "\n".join(lines)


def plot_all(workdir: pathlib.Path, output: dict[str, Any]) -> None:
  """learning_curves.png, k_shot.png, inner_steps.png and (explicit data)
  mae_by_support.png in ``workdir``.

  Figures are drawn on ``matplotlib.figure.Figure`` objects, so the caller's
  pyplot backend (e.g. inline plots in a notebook) is left alone.
  """
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel

  curves, metric = output["curves"], output["curves"]["metric"]
  log = workdir / "metrics.jsonl"
  if log.exists():
    records = [json.loads(line) for line in log.read_text().splitlines() if line]
    fig = Figure(figsize=(10, 3.5))
    axes = fig.subplots(1, 2)
    steps = [r["step"] for r in records]
    for key in ("train_query_loss_before", "train_query_loss_after"):
      if key in records[0]:
        axes[0].plot(steps, [r.get(key) for r in records], label=key[len("train_"):])
    axes[0].set(xlabel="outer step", ylabel="training query loss")
    if axes[0].get_legend_handles_labels()[0]:
      axes[0].legend()
    axes[1].plot(steps, [r[f"val_{metric}"] for r in records], marker="o")
    axes[1].set(xlabel="outer step", ylabel=f"validation {metric} (new users)")
    fig.tight_layout()
    fig.savefig(workdir / "learning_curves.png", dpi=100)

  k_shot = curves["k_shot"]
  fig = Figure(figsize=(6, 4))
  ax = fig.subplots()
  for method, values in k_shot["values"].items():
    ax.plot(k_shot["k"], values, marker="o", label=method)
  for k, n in zip(k_shot["k"], k_shot["users"]):
    ax.annotate(f"n={n}", (k, 0), xycoords=("data", "axes fraction"), fontsize=7,
                ha="center", va="bottom")
  ax.set(xlabel="support ratings k", ylabel=f"query {metric} (new users)")
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(workdir / "k_shot.png", dpi=100)

  inner = curves["inner_steps"]
  fig = Figure(figsize=(5, 3.5))
  ax = fig.subplots()
  ax.plot(inner["steps"], inner["values"], marker="o")
  ax.set(xlabel="test-time inner steps", ylabel=f"query {metric} (new users)")
  fig.tight_layout()
  fig.savefig(workdir / "inner_steps.png", dpi=100)

  rows = [r for r in output["results"]  # methods that report MAE (not ranking-only)
          if r["state"] == "new_users" and "mae" in r["metrics"]]
  bins = [k[len("mae_support_"):] for k in (rows[0]["metrics"] if rows else ())
          if k.startswith("mae_support_")]
  if bins:
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for r in rows:
      ax.plot(range(len(bins)), [r["metrics"][f"mae_support_{b}"] for b in bins],
              marker="o", label=r["method"])
    counts = rows[0]["metrics"]
    ax.set_xticks(range(len(bins)),
                  [f"{b}\nn={counts[f'num_users_support_{b}']}" for b in bins])
    ax.set(xlabel="support ratings per user", ylabel="query MAE (new users)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(workdir / "mae_by_support.png", dpi=100)
