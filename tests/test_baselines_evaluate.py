"""tuned_baselines.fit_baselines: training rows, the baseline table and the on-disk cache."""

import dataclasses

import numpy as np
import pytest

from experiments.configs import maml_synthetic
from jaxrec import baselines, prepare, scoring, tuned_baselines
from jaxrec.data import episodes as episodes_lib
from jaxrec.data import splits


def _config(implicit: bool):
  config = maml_synthetic.get_config()
  config.data.synthetic = {"num_users": 80, "num_items": 60, "seed": 0,
                           "ratings_per_user": (15, 40)}
  config.eval_batch_size = 32
  if implicit:
    config.data.negatives = 2
    config.best_metric = "auc"
  return config


@pytest.fixture(scope="module")
def explicit_run():
  config = _config(implicit=False)
  return config, prepare.prepare(config)


@pytest.fixture(scope="module")
def implicit_run():
  """The synthetic data read as implicit feedback: ratings become play counts."""
  config = _config(implicit=True)
  prepared = prepare.prepare(_config(implicit=False))
  interactions = dataclasses.replace(prepared.interactions, implicit=True,
                                     rating_scale=None)
  return config, dataclasses.replace(prepared, interactions=interactions)


def _val_batches(config, prepared):
  data = config.data
  episodes = episodes_lib.make_episodes(
      prepared.interactions, prepared.split, "new_users", group="val",
      query_size=data.query_size, negatives=data.negatives, seed=config.seed)
  shape = (config.eval_batch_size, data.max_ratings * (1 + data.negatives),
           data.query_size * (1 + data.negatives))
  return scoring.padded_batches(episodes, shape)


def test_implicit_baselines_fit_on_training_positives(implicit_run, tmp_path, monkeypatch):
  monkeypatch.setenv("JAXREC_CACHE_DIR", str(tmp_path))
  config, prepared = implicit_run
  fitted = tuned_baselines.fit_baselines(config, prepared, _val_batches(config, prepared))
  inter = prepared.interactions
  train_rows = splits.training_mask(inter, prepared.split)
  positives = np.bincount(inter.item[train_rows], minlength=inter.num_items)
  # Popularity counts the distinct training users of each item: never a sampled negative.
  np.testing.assert_array_equal(fitted["popularity"][0].popularity, positives)
  assert set(fitted) == {"popularity", "item_knn", "ease", "ials_foldin",
                         "content_knn_features", "content_to_factor_features"}
  assert fitted["content_to_factor_features"][1]["factor_model"] == "ials_foldin"
  assert fitted["content_to_factor_features"][0].factor_model is fitted["ials_foldin"][0]
  # iALS confidence counts come from the play counts (the training ratings).
  assert fitted["content_knn_features"][0].like_threshold == 1.0


def test_explicit_baselines_and_inherited_inputs(explicit_run, tmp_path, monkeypatch):
  monkeypatch.setenv("JAXREC_CACHE_DIR", str(tmp_path))
  config, prepared = explicit_run
  fitted = tuned_baselines.fit_baselines(config, prepared, _val_batches(config, prepared))
  assert set(fitted) == {"global_mean", "user_mean", "item_mean", "item_mean_user_bias",
                         "item_knn_baseline", "mf_foldin", "content_knn_features",
                         "content_to_factor_features"}
  dampings = fitted["item_mean_user_bias"][1]
  knn, knn_params = fitted["item_knn_baseline"]
  assert {k: knn_params[k] for k in dampings} == dampings
  assert (knn.item_damping, knn.user_damping) == (dampings["item_damping"],
                                                 dampings["user_damping"])
  grid = tuned_baselines.BASELINE_GRIDS["explicit"]["mf_foldin"][1]
  assert set(fitted["mf_foldin"][1]) == set(grid)
  assert fitted["content_to_factor_features"][1]["item_vectors"] == "features"


def test_fit_baselines_reads_the_cache(explicit_run, tmp_path, monkeypatch):
  monkeypatch.setenv("JAXREC_CACHE_DIR", str(tmp_path))
  config, prepared = explicit_run
  val = _val_batches(config, prepared)
  calls = []
  original = baselines.grid_search
  monkeypatch.setattr(baselines, "grid_search",
                      lambda *a, **k: calls.append(1) or original(*a, **k))
  first = tuned_baselines.fit_baselines(config, prepared, val)
  fits = len(calls)
  assert fits == 6  # four explicit grids, two content grids
  # Another config of the same data and seed (a different model) reads the entry.
  other = _config(implicit=False)
  other.model.name = "two_tower"
  second = tuned_baselines.fit_baselines(other, prepared, val)
  assert len(calls) == fits
  assert second.keys() == first.keys()
  for name, (model, params) in first.items():
    assert second[name][1] == params
    np.testing.assert_array_equal(second[name][0].predict_batch(val[0]),
                                  model.predict_batch(val[0]))
  # A changed grid misses the cache.
  table = dict(tuned_baselines.BASELINE_GRIDS)
  table["explicit"] = {**table["explicit"],
                       "item_mean": (baselines.ItemMean, {"damping": (2.0, 3.0)}, ())}
  monkeypatch.setattr(tuned_baselines, "BASELINE_GRIDS", table)
  tuned_baselines.fit_baselines(config, prepared, val)
  assert len(calls) == 2 * fits
  # So does another seed (its split differs).
  reseeded = _config(implicit=False)
  reseeded.seed = 1
  reseeded_prepared = prepare.prepare(reseeded)
  tuned_baselines.fit_baselines(reseeded, reseeded_prepared,
                                _val_batches(reseeded, reseeded_prepared))
  assert len(calls) == 3 * fits
  assert len(list(tmp_path.joinpath("baselines").glob("*.pkl"))) == 3
