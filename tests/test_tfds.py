"""Tests of the TFDS episode builders (skipped without tensorflow-datasets)."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")
pytest.importorskip("array_record")

from jaxrec.data import readers, synthetic  # noqa: E402
from jaxrec.data import tfds as jaxrec_tfds  # noqa: E402
from jaxrec.data.episodes import make_episodes, training_episodes  # noqa: E402
from jaxrec.data.splits import random_split  # noqa: E402

ALL_SPLITS = ("train", "warm", "new_users_val", "new_items_val",
              "new_users_new_items_val", "new_users_test", "new_items_test",
              "new_users_new_items_test")
BUILDER_NAMES = {"ml-100k": "jaxrec_ml100k", "ml-1m": "jaxrec_ml1m",
                 "lastfm": "jaxrec_lastfm"}
CUSTOM = dict(seed=3, user_fractions=(0.6, 0.2, 0.2),
              item_fractions=(0.7, 0.1, 0.2), min_ratings=25, max_ratings=70,
              query_size=4, min_support=3)


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
  """Synthetic raw files of the three datasets, in the shared-data layout."""
  root = tmp_path_factory.mktemp("raw")
  synthetic.write_synthetic_movielens(root / "ml-100k", num_users=150, num_items=200)
  synthetic.write_synthetic_movielens(root / "ml-1m", num_users=120, num_items=150,
                                      seed=1, release="ml-1m")
  synthetic.write_synthetic_lastfm(root / "hetrec2011-lastfm-2k", num_users=100,
                                   num_artists=200, artists_per_user=(15, 40))
  return root


@pytest.fixture(scope="module")
def data_dir(raw_dir, tmp_path_factory):
  """A TFDS data_dir with the default config of every builder prepared."""
  out = tmp_path_factory.mktemp("tfds")
  for dataset in BUILDER_NAMES:
    jaxrec_tfds.build(dataset, manual_dir=raw_dir, data_dir=out)
  return out


def reference(raw_dir, dataset, *, seed=0, user_fractions=(0.8, 0.1, 0.1),
              item_fractions=(0.8, 0.1, 0.1), min_ratings=13, max_ratings=100,
              query_size=10, min_support=1, negatives=0):
  """The interactions, split and episodes per split, built without the module."""
  interactions = readers.load_dataset(dataset, raw_dir)
  split = random_split(interactions, user_fractions=user_fractions,
                       item_fractions=item_fractions, seed=seed,
                       min_ratings=min_ratings, max_ratings=max_ratings,
                       query_size=query_size)
  episodes = {"train": training_episodes(interactions, split, epoch=0, seed=seed,
                                         query_size=query_size, negatives=negatives),
              "warm": make_episodes(interactions, split, "warm",
                                    query_size=query_size, min_support=min_support,
                                    negatives=negatives, seed=seed)}
  for group in ("val", "test"):
    for state in ("new_users", "new_items", "new_users_new_items"):
      episodes[f"{state}_{group}"] = make_episodes(
          interactions, split, state, group=group, query_size=query_size,
          min_support=min_support, negatives=negatives, seed=seed)
  return interactions, split, episodes


def assert_source_matches(source, interactions, episodes):
  assert len(source) == len(episodes)
  for e in range(len(episodes)):
    example = source[e]
    assert example["user"] == episodes.user[e]
    assert example["user_raw_id"] == interactions.user_ids[episodes.user[e]]
    for part in ("support", "query"):
      item, y = episodes.part(part, e)
      assert example[part]["item"].dtype == np.int32
      assert example[part]["y"].dtype == np.float32
      np.testing.assert_array_equal(example[part]["item"], item)
      np.testing.assert_array_equal(example[part]["y"], y)


@pytest.mark.parametrize("dataset", list(BUILDER_NAMES))
def test_every_episode_matches_make_episodes(raw_dir, data_dir, dataset):
  negatives = 1 if dataset == "lastfm" else 0
  interactions, _, episodes = reference(raw_dir, dataset, negatives=negatives)
  sources = tfds.data_source(f"{BUILDER_NAMES[dataset]}/random", data_dir=data_dir)
  assert tuple(sources) == ALL_SPLITS == jaxrec_tfds.SPLITS
  for name in ALL_SPLITS:
    assert_source_matches(sources[name], interactions, episodes[name])


@pytest.mark.parametrize("dataset", list(BUILDER_NAMES))
def test_metadata_records_protocol_sizes_and_drops(raw_dir, data_dir, dataset):
  negatives = 1 if dataset == "lastfm" else 0
  interactions, split, episodes = reference(raw_dir, dataset, negatives=negatives)
  info = tfds.builder(f"{BUILDER_NAMES[dataset]}/random", data_dir=data_dir).info
  metadata = info.metadata
  assert metadata["protocol"] == {
      "seed": 0, "user_fractions": [0.8, 0.1, 0.1],
      "item_fractions": [0.8, 0.1, 0.1], "min_ratings": 13, "max_ratings": 100,
      "query_size": 10, "min_support": 1, "negatives": negatives}
  assert metadata["num_users"] == interactions.num_users
  assert metadata["num_items"] == interactions.num_items
  assert metadata["implicit"] == interactions.implicit
  assert metadata["group_sizes"] == split.sizes()
  assert metadata["num_dropped"] == {k: v.num_dropped for k, v in episodes.items()}
  assert {k: s.num_examples for k, s in info.splits.items()} == {
      k: len(v) for k, v in episodes.items()}
  assert str(info.version) == "1.0.0"


def test_lastfm_episodes_hold_sampled_negatives(data_dir):
  source = tfds.data_source("jaxrec_lastfm/random", data_dir=data_dir)["new_users_test"]
  for e in range(len(source)):
    y = source[e]["query"]["y"]
    positives = int(y.sum())
    assert set(np.unique(y)) <= {0.0, 1.0}
    # One negative per positive, after the positives (the pools are large enough).
    np.testing.assert_array_equal(y, np.r_[np.ones(positives), np.zeros(positives)])


def test_load_episodes_round_trips_every_field(raw_dir, data_dir):
  _, _, episodes = reference(raw_dir, "lastfm", negatives=1)
  for name in ALL_SPLITS:
    loaded = jaxrec_tfds.load_episodes("jaxrec_lastfm/random", name, data_dir=data_dir)
    expected = episodes[name]
    assert (loaded.state, loaded.group) == (expected.state, expected.group)
    assert (loaded.num_dropped, loaded.negatives) == (expected.num_dropped, 1)
    for field in ("user", "support_item", "support_y", "support_offsets",
                  "query_item", "query_y", "query_offsets"):
      value = getattr(loaded, field)
      assert value.dtype == getattr(expected, field).dtype, field
      np.testing.assert_array_equal(value, getattr(expected, field), err_msg=field)


def test_custom_config_versions_a_new_protocol(raw_dir, tmp_path):
  config = jaxrec_tfds.ColdStartConfig(
      name="seed3_q4", version="1.0.0", release_notes={"1.0.0": "test protocol"},
      **CUSTOM)
  builder = jaxrec_tfds.build("ml-100k", manual_dir=raw_dir, data_dir=tmp_path,
                              config=config)
  assert builder.info.metadata["protocol"] == {
      **CUSTOM, "user_fractions": [0.6, 0.2, 0.2],
      "item_fractions": [0.7, 0.1, 0.2], "negatives": 0}
  interactions, _, episodes = reference(raw_dir, "ml-100k", **CUSTOM)
  sources = tfds.data_source("jaxrec_ml100k/seed3_q4", data_dir=tmp_path)
  for name in ALL_SPLITS:
    assert_source_matches(sources[name], interactions, episodes[name])
  assert max(episodes["new_users_test"].query_sizes) == 4
  assert min(episodes["new_users_test"].support_sizes) >= 3


def test_reading_does_not_import_tensorflow(data_dir, tmp_path):
  # An importable stand-in "tensorflow": any import of it would show in sys.modules.
  (tmp_path / "tensorflow").mkdir()
  (tmp_path / "tensorflow" / "__init__.py").write_text("")
  script = (
      "import sys\n"
      "import tensorflow_datasets as tfds\n"
      "from jaxrec.data import tfds as jaxrec_tfds\n"
      f"source = tfds.data_source('jaxrec_ml100k/random', data_dir={str(data_dir)!r})\n"
      "assert source['new_items_test'][0]['query']['item'].size > 0\n"
      "jaxrec_tfds.load_episodes('jaxrec_ml100k/random', 'warm', "
      f"data_dir={str(data_dir)!r})\n"
      "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow'))\n")
  env = {**os.environ, "PYTHONPATH": os.pathsep.join(
      [str(tmp_path), os.environ.get("PYTHONPATH", "")])}
  result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip().splitlines()[-1] == "[]"


def test_builder_documents_citation_and_licence(data_dir):
  ml = tfds.builder("jaxrec_ml100k/random", data_dir=data_dir).info
  assert "Harper" in ml.citation and "10.1145/2827872" in ml.citation
  lastfm = tfds.builder("jaxrec_lastfm/random", data_dir=data_dir).info
  assert "Cantador" in lastfm.citation and "Kuflik" in lastfm.citation
  assert "no redistribution" in ml.redistribution_info.license
  for cls in (jaxrec_tfds.MovieLens100K, jaxrec_tfds.MovieLens1M, jaxrec_tfds.LastFm):
    assert "no redistribution" in " ".join(cls.__doc__.split())
  assert "Harper" in jaxrec_tfds.MovieLens1M.__doc__
  config = jaxrec_tfds.MovieLens100K.BUILDER_CONFIGS[0]
  assert config.name == "random" and "1.0.0" in config.release_notes


def test_each_builder_says_where_its_raw_files_go():
  """The manual-download instructions follow from each builder's dataset."""
  for cls, path in ((jaxrec_tfds.MovieLens100K, "ml-100k/u.data"),
                    (jaxrec_tfds.MovieLens1M, "ml-1m/ratings.dat"),
                    (jaxrec_tfds.LastFm, "hetrec2011-lastfm-2k/user_artists.dat")):
    assert f"<manual_dir>/{path} exists" in cls.MANUAL_DOWNLOAD_INSTRUCTIONS, cls


