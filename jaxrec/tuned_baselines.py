"""The baselines every evaluation compares against, tuned on validation users.

:data:`BASELINE_GRIDS` lists them with their hyperparameter grids;
:func:`fit_baselines` fits each on the training ratings, chooses its grid point on
validation users (``config.best_metric``) and caches the result on disk, so every
config of one dataset and seed shares one fit. :func:`jaxrec.evaluate.evaluate_run`
then scores them (:func:`jaxrec.scoring.baseline_scorers`) on the same test
episodes as the model. Adding a baseline is one entry in :data:`BASELINE_GRIDS`.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Any

import ml_collections
import numpy as np

from jaxrec import baselines
from jaxrec import metrics
from jaxrec import prepare
from jaxrec import scoring
from jaxrec.data import batching
from jaxrec.data import episodes as episodes_lib
from jaxrec.data import splits
from jaxrec.data import tags

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


def fit_baselines(config: ml_collections.ConfigDict, prepared: prepare.Prepared,
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
  ``jaxrec/baselines/``, of this module and of the code that builds, scores and
  featurises its episodes, so every config of one dataset and seed shares one fit.

  Args:
    config: the run's config.
    prepared: ``jaxrec.prepare.prepare(config)``.
    val_batches: the validation users' padded ``new_users`` batches
      (:func:`jaxrec.scoring.padded_batches`); their ``(batch, support, query)``
      shape is reused for the ``new_items`` ones.

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
               sys.modules[__name__],  # this module: the grids and the fitting code
               prepare.item_vectors, scoring.padded_batches,
               splits, episodes_lib, batching, tags, metrics.catalogue,
               metrics.evaluate, metrics.ranking, metrics.rating)}
  return baselines.cache.load_or_fit(baselines.cache.cache_key(parts),
                                     lambda: _fit_baselines(config, prepared, val_batches))


def _fit_baselines(config: ml_collections.ConfigDict, prepared: prepare.Prepared,
                   val_batches: Sequence[dict]) -> dict[str, tuple[baselines.Baseline, dict]]:
  """``fit_baselines`` without the cache."""
  inter, split, implicit = prepared.interactions, prepared.split, prepared.interactions.implicit
  fit_args = splits.training_rows(inter, split)
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
  new_item_batches = scoring.padded_batches(episodes_lib.make_episodes(
      inter, split, "new_items", group="val", query_size=config.data.query_size,
      negatives=config.data.negatives, seed=config.seed), shape)
  sources = {"features": baselines.sparse_item_vectors(
      functools.partial(prepare.item_vectors, prepared), inter.num_items)}
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
