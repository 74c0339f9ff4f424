"""jaxrec.serving.bundle: what training writes for serving, read back without the data."""

import json

import numpy as np
import pytest

from experiments.configs import maml_synthetic
from jaxrec import prepare
from jaxrec.data import splits
from jaxrec.serving import bundle as bundle_lib
from jaxrec.serving import explain


@pytest.fixture(scope="module")
def prepared():
  config = maml_synthetic.get_config()
  config.data.synthetic = {"num_users": 60, "num_items": 80, "seed": 0}
  return prepare.prepare(config)


def test_round_trip_keeps_every_table_and_map(prepared, tmp_path):
  bundle_lib.write_bundle(tmp_path, prepared)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["serving.json", "serving.npz"]
  got = bundle_lib.read_bundle(tmp_path)
  inter = prepared.interactions
  assert (got.dataset, got.num_users, got.num_items) == (
      inter.name, inter.num_users, inter.num_items)
  assert got.implicit is False and got.rating_range == tuple(inter.rating_scale)
  assert got.vocab_sizes == prepared.vocab_sizes
  for table, want in ((got.user_table, prepared.user_table),
                      (got.item_table, prepared.item_table)):
    assert list(table) == list(want)  # field order: the labels follow it
    for key in want:
      np.testing.assert_array_equal(table[key], want[key])
      assert table[key].dtype == want[key].dtype
  np.testing.assert_array_equal(got.item_ids, inter.item_ids)
  np.testing.assert_array_equal(got.user_ids, inter.user_ids)
  assert got.item_text.tolist() == list(inter.item_text)
  assert got.train_offsets is None and got.train_items is None  # no friend graph
  np.testing.assert_array_equal(got.popularity, prepared.popularity)
  assert got.titles.tolist() == [str(t).split(" — ")[0] for t in inter.item_text]
  vectors = prepare.item_vectors(prepared)
  np.testing.assert_allclose(got.item_vectors,
                             vectors / np.linalg.norm(vectors, axis=1, keepdims=True),
                             rtol=1e-6)
  genre = inter.item_features["genre"][0][inter.item_features["genre_mask"][0] > 0]
  assert explain.item_labels(got.item_table, got.vocab_names, got.num_items)[0] == (
      *(inter.vocab_names["genre"][g] for g in genre),
      inter.vocab_names["year"][inter.item_features["year"][0]])


def test_missing_or_mismatched_bundle_is_refused(prepared, tmp_path):
  with pytest.raises(FileNotFoundError, match="serving.json not found"):
    bundle_lib.read_bundle(tmp_path)
  bundle_lib.write_bundle(tmp_path, prepared)
  meta = json.loads((tmp_path / "serving.json").read_text())
  (tmp_path / "serving.json").write_text(json.dumps({**meta, "arrays_sha256": "0" * 64}))
  with pytest.raises(ValueError, match="serving.npz: sha256 differs"):
    bundle_lib.read_bundle(tmp_path)
  (tmp_path / "serving.json").write_text(json.dumps({**meta, "format": 99}))
  with pytest.raises(ValueError, match="format 99, expected 2"):
    bundle_lib.read_bundle(tmp_path)
  (tmp_path / "serving.npz").unlink()
  with pytest.raises(FileNotFoundError, match="serving.npz not found"):
    bundle_lib.read_bundle(tmp_path)


def test_a_friend_graph_brings_the_training_users_items(tmp_path):
  config = maml_synthetic.get_config()
  config.data.dataset = "synthetic-lastfm"
  config.data.synthetic = {"num_users": 60, "num_artists": 80, "seed": 0}
  prepared = prepare.prepare(config)
  bundle_lib.write_bundle(tmp_path, prepared)
  got = bundle_lib.read_bundle(tmp_path)
  inter = prepared.interactions
  rows = splits.training_mask(inter, prepared.split)
  for user in range(inter.num_users):
    want = np.unique(inter.item[rows & (inter.user == user)])
    np.testing.assert_array_equal(
        got.train_items[got.train_offsets[user]:got.train_offsets[user + 1]], want)
  assert not np.isin(got.train_items, prepared.split.train_items, invert=True).any()


def test_unit_rows():
  np.testing.assert_allclose(bundle_lib.unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]])),
                             [[0.6, 0.8], [0.0, 0.0]])
