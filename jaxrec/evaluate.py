"""Evaluation of a meta-training run from its checkpoint, against the baselines.

:func:`evaluate_run` reads only ``<workdir>/config.json`` and the best checkpoint,
rebuilds the data exactly as training did (the split is a function of the config),
and scores the meta-learner and every baseline on the *same* test episodes of each
cold-start state. It writes

- ``results.json``: ``{"dataset", "protocol", "results": [{"method", "state",
  "seed", "metrics"}], "curves": {...}}``;
- ``results.md``: one table per state (and MAE by support size on ``new_users``);
- ``per_user.npz``: per-user metric arrays ``"<method>|<state>|<metric>"`` (and
  ``"<state>|user"``), the full-catalogue ones included, for paired comparisons
  across methods;
- ``learning_curves.png``, ``k_shot.png``, ``inner_steps.png``, ``mae_by_support.png``.

Catalogue metrics (``coverage@k``, ``novelty@k``, ``diversity@k``, and
``full_recall@k`` / ``full_ndcg@k`` of the held-out relevant items) come from each
user's ranking of the state's candidate items (train items; the held-out items
for the new-item states) minus the user's support items.
"""

from __future__ import annotations

import functools
import json
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxrec import adapters
from jaxrec import baselines
from jaxrec import meta
from jaxrec import metrics
from jaxrec import provenance
from jaxrec import results as results_lib
from jaxrec import run as run_lib
from jaxrec import train as train_lib
from jaxrec.data import batching
from jaxrec.data import episodes as episodes_lib
from jaxrec.data import splits
from jaxrec.data import tags

KS = (1, 3, 5, 10)
K_SHOTS = (1, 2, 3, 5, 10, 15, 20)
INNER_STEPS = (0, 1, 2, 3, 5, 10)
# The tuned baselines, by feedback kind: name -> (class, grid, inputs). Grids are
# searched on validation users only (``config.best_metric``): the "explicit" or
# "implicit" ones on the validation users' new_users episodes, the "content" ones
# (item cold start, both kinds) on the train users' new_items episodes of the
# validation items. ``inputs`` are constructor arguments fit_baselines supplies:
# an earlier baseline's chosen hyperparameter of that name, ``item_vectors`` (one
# baseline per vector source: "features", and "text" when the config has text
# vectors), ``like_threshold`` (the relevance threshold) or ``factor_model`` (the
# tuned mf_foldin / ials_foldin).
BASELINE_GRIDS = {
    "explicit": {
        "item_mean": (baselines.ItemMean, {"damping": (1.0, 5.0, 25.0)}, ()),
        "item_mean_user_bias": (baselines.ItemMeanUserBias,
                                {"item_damping": (1.0, 5.0, 25.0),
                                 "user_damping": (1.0, 5.0, 25.0)}, ()),
        "item_knn_baseline": (baselines.ItemKNNBaseline,
                              {"neighbours": (10, 20, 40, 80), "shrinkage": (10.0, 100.0)},
                              ("item_damping", "user_damping")),
        "mf_foldin": (baselines.MatrixFactorization,
                      {"rank": (8, 32), "reg": (3.0, 10.0), "fold_in_reg": (3.0, 10.0, 30.0)},
                      ()),
    },
    "implicit": {
        "item_knn": (baselines.ItemKNN, {"neighbours": (50, 200, 0)}, ()),
        "ease": (baselines.EASE, {"l2": (1e3, 3e3, 1e4, 3e4, 1e5)}, ()),
        "ials_foldin": (baselines.ImplicitALS,
                        {"factors": (8, 16, 32), "reg": (3.0, 10.0), "alpha": (10.0, 30.0)},
                        ()),
    },
    "content": {
        "content_knn": (baselines.ContentKNN, {}, ("item_vectors", "like_threshold")),
        "content_to_factor": (baselines.ContentToFactor, {"l2": (0.01, 0.1, 1.0, 10.0, 100.0)},
                              ("item_vectors", "factor_model")),
    },
}
FINETUNE_GRID = {"inner_lr": (1e-3, 1e-2, 1e-1), "num_steps": (1, 5, 10)}

Scorer = Callable[[dict], np.ndarray]  # padded batch -> float[B, Q] query scores


