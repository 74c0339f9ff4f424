"""Evaluation of a meta-training run from its checkpoint, against the baselines.

:func:`evaluate_run` reads ``<workdir>/config.json`` and the best checkpoint (and,
for the record, the run's ``provenance.json`` and ``warm_start.json``),
rebuilds the data exactly as training did (the split is a function of the config),
fits the tuned baselines on the same split (:mod:`jaxrec.tuned_baselines`) and
scores the meta-learner and every baseline on the *same* test episodes of each
cold-start state (:mod:`jaxrec.scoring`). It writes

- ``results.json``: ``{"dataset", "protocol", "results": [{"method", "state",
  "seed", "metrics"}], "curves": {...}}``;
- ``results.md``: one table per state (and MAE by support size on ``new_users``;
  :func:`jaxrec.report.results_markdown`);
- ``per_user.npz``: per-user metric arrays ``"<method>|<state>|<metric>"`` (and
  ``"<state>|user"``), the full-catalogue ones included, for paired comparisons
  across methods;
- ``learning_curves.png``, ``k_shot.png``, ``inner_steps.png``, ``mae_by_support.png``
  (:func:`jaxrec.report.plot_all`).

Catalogue metrics (``coverage@k``, ``novelty@k``, ``diversity@k``, and
``full_recall@k`` / ``full_ndcg@k`` of the held-out relevant items;
:func:`jaxrec.scoring.catalogue_metrics`) come from each user's ranking of the
state's candidate items (train items; the held-out items for the new-item states)
minus the user's support items. The curves (:func:`k_shot_curve`,
:func:`inner_steps_curve`) follow one metric on ``new_users`` as the support set
or the test-time inner loop grows.
"""

from __future__ import annotations

import functools
import json
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import jax
import ml_collections
import numpy as np

from jaxrec import metrics
from jaxrec import prepare
from jaxrec import provenance
from jaxrec import report
from jaxrec import results as results_lib
from jaxrec import run as run_lib
from jaxrec import scoring
from jaxrec import train as train_lib
from jaxrec import tuned_baselines
from jaxrec.data import episodes as episodes_lib

K_SHOTS = (1, 2, 3, 5, 10, 15, 20)
INNER_STEPS = (0, 1, 2, 3, 5, 10)
FINETUNE_GRID = {"inner_lr": (1e-3, 1e-2, 1e-1), "num_steps": (1, 5, 10)}


def protocol(config: ml_collections.ConfigDict, prepared: prepare.Prepared) -> dict:
  """The split parameters, seeds, relevance threshold, the code identity
  (:func:`jaxrec.provenance.code_identity`: code hash, dirty flag, git commit,
  package versions) of the evaluating code, and the device."""
  return {
      "split": {**prepared.split.params, **prepared.split.sizes()},
      "seed": config.seed,
      "query_size": config.data.query_size,
      "states": list(episodes_lib.STATES),
      "relevance_threshold": metrics.relevance_threshold_for(
          prepared.interactions.implicit, None),
      "catalogue_k": results_lib.CATALOGUE_K,
      "code": provenance.code_identity(),
      "device": f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind} "
                f"x{jax.device_count()}",
  }


def _candidates(prepared: prepare.Prepared, state: str) -> np.ndarray:
  new_items = state in ("new_items", "new_users_new_items")
  return prepared.split.test_items if new_items else prepared.split.train_items