def test_missing_manual_dir_raises_file_not_found(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist or is empty"):
    jaxrec_tfds.build("ml-100k", manual_dir=tmp_path / "nowhere",
                      data_dir=tmp_path / "out")


def test_missing_raw_file_is_named(raw_dir, tmp_path):
  shutil.copytree(raw_dir / "ml-100k", tmp_path / "raw" / "ml-100k")
  (tmp_path / "raw" / "ml-100k" / "u.item").unlink()
  with pytest.raises(FileNotFoundError, match=r"u\.item not found in .*ml-100k.*"
                                              r"ml-100k\.zip"):
    jaxrec_tfds.build("ml-100k", manual_dir=tmp_path / "raw", data_dir=tmp_path / "out")


def test_bad_protocol_names_config_and_split(raw_dir, tmp_path):
  config = jaxrec_tfds.ColdStartConfig(name="explicit_negatives", negatives=2)
  with pytest.raises(ValueError, match="config 'explicit_negatives', split 'train': "
                                       "ml-100k: negatives=2 needs implicit"):
    jaxrec_tfds.build("ml-100k", manual_dir=raw_dir, data_dir=tmp_path, config=config)


def test_unknown_dataset_raises():
  with pytest.raises(ValueError, match="unknown dataset 'ml-20m'"):
    jaxrec_tfds.build("ml-20m", manual_dir=".", data_dir=".")


def test_split_names_round_trip():
  for name in ALL_SPLITS:
    assert jaxrec_tfds.split_name(*jaxrec_tfds.state_and_group(name)) == name
  assert jaxrec_tfds.state_and_group("new_users_new_items_val") == (
      "new_users_new_items", "val")
  assert jaxrec_tfds.split_name("warm", "test") == "warm"
  with pytest.raises(ValueError, match="no split for state 'new_items' and group "
                                       "'train'"):
    jaxrec_tfds.split_name("new_items", "train")
  with pytest.raises(ValueError, match="no split for state 'train' and group 'val'"):
    jaxrec_tfds.split_name("train", "val")
  with pytest.raises(ValueError, match="unknown split 'cold'"):
    jaxrec_tfds.state_and_group("cold")


@pytest.mark.realdata
def test_real_ml100k_builds(shared_data_dir, tmp_path):
  builder = jaxrec_tfds.build("ml-100k", manual_dir=shared_data_dir, data_dir=tmp_path)
  interactions, _, episodes = reference(shared_data_dir, "ml-100k")
  source = builder.as_data_source("new_users_test")
  assert_source_matches(source, interactions, episodes["new_users_test"])
  assert builder.info.metadata["num_users"] == 943