def protocol(config: ml_collections.ConfigDict, prepared: train_lib.Prepared) -> dict:
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


def _batches(episodes: episodes_lib.Episodes, shape: tuple[int, int, int]) -> list[dict]:
  """The episodes in order, padded to one ``(batch, support, query)`` shape, so
  every state, k-shot set and method reuses one compiled scorer."""
  batch_size, support_len, query_len = shape
  support_len = max(support_len, int(episodes.support_sizes.max(initial=1)))
  return [batching.pad_batch(episodes, np.arange(i, min(i + batch_size, len(episodes))),
                             support_len=support_len, query_len=query_len,
                             batch_size=batch_size)
          for i in range(0, len(episodes), batch_size)]


def _candidates(prepared: train_lib.Prepared, state: str) -> np.ndarray:
  new_items = state in ("new_items", "new_users_new_items")
  return prepared.split.test_items if new_items else prepared.split.train_items


def catalogue_metrics(score_all: Callable[[dict, np.ndarray], np.ndarray],
               batches: Sequence[dict], candidates: np.ndarray,
               prepared: train_lib.Prepared
               ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
  """Metrics of each user's ranking of every item in ``candidates``.

  The user's support items with ``y > 0`` (rated, or listened) are excluded.
  ``coverage@k`` / ``novelty@k`` / ``diversity@k`` come from the top-k lists.
  ``full_recall@k`` / ``full_ndcg@k`` / ``full_hit@k``
  (:func:`jaxrec.metrics.per_user_full_catalogue`, binary gain) rank the held-out
  relevant items, the query items with ``y >= relevance threshold`` (4 for
  ratings: liked; 1 for implicit data: listened), against the whole candidate
  catalogue; the other query items (disliked, or sampled negatives) stay
  ordinary candidates. Users without a relevant query item are left out of
  these means; ``full_users`` counts the users in them.

  Args:
    score_all: ``(padded batch, int[C] candidates) -> float[B, C]`` scores.
    batches: padded episode batches (padded tasks are skipped).
    candidates: ``int[C]`` item ids of the state's catalogue.
    prepared: the run's data.

  Returns:
    ``(summary, per_user)``: the means above and ``full_users``; per user, the
    ``"full_*@k"`` values as ``float64[E]`` (NaN for a user left out), in user-id
    order like :func:`jaxrec.train.query_arrays`.

  Raises:
    ValueError: as :func:`jaxrec.metrics.per_user_full_catalogue` and
      :func:`jaxrec.metrics.top_k_items` (e.g. fewer than ``k`` candidates).
  """
  k = results_lib.CATALOGUE_K
  threshold = metrics.relevance_threshold_for(prepared.interactions.implicit, None)
  tops, full, users = [], [], []
  for batch in batches:
    real = batch["query"]["mask"].sum(axis=1) > 0
    scores = np.asarray(score_all(batch, candidates), np.float64)
    per_user, seen = metrics.batch_full_catalogue(scores, batch, candidates, threshold, k)
    tops.append(metrics.top_k_items(scores[real], k, exclude=seen))
    full.append(per_user)
    users.append(batch["query"]["user"][real])
  order = np.argsort(np.concatenate(users), kind="stable")
  per_user = {f"full_{key}": np.concatenate([f[key] for f in full])[order]
              for key in full[0]}
  top = np.concatenate(tops)  # positions in ``candidates``
  shown, top_shown = np.unique(top, return_inverse=True)
  out = {f"coverage@{k}": metrics.coverage_at_k(top, len(candidates)),
         f"novelty@{k}": metrics.novelty_at_k(
             top, prepared.popularity[candidates], len(prepared.split.train_users)),
         f"diversity@{k}": metrics.diversity_at_k(
             top_shown.reshape(top.shape), item_vectors(prepared, candidates[shown])),
         **metrics.summarize(per_user),
         "full_users": int(np.isfinite(per_user[f"full_recall@{k}"]).sum())}
  return out, per_user


def model_scoring(model, adapter: adapters.Adapter):
  """``scorers(params, inner_lr, num_steps) -> (score_query, score_all)`` for a
  (meta-)trained model: each task is adapted on its support set (``adapter``),
  then scores its query items / every item of a candidate array. The jitted
  functions are built once, so every call of ``scorers`` with same-shaped
  batches reuses them."""
  predict = train_lib.make_predict(model, adapter)

  @functools.partial(jax.jit, static_argnums=2)
  def all_items(params, lr, num_steps, batch, candidates):
    def one(support, user):
      return model.predict(adapter(params, lr, num_steps, support), user, candidates)
    return jax.vmap(one)(batch["support"], batch["query"]["user"])

  @functools.partial(jax.jit, static_argnums=2)
  def trajectory(params, lr, max_steps, batch):
    def one(support, query):
      phi, scores = adapter.initial(params, support), []
      for _ in range(max_steps + 1):
        scores.append(model.predict(phi, query["user"], query["item"]))
        phi = meta.adapt(model.loss, phi, support, lr, 1, trainable=adapter.trainable)
      return jnp.stack(scores)
    return jax.vmap(one, out_axes=1)(batch["support"], batch["query"])

  def scorers(params, inner_lr, num_steps: int) -> tuple[Scorer, Callable]:
    return (lambda batch: predict(params, inner_lr, num_steps, batch),
            lambda batch, cand: all_items(params, inner_lr, num_steps, batch, cand))
  scorers.trajectory = trajectory
  return scorers


def baseline_scorers(baseline: baselines.Baseline
                     ) -> tuple[Scorer, Callable[[dict, np.ndarray], np.ndarray]]:
  """``(score_query, score_all)`` of a fitted baseline."""
  def score_all(batch, candidates):
    s = batch["support"]
    query = np.broadcast_to(candidates, (s["item"].shape[0], len(candidates)))
    return baseline.predict(s["item"], s["y"], s["mask"], query)
  return baseline.predict_batch, score_all


def item_vectors(prepared: train_lib.Prepared, items: np.ndarray | None = None
                 ) -> np.ndarray:
  """``float32[len(items), d]`` item vectors for diversity and explanations.

  The one-hot encoding of every categorical item field (multi-hot fields as sets,
  id 0 = unknown left out) plus one column that is 1 for an item with no feature
  at all (so every vector is non-zero: two featureless items are identical, a
  featureless and a described one are orthogonal). Text vectors are deliberately
  not used, so that diversity is measured the same way for every model on a
  dataset. ``items`` (default: all) selects the rows, which keeps the one-hot
  matrix small for large tag vocabularies.
  """
  table = prepared.item_table
  items = np.arange(prepared.interactions.num_items) if items is None else np.asarray(items)
  columns = []
  for name, values in table.items():
    if name.endswith("_mask") or name in ("item_id", "text"):
      continue
    ids = values[items].reshape(len(items), -1)
    mask = table.get(f"{name}_mask", np.ones(values.shape))[items].reshape(ids.shape)
    onehot = np.zeros((len(items), prepared.vocab_sizes[name]), np.float32)
    np.maximum.at(onehot, (np.repeat(np.arange(len(items)), ids.shape[1]), ids.ravel()),
                  (mask.ravel() > 0).astype(np.float32))
    columns.append(onehot[:, 1:])
  columns.append(np.zeros((len(items), 1), np.float32))
  vectors = np.concatenate(columns, axis=1)
  vectors[:, -1] = vectors.sum(axis=1) == 0
  return vectors


def _evaluate_scorer(score: Scorer, batches: Sequence[dict], implicit: bool
                     ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
  return _evaluate_scores(batches, [score(b) for b in batches], implicit)


def _evaluate_scores(batches: Sequence[dict], scores: Sequence[np.ndarray], implicit: bool
                     ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
  """``(summary, per-user metrics)`` of per-batch query scores."""
  arrays = train_lib.query_arrays(batches, scores)
  per_user = metrics.per_user_metrics(arrays["scores"], arrays["y"], arrays["mask"],
                                      ks=KS, implicit=implicit)
  return metrics.summarize(per_user), {"user": arrays["user"], **per_user}


def fit_baselines(config: ml_collections.ConfigDict, prepared: train_lib.Prepared,
                  val_batches: Sequence[dict]) -> dict[str, tuple[baselines.Baseline, dict]]:
  """Every baseline fit on the training ratings, grids chosen on validation users
  (``config.best_metric``; see ``BASELINE_GRIDS``), read from the on-disk cache
  when this (data, split, seed, episodes, grids, code) was fit before.

  The training rows are the models' training interactions
  (``splits.training_mask``: training users x training items, warm hold-out
  removed) with their ratings, or for implicit data their weights (play
  counts); never the sampled negatives. Explicit data get ``global_mean``,
  ``user_mean`` and the "explicit" grids, implicit data ``popularity`` and the
  "implicit" grids; both get the "content" baselines, ``<name>_features`` and,
  with text vectors, ``<name>_text``. The cache entry
  (``jaxrec.baselines.cache.load_or_fit``, under ``$JAXREC_CACHE_DIR/baselines``)
  is keyed by the interactions and item tables, the split parameters and seed,
  the episode parameters, the metric, ``BASELINE_GRIDS`` and the source of
  ``jaxrec/baselines/`` and of this fitting code, so every config of one
  dataset and seed shares one fit.

  Args:
    config: the run's config.
    prepared: ``train.prepare(config)``.
    val_batches: the validation users' padded ``new_users`` batches; their
      ``(batch, support, query)`` shape is reused for the ``new_items`` ones.

  Returns:
    ``{name: (fitted baseline, chosen hyperparameters)}`` (inputs that are not
    numbers are recorded by name, e.g. ``"factor_model": "mf_foldin"``).

  Raises:
    ValueError: as ``baselines.grid_search`` and the episode builders.
  """
  inter = prepared.interactions
  parts = {"dataset": inter.name, "implicit": inter.implicit,
           "data": baselines.cache.array_hash(
               inter.user, inter.item, inter.rating,
               *(prepared.item_table[k] for k in sorted(prepared.item_table))),
           "split": prepared.split.params, "seed": config.seed,
           "episodes": {"query_size": config.data.query_size,
                        "negatives": config.data.negatives},
           "metric": config.best_metric, "grids": BASELINE_GRIDS,
           "code": baselines.cache.source_hash(
               fit_baselines, _fit_baselines, _tune_baselines, item_vectors, _batches,
               splits, episodes_lib, batching, tags, metrics.catalogue,
               metrics.evaluate, metrics.ranking, metrics.rating)}
  return baselines.cache.load_or_fit(baselines.cache.cache_key(parts),
                                     lambda: _fit_baselines(config, prepared, val_batches))


def _fit_baselines(config: ml_collections.ConfigDict, prepared: train_lib.Prepared,
                   val_batches: Sequence[dict]) -> dict[str, tuple[baselines.Baseline, dict]]:
  """``fit_baselines`` without the cache."""
  inter, split, implicit = prepared.interactions, prepared.split, prepared.interactions.implicit
  train = splits.training_mask(inter, split)
  fit_args = (inter.user[train], inter.item[train], inter.rating[train], inter.num_users,
              inter.num_items)
  if implicit:
    fitted = {"popularity": (baselines.Popularity().fit(*fit_args), {})}
  else:
    fitted = {"global_mean": (baselines.GlobalMean().fit(*fit_args), {}),
              "user_mean": (baselines.UserMean().fit(*fit_args), {})}
  inputs, names = {}, {}
  fitted.update(_tune_baselines(BASELINE_GRIDS["implicit" if implicit else "explicit"],
                                inputs, names, fit_args, val_batches, config.best_metric,
                                implicit, split.train_items))
  factor_name = "ials_foldin" if implicit else "mf_foldin"
  inputs.update(factor_model=fitted[factor_name][0],
                like_threshold=metrics.relevance_threshold_for(implicit, None))
  names["factor_model"] = factor_name
  shape = (len(val_batches[0]["support"]["item"]), val_batches[0]["support"]["item"].shape[1],
           val_batches[0]["query"]["item"].shape[1])
  new_item_batches = _batches(episodes_lib.make_episodes(
      inter, split, "new_items", group="val", query_size=config.data.query_size,
      negatives=config.data.negatives, seed=config.seed), shape)
  sources = {"features": baselines.sparse_item_vectors(
      functools.partial(item_vectors, prepared), inter.num_items)}
  if "text" in prepared.item_table:
    sources["text"] = prepared.item_table["text"]
  for source, vectors in sources.items():
    tuned = _tune_baselines(BASELINE_GRIDS["content"], {**inputs, "item_vectors": vectors},
                            {**names, "item_vectors": source}, fit_args, new_item_batches,
                            config.best_metric, implicit, split.val_items)
    fitted.update({f"{name}_{source}": value for name, value in tuned.items()})
  return fitted


def _tune_baselines(table: dict, inputs: dict[str, Any], names: dict[str, str],
                    fit_args: tuple, batches: Sequence[dict], metric: str, implicit: bool,
                    candidates: np.ndarray) -> dict[str, tuple[baselines.Baseline, dict]]:
  """Grid-searches each ``(class, grid, input names)`` of ``table`` in order on
  ``batches`` by ``metric`` (a ``full_*`` metric ranks ``candidates``); each
  baseline's chosen hyperparameters join ``inputs`` for the
  later ones. Returns ``{name: (best baseline, chosen hyperparameters and inputs:
  numbers as they are, others by their ``names`` entry)}``."""
  tuned = {}
  for name, (cls, grid, needs) in table.items():
    given = {k: inputs[k] for k in needs}
    found = baselines.grid_search(functools.partial(cls, **given), grid, fit_args, batches,
                                  metric, implicit=implicit, candidates=candidates)
    recorded = {k: names.get(k, v) for k, v in given.items()}
    tuned[name] = (found.best_baseline, {**recorded, **found.best_params})
    inputs.update(found.best_params)
  return tuned


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
                    prepared: train_lib.Prepared) -> dict[str, Any]:
  """Test-time fine-tuning rate and steps for a network trained without
  meta-learning, chosen on validation users over ``FINETUNE_GRID`` (a ``full_*``
  metric ranks the training items, :func:`catalogue_metrics`)."""
  best = None
  for lr in FINETUNE_GRID["inner_lr"]:
    for steps in FINETUNE_GRID["num_steps"]:
      score, score_all = scorers(params, lr, steps)
      value = (catalogue_metrics(score_all, val_batches, prepared.split.train_items,
                                 prepared)[0][metric] if metric.startswith("full_")
               else _evaluate_scorer(score, val_batches,
                                     prepared.interactions.implicit)[0][metric])
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
  query_len = data.query_size * (1 + data.negatives)
  shape = (config.eval_batch_size, data.max_ratings * (1 + data.negatives), query_len)
  episode_args = dict(query_size=data.query_size, negatives=data.negatives,
                      seed=config.seed)
  val_batches = _batches(episodes_lib.make_episodes(
      inter, prepared.split, "new_users", group="val", **episode_args), shape)
  scoring = model_scoring(model, train_lib.make_adapter(config, model))
  inner_lr = train_lib.inner_rate(config, state)
  name = method_name(config)
  scorers = {name: scoring(state.params, inner_lr, config.meta.num_steps)}
  chosen = {}
  if config.meta.algorithm == "joint":
    tuned = tune_finetuning(scoring, state.params, val_batches, config.best_metric,
                            prepared)
    chosen[f"{name}+finetune"] = tuned
    scorers[f"{name}+finetune"] = scoring(state.params, tuned["inner_lr"],
                                          tuned["num_steps"])
  ranking_only = set()
  for base_name, (fitted, params) in fit_baselines(config, prepared, val_batches).items():
    scorers[base_name] = baseline_scorers(fitted)
    chosen[base_name] = params
    if fitted.RANKING_ONLY:
      ranking_only.add(base_name)

  results, per_user_all, test_episodes = [], {}, {}
  for state_name in episodes_lib.STATES:
    episodes = episodes_lib.make_episodes(inter, prepared.split, state_name,
                                          group="test", **episode_args)
    test_episodes[state_name] = episodes
    batches = _batches(episodes, shape)
    candidates = _candidates(prepared, state_name)
    support_sizes = episodes.support_sizes[np.argsort(episodes.user, kind="stable")]
    for method, (score, score_all) in scorers.items():
      summary, per_user = _evaluate_scorer(score, batches, implicit)
      if method in ranking_only:  # its scores are not ratings
        for key in ("mae", "rmse"):
          summary.pop(key, None)
          per_user.pop(key, None)
      catalogue, full = catalogue_metrics(score_all, batches, candidates, prepared)
      summary.update(catalogue)
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
  catalogue = functools.partial(catalogue_metrics, candidates=prepared.split.train_items,
                                prepared=prepared)
  curves = {"metric": curve_metric,
            "k_shot": k_shot_curve(scorers, test_episodes["new_users"], shape, implicit,
                                   curve_metric, seed=config.seed, catalogue=catalogue),
            "inner_steps": inner_steps_curve(
                scoring, state.params, inner_lr, _batches(test_episodes["new_users"], shape),
                implicit, curve_metric, catalogue=catalogue)}
  trained_code = workdir / "provenance.json"  # written by train.train
  output = {"dataset": inter.name,
            "protocol": {**protocol(config, prepared), "hyperparameters": chosen,
                         "trained_code": (json.loads(trained_code.read_text())
                                          if trained_code.exists() else None)},
            "results": results, "curves": curves}
  (workdir / "results.json").write_text(json.dumps(output, indent=2))
  (workdir / "results.md").write_text(results_markdown(output))
  np.savez_compressed(workdir / "per_user.npz", **per_user_all)
  plot_all(workdir, output)
  return output


def _measure(metric: str, implicit: bool, catalogue: Callable | None
             ) -> Callable[[Scorer, Callable, Sequence[dict]], float]:
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
    batches = _batches(truncated, shape)
    curve["k"].append(k)
    curve["users"].append(len(truncated))
    for method, (score, score_all) in scorers.items():
      curve["values"][method].append(measure(score, score_all, batches))
  return curve


def inner_steps_curve(scoring, params, inner_lr, batches: Sequence[dict], implicit: bool,
                      metric: str, *, catalogue: Callable | None = None
                      ) -> dict[str, list]:
  """``metric`` on ``new_users`` vs the number of test-time inner steps
  (``0 .. max(INNER_STEPS)``, one adaptation trajectory per task; a ``full_*``
  metric ranks the catalogue after each number of steps, see ``_measure``)."""
  if metric.startswith("full_"):
    measure = _measure(metric, implicit, catalogue)
    values = [measure(*scoring(params, inner_lr, s), batches) for s in INNER_STEPS]
    return {"steps": list(INNER_STEPS), "values": values}
  scores = [np.asarray(scoring.trajectory(params, inner_lr, max(INNER_STEPS), b))
            for b in batches]
  values = [_evaluate_scores(batches, [t[s] for t in scores], implicit)[0][metric]
            for s in INNER_STEPS]
  return {"steps": list(INNER_STEPS), "values": values}


def results_markdown(output: dict[str, Any]) -> str:
  """One markdown table per state: a row per method, a column per main metric
  (``mean ± 95% CI`` when several seeds are pooled); on ``new_users`` also MAE by
  support size (:func:`jaxrec.results.support_table`)."""
  lines = [f"# {output['dataset']}", ""]
  for state_name in episodes_lib.STATES:
    rows = [r for r in output["results"] if r["state"] == state_name]
    if not rows:
      continue
    present = [m for m in results_lib.TABLE_METRICS if m in rows[0]["metrics"]]
    users = rows[0]["metrics"].get("num_users", "?")
    full_users = rows[0]["metrics"].get("full_users")
    full_text = ("" if full_users is None else
                 f"; full_* over the {full_users} with a relevant query item")
    lines += [f"## {state_name} ({users} test users{full_text})", "",
              "| method | " + " | ".join(present) + " |",
              "|---" * (len(present) + 1) + "|"]
    for r in rows:
      cells = [_cell(r["metrics"], m) for m in present]
      lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
    lines += [""] + results_lib.support_table(rows)
  return "\n".join(lines)


def _cell(values: dict, key: str) -> str:
  """``mean`` or ``mean ± ci`` of ``key``; "—" for a method that does not report it
  (a ranking-only baseline has no MAE / RMSE)."""
  if key not in values:
    return "—"
  value = values[key]
  ci = values.get(f"{key}_ci95")
  return f"{value:.4f}" if ci is None else f"{value:.4f} ± {ci:.4f}"


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