def _evaluate_scorer(score: scoring.Scorer, batches: Sequence[dict], implicit: bool
                     ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
  """:func:`jaxrec.scoring.query_metrics` of ``score`` on ``batches``."""
  return scoring.query_metrics(batches, [score(b) for b in batches], implicit)


def method_name(config: ml_collections.ConfigDict) -> str:
  """``"<model>-<algorithm>"``, e.g. ``"melu-maml"`` (``config.name`` overrides)."""
  return config.get("name") or f"{config.model.name}-{config.meta.algorithm}"


def _curve_metric(config: ml_collections.ConfigDict, implicit: bool) -> str:
  """The curves' metric: the run's ``best_metric`` when it ranks the whole
  catalogue (``full_*``), else AUC (implicit) or RMSE (explicit)."""
  if config.best_metric.startswith("full_"):
    return config.best_metric
  return "auc" if implicit else "rmse"


def tune_finetuning(scorers, params, val_batches: Sequence[dict], metric: str,
                    implicit: bool, *, catalogue: Callable | None = None) -> dict[str, Any]:
  """Test-time fine-tuning rate and steps for a network trained without
  meta-learning (``scorers``: its :func:`jaxrec.scoring.model_scoring`): the
  ``FINETUNE_GRID`` point with the best ``metric`` on the validation batches (a
  ``full_*`` metric ranks the catalogue with ``catalogue``, see ``_measure``; ties
  keep the earlier point).

  Returns:
    ``{"inner_lr", "num_steps"}``.

  Raises:
    ValueError: as ``_measure`` (a ``full_*`` metric without ``catalogue``).
  """
  measure = _measure(metric, implicit, catalogue)
  best = None
  for lr in FINETUNE_GRID["inner_lr"]:
    for steps in FINETUNE_GRID["num_steps"]:
      value = measure(*scorers(params, lr, steps), val_batches)
      if best is None or metrics.is_better(metric, value, best[0]):
        best = (value, {"inner_lr": lr, "num_steps": steps})
  return best[1]


def evaluate_run(workdir: str | pathlib.Path, *, progress: bool = True) -> dict[str, Any]:
  """Evaluates a run's best checkpoint and the baselines on every state; writes
  the files listed in the module docstring and returns the results dict."""
  workdir = pathlib.Path(workdir)
  config, prepared, model, state = run_lib.load_run(workdir)
  inter, data = prepared.interactions, config.data
  implicit = inter.implicit
  shape = scoring.batch_shape(config)
  episode_args = dict(query_size=data.query_size, negatives=data.negatives,
                      seed=config.seed)
  val_batches = scoring.validation_batches(config, prepared)
  model_scorers = scoring.model_scoring(model, scoring.make_adapter(config, model))
  inner_lr = scoring.inner_rate(config, state)
  name = method_name(config)
  scorers = {name: model_scorers(state.params, inner_lr, config.meta.num_steps)}
  catalogue = functools.partial(scoring.catalogue_metrics,
                                candidates=prepared.split.train_items, prepared=prepared)
  chosen = {}
  if config.meta.algorithm == "joint":
    tuned = tune_finetuning(model_scorers, state.params, val_batches, config.best_metric,
                            implicit, catalogue=catalogue)
    chosen[f"{name}+finetune"] = tuned
    scorers[f"{name}+finetune"] = model_scorers(state.params, tuned["inner_lr"],
                                                tuned["num_steps"])
  ranking_only = set()
  fitted_baselines = tuned_baselines.fit_baselines(config, prepared, val_batches)
  for base_name, (fitted, params) in fitted_baselines.items():
    scorers[base_name] = scoring.baseline_scorers(fitted)
    chosen[base_name] = params
    if fitted.RANKING_ONLY:
      ranking_only.add(base_name)

  results, per_user_all, test_episodes = [], {}, {}
  for state_name in episodes_lib.STATES:
    episodes = episodes_lib.make_episodes(inter, prepared.split, state_name,
                                          group="test", **episode_args)
    test_episodes[state_name] = episodes
    batches = scoring.padded_batches(episodes, shape)
    candidates = _candidates(prepared, state_name)
    support_sizes = episodes.support_sizes[np.argsort(episodes.user, kind="stable")]
    for method, (score, score_all) in scorers.items():
      summary, per_user = _evaluate_scorer(score, batches, implicit)
      if method in ranking_only:  # its scores are not ratings
        for key in ("mae", "rmse"):
          summary.pop(key, None)
          per_user.pop(key, None)
      ranked, full = scoring.catalogue_metrics(score_all, batches, candidates, prepared)
      summary.update(ranked)
      per_user.update(full)
      if state_name == "new_users" and "mae" in per_user:  # users in user-id order
        for label, (mae, n) in metrics.mean_by_support_size(per_user["mae"],
                                                            support_sizes).items():
          summary[f"mae_support_{label}"], summary[f"num_users_support_{label}"] = mae, n
      results.append({"method": method, "state": state_name, "seed": config.seed,
                      "metrics": summary})
      per_user_all[f"{state_name}|user"] = per_user.pop("user")
      per_user_all.update({f"{method}|{state_name}|{k}": v for k, v in per_user.items()})
    if progress:
      print(f"evaluated {state_name}: {len(episodes)} users")

  curve_metric = _curve_metric(config, implicit)
  curves = {"metric": curve_metric,
            "k_shot": k_shot_curve(scorers, test_episodes["new_users"], shape, implicit,
                                   curve_metric, seed=config.seed, catalogue=catalogue),
            "inner_steps": inner_steps_curve(
                model_scorers, state.params, inner_lr,
                scoring.padded_batches(test_episodes["new_users"], shape),
                implicit, curve_metric, catalogue=catalogue)}
  trained_code = workdir / "provenance.json"  # written by train.train
  warm = workdir / train_lib.WARM_START_FILE  # written by train.train with a warm start
  output = {"dataset": inter.name,
            "protocol": {**protocol(config, prepared), "hyperparameters": chosen,
                         "trained_code": (json.loads(trained_code.read_text())
                                          if trained_code.exists() else None),
                         "warm_start": (json.loads(warm.read_text()) if warm.exists()
                                        else None)},
            "results": results, "curves": curves}
  (workdir / "results.json").write_text(json.dumps(output, indent=2))
  (workdir / "results.md").write_text(report.results_markdown(output))
  np.savez_compressed(workdir / "per_user.npz", **per_user_all)
  report.plot_all(workdir, output)
  return output


def _measure(metric: str, implicit: bool, catalogue: Callable | None
             ) -> Callable[[scoring.Scorer, Callable, Sequence[dict]], float]:
  """``measure(score, score_all, batches)``: ``metric`` of a scorer's query scores,
  or, for a ``full_*`` metric, of its rankings of the catalogue
  (``catalogue(score_all, batches) -> (summary, per_user)``)."""
  if metric.startswith("full_"):
    if catalogue is None:
      raise ValueError(f"metric '{metric}' ranks the catalogue: pass catalogue")
    return lambda score, score_all, batches: catalogue(score_all, batches)[0][metric]
  return lambda score, score_all, batches: _evaluate_scorer(score, batches,
                                                            implicit)[0][metric]


def k_shot_curve(scorers: dict, episodes: episodes_lib.Episodes, shape: tuple[int, int, int],
                 implicit: bool, metric: str, *, seed: int,
                 catalogue: Callable | None = None) -> dict[str, Any]:
  """``metric`` vs the number of support ratings ``k`` (``K_SHOTS``) on
  ``new_users``: each user's support set truncated to ``k`` random ratings;
  users with fewer than ``k`` leave that point (``users`` counts those left).
  A ``full_*`` metric ranks the catalogue with ``catalogue`` (see ``_measure``).
  The curve ends before the first ``k`` no user reaches (support positives: every
  rating, or the ``y != 0`` entries when negatives are sampled: ``support_positives``)."""
  most = episodes.support_positives.max(initial=0)
  measure = _measure(metric, implicit, catalogue)
  curve = {"k": [], "users": [], "values": {m: [] for m in scorers}}
  for k in (k for k in K_SHOTS if k <= most):
    truncated = episodes_lib.truncate_support(episodes, k, seed=seed)
    batches = scoring.padded_batches(truncated, shape)
    curve["k"].append(k)
    curve["users"].append(len(truncated))
    for method, (score, score_all) in scorers.items():
      curve["values"][method].append(measure(score, score_all, batches))
  return curve


def inner_steps_curve(model_scorers, params, inner_lr, batches: Sequence[dict],
                      implicit: bool, metric: str, *, catalogue: Callable | None = None
                      ) -> dict[str, list]:
  """``metric`` on ``new_users`` vs the number of test-time inner steps
  (``0 .. max(INNER_STEPS)``, one adaptation trajectory per task of
  ``model_scorers``, a :func:`jaxrec.scoring.model_scoring`; a ``full_*`` metric
  ranks the catalogue after each number of steps, see ``_measure``)."""
  if metric.startswith("full_"):
    measure = _measure(metric, implicit, catalogue)
    values = [measure(*model_scorers(params, inner_lr, s), batches) for s in INNER_STEPS]
    return {"steps": list(INNER_STEPS), "values": values}
  scores = [np.asarray(model_scorers.trajectory(params, inner_lr, max(INNER_STEPS), b))
            for b in batches]
  values = [scoring.query_metrics(batches, [t[s] for t in scores], implicit)[0][metric]
            for s in INNER_STEPS]
  return {"steps": list(INNER_STEPS), "values": values}
