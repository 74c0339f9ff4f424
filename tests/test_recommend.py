"""jaxrec.recommend (jaxrec.serving) on a tiny trained synthetic run, and the experiments CLI.

Training the run and compiling its serving functions take most of a minute on a
2-core CPU, so every test that uses the run is marked slow.
"""

import dataclasses
import hashlib
import math
import os
import pathlib
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import maml_synthetic
from jaxrec import meta
from jaxrec import prepare
from jaxrec import recommend as rec_lib
from jaxrec import train
from jaxrec.data import readers
from jaxrec.serving import server

REPO = pathlib.Path(__file__).resolve().parents[1]
K = 5
# Raw ML-100K-style ids of the synthetic catalogue (1..150).
RATINGS = [(1, 5.0), (2, 4.0), (3, 1.0), (10, 3.0), (20, 5.0)]


def tree_hash(root: pathlib.Path) -> dict[str, str]:
  """sha256 of every file under ``root``, by relative path."""
  return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
          for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  """A few MAML steps on a small synthetic ML-100K; returns (workdir, file hashes)."""
  config = maml_synthetic.get_config()
  config.data.synthetic = {"num_users": 120, "num_items": 150, "seed": 0}
  config.num_epochs = 1
  config.eval_every = 5
  config.buckets = (128,)  # one compilation of the meta-step
  workdir = tmp_path_factory.mktemp("run")
  train.train(config, workdir, progress=False)
  return workdir, tree_hash(workdir)


@pytest.fixture(scope="module")
def recommender(run_dir):
  return rec_lib.load_recommender(run_dir[0])


def new_user(recommender):
  """The all-unknown feature row of a new user, as serving builds it."""
  rows = server.new_user_rows(recommender.bundle.user_table, [()])
  return {field: jnp.asarray(v[0]) for field, v in rows.items()}


def reference_scores(recommender, ratings):
  """Every item's score after adapting on the unpadded support, rated ones -inf."""
  items = np.asarray([recommender.index[str(i)] for i, _ in ratings], np.int32)
  y = np.asarray([r for _, r in ratings], np.float32)
  user = new_user(recommender)
  support = {"user": user, "item": items, "y": y, "mask": np.ones_like(y)}
  phi = meta.adapt(recommender.model.loss, recommender.params, support,
                   recommender.inner_lr, recommender.num_steps,
                   trainable=recommender.adapter.trainable)
  scores = np.asarray(recommender.model.predict(
      phi, user, jnp.arange(recommender.num_items, dtype=jnp.int32)), np.float64)
  scores[items] = -np.inf
  return scores


@pytest.mark.slow
def test_top_k_excludes_rated_items_and_is_sorted(recommender):
  recs = rec_lib.recommend(recommender, RATINGS, k=K)
  assert len(recs) == K
  ids = [r.item_id for r in recs]
  assert len(set(ids)) == K
  assert not set(ids) & {i for i, _ in RATINGS}
  scores = [r.score for r in recs]
  assert scores == sorted(scores, reverse=True)
  assert all(r.title == str(recommender.titles[recommender.index[str(r.item_id)]])
             for r in recs)


@pytest.mark.slow
def test_matches_adapting_and_scoring_every_item_by_hand(recommender):
  scores = reference_scores(recommender, RATINGS)
  expected = np.argsort(-scores, kind="stable")[:K]
  recs = rec_lib.recommend(recommender, RATINGS, k=K, explain=False)
  assert [r.item_id for r in recs] == recommender.item_ids[expected].tolist()
  np.testing.assert_allclose([r.score for r in recs], scores[expected], rtol=1e-5)
  assert all(r.explanation is None for r in recs)


@pytest.mark.slow
def test_candidates_include_held_out_items(recommender):
  split = recommender.prepared.split
  held_out = np.concatenate([split.val_items, split.test_items])
  recs = rec_lib.recommend(recommender, RATINGS, k=recommender.num_items - len(RATINGS),
                           explain=False)
  returned = {recommender.index[str(r.item_id)] for r in recs}
  assert set(held_out.tolist()) - {recommender.index[str(i)] for i, _ in RATINGS} <= returned
  assert len(returned) == recommender.num_items - len(RATINGS)


@pytest.mark.slow
def test_explanations_name_liked_rated_items(recommender):
  recs = rec_lib.recommend(recommender, RATINGS, k=K)
  rated = dict(RATINGS)
  vectors = prepare.item_vectors(recommender.prepared)
  explained = 0
  for r in recs:
    e = r.explanation
    assert e.popularity == int(recommender.popularity[recommender.index[str(r.item_id)]])
    assert len(e.drivers) <= rec_lib.MAX_DRIVERS
    for d in e.drivers:
      explained += 1
      assert d.item_id in rated and d.rating == rated[d.item_id]
      assert d.rating > 1.0  # the 1-star item is never a reason
      assert d.title in e.text and f"({d.rating:g}/5)" in e.text
      a, b = (vectors[recommender.index[str(i)]] for i in (r.item_id, d.item_id))
      assert d.similarity == pytest.approx(
          a @ b / np.linalg.norm(a) / np.linalg.norm(b), rel=1e-5)
      labels = recommender.item_labels
      assert set(d.shared) == (set(labels[recommender.index[str(r.item_id)]])
                               & set(labels[recommender.index[str(d.item_id)]]))
    influence = [d.similarity * (d.rating - 1) / 4 for d in e.drivers]
    assert influence == sorted(influence, reverse=True)
  assert explained > 0


@pytest.mark.slow
def test_item_labels_use_vocab_names(recommender):
  inter = recommender.prepared.interactions
  item = 0
  genres = inter.item_features["genre"][item][inter.item_features["genre_mask"][item] > 0]
  expected = tuple(inter.vocab_names["genre"][g] for g in genres)
  expected += (inter.vocab_names["year"][inter.item_features["year"][item]],)
  assert recommender.item_labels[item] == expected


@pytest.mark.slow
def test_deterministic(recommender):
  first = rec_lib.recommend(recommender, RATINGS, k=K)
  assert rec_lib.recommend(recommender, RATINGS, k=K) == first
  reordered = rec_lib.recommend(recommender, list(reversed(RATINGS)), k=K)
  assert [r.item_id for r in reordered] == [r.item_id for r in first]
  np.testing.assert_allclose([r.score for r in reordered], [r.score for r in first],
                             rtol=1e-5)


@pytest.mark.slow
def test_string_ids_equal_raw_ids(recommender):
  as_strings = [(str(i), str(r)) for i, r in RATINGS]
  assert (rec_lib.recommend(recommender, as_strings, k=K)
          == rec_lib.recommend(recommender, RATINGS, k=K))


@pytest.mark.slow
def test_serves_from_a_copy_of_the_run_without_the_dataset(run_dir, recommender, tmp_path,
                                                          monkeypatch):
  """Config, best checkpoint and serving bundle are all that serving reads: a copy
  of the run directory, with no dataset reachable, serves the same lists."""
  copy = tmp_path / "copy"
  shutil.copytree(run_dir[0], copy)

  def no_data(*args, **kwargs):
    raise AssertionError(f"serving read the dataset: {args} {kwargs}")
  monkeypatch.delenv("JAXREC_DATA_DIR", raising=False)
  monkeypatch.setattr(prepare, "load_interactions", no_data)
  monkeypatch.setattr(prepare, "prepare", no_data)
  monkeypatch.setattr(readers, "load_dataset", no_data)
  served = rec_lib.load_recommender(copy)
  for features in (None, {"gender": 2, "age": 3}):
    assert (rec_lib.recommend(served, RATINGS, k=K, user_features=features)
            == rec_lib.recommend(recommender, RATINGS, k=K, user_features=features))
  assert (rec_lib.recommend_batch(served, [RATINGS, RATINGS[:2]], k=K)
          == rec_lib.recommend_batch(recommender, [RATINGS, RATINGS[:2]], k=K))
  assert served.item_labels == recommender.item_labels


def _plain(value) -> bool:
  """Whether ``value`` holds only Python scalars, strings, tuples, lists, None."""
  if dataclasses.is_dataclass(value):
    return all(_plain(getattr(value, f.name)) for f in dataclasses.fields(value))
  if isinstance(value, (list, tuple)):
    return all(_plain(v) for v in value)
  return value is None or type(value) in (str, int, float, bool)


@pytest.mark.slow
def test_privacy_nothing_written_and_no_weights_returned(run_dir, recommender):
  workdir, hashes = run_dir
  before = jax.tree.map(np.array, recommender.params)
  recs = rec_lib.recommend(recommender, RATINGS, k=K)
  batch = rec_lib.recommend_batch(recommender, [RATINGS, RATINGS[:2]], k=K)
  assert _plain(recs) and _plain(batch)
  assert tree_hash(workdir) == hashes
  jax.tree.map(np.testing.assert_array_equal, before,
               jax.tree.map(np.array, recommender.params))
  assert not any(f.name in ("phi", "adapted") for f in dataclasses.fields(recommender))


@pytest.mark.slow
@pytest.mark.parametrize("ratings, message", [
    ([], "ratings is empty"),
    ([(9999, 4.0)], r"ratings\[0\] \(item 9999\): unknown item id 9999"),
    ([(1, 4.0), ("abc", 3.0)], r"ratings\[1\] \(item 'abc'\): unknown item id"),
    ([(1, 6.0)], r"rating 6 is outside the dataset's rating scale \[1, 5\]"),
    ([(1, 0.0)], r"rating 0 is outside"),
    ([(1, math.nan)], r"ratings\[0\] \(item 1\): rating is nan"),
    ([(1, math.inf)], "rating is inf"),
    ([(1, "good")], "rating 'good' is not a number"),
    ([(1, 4.0), ("1", 5.0)], r"ratings\[1\] \(item '1'\): item '1' is rated twice "
                             r"\(also in ratings\[0\]\)"),
    ([(1, 4.0, 3)], r"ratings\[0\] must be an \(item, rating\) pair"),
])
def test_bad_ratings(recommender, ratings, message):
  with pytest.raises(ValueError, match=message):
    rec_lib.recommend(recommender, ratings, k=K)


@pytest.mark.slow
@pytest.mark.parametrize("k, message", [
    (0, "k must be a positive integer"), (2.0, "k must be a positive integer"),
    (146, "k=146 exceeds the 145 unrated items")])
def test_bad_k(recommender, k, message):
  with pytest.raises(ValueError, match=message):
    rec_lib.recommend(recommender, RATINGS, k=k)


@pytest.mark.slow
def test_batched_equals_single(recommender):
  users = [RATINGS, [(7, 2.0), (8, 5.0)], [(i, 1.0 + i % 5) for i in range(30, 50)]]
  batch = rec_lib.recommend_batch(recommender, users, k=K)
  assert len(batch) == len(users)
  for ratings, got in zip(users, batch):
    single = rec_lib.recommend(recommender, ratings, k=K)
    assert [r.item_id for r in got] == [r.item_id for r in single]
    np.testing.assert_allclose([r.score for r in got], [r.score for r in single],
                               rtol=1e-5)
    assert [r.explanation.text for r in got] == [r.explanation.text for r in single]


@pytest.mark.slow
def test_batch_errors_name_the_user(recommender):
  with pytest.raises(ValueError, match="list_of_ratings is empty"):
    rec_lib.recommend_batch(recommender, [], k=K)
  with pytest.raises(ValueError, match=r"list_of_ratings\[1\]\[0\] \(item 1\): rating is nan"):
    rec_lib.recommend_batch(recommender, [RATINGS, [(1, math.nan)]], k=K)


@pytest.mark.slow
def test_user_features(recommender):
  features = {"gender": 2, "age": 3}
  recs = rec_lib.recommend(recommender, RATINGS, k=K, user_features=features)
  # The same as adapting the model with that feature row as the user.
  row = server.new_user_rows(recommender.bundle.user_table,
                             [(("age", (3,)), ("gender", (2,)))])
  assert row["gender"][0] == 2 and row["age"][0] == 3 and row["zip"][0] == 0
  user = {field: jnp.asarray(v[0]) for field, v in row.items()}
  model = recommender.model
  items = np.asarray([recommender.index[str(i)] for i, _ in RATINGS], np.int32)
  y = np.asarray([r for _, r in RATINGS], np.float32)
  phi = meta.adapt(model.loss, recommender.params,
                   {"user": user, "item": items, "y": y, "mask": np.ones_like(y)},
                   recommender.inner_lr, recommender.num_steps,
                   trainable=recommender.adapter.trainable)
  scores = np.asarray(model.predict(phi, user, jnp.arange(recommender.num_items)))
  np.testing.assert_allclose(
      [r.score for r in recs],
      scores[[recommender.index[str(r.item_id)] for r in recs]], rtol=1e-5)
  # a runtime input: another feature row compiles nothing new
  before = recommender.server._cache_size()  # pylint: disable=protected-access
  rec_lib.recommend(recommender, RATINGS, k=K, user_features={"gender": 1, "age": 5})
  assert recommender.server._cache_size() == before  # pylint: disable=protected-access
  default = rec_lib.recommend(recommender, RATINGS, k=K)
  assert [r.score for r in recs] != [r.score for r in default]


@pytest.mark.slow
@pytest.mark.parametrize("features, message", [
    ({"shoe_size": 3}, r"user_features\['shoe_size'\]: unknown user field"),
    ({"user_id": 3}, r"user_features\['user_id'\]: unknown user field"),
    ({"age": 99}, r"user_features\['age'\]: id 99 is outside the vocabulary"),
    ({"age": [1, 2]}, r"user_features\['age'\]: 2 ids given, the field holds at most 1"),
])
def test_bad_user_features(recommender, features, message):
  with pytest.raises(ValueError, match=message):
    rec_lib.recommend(recommender, RATINGS, k=K, user_features=features)


def test_no_rating_is_served_from_user_features_alone(recommender):
  field = sorted(recommender.model.config["user_fields"])[0]
  recs = rec_lib.recommend(recommender, [], user_features={field: 1}, k=5)
  assert len(recs) == 5 and all(r.explanation.drivers == () for r in recs)
  with pytest.raises(ValueError, match="has no friend graph"):
    rec_lib.recommend(recommender, [], friends=["1"])


def test_support_bucket():
  assert [rec_lib.support_bucket(n) for n in (1, 16, 17, 32, 33, 100)] == [
      16, 16, 32, 32, 64, 128]


def test_read_ratings(tmp_path):
  path = tmp_path / "me.csv"
  path.write_text("item,rating\n50,5\n# a comment\n\n181\t4.5\n")
  assert rec_lib.read_ratings(path) == [("50", 5.0), ("181", 4.5)]
  path.write_text("50,5\n181,4,2\n")
  with pytest.raises(ValueError, match=r"me.csv:2: expected 2 fields"):
    rec_lib.read_ratings(path)
  path.write_text("50,5\n181,great\n")
  with pytest.raises(ValueError, match=r"me.csv:2: rating 'great' is not a number"):
    rec_lib.read_ratings(path)
  with pytest.raises(FileNotFoundError, match="missing.csv not found"):
    rec_lib.read_ratings(tmp_path / "missing.csv")


def test_format_table():
  explanation = rec_lib.Explanation(text="because you rated 'A' (5/5)", drivers=(),
                                    popularity=3)
  table = rec_lib.format_table([
      rec_lib.Recommendation(item_id=7, title="Seven", score=4.25, explanation=explanation),
      rec_lib.Recommendation(item_id=12, title="Twelve", score=3.5, explanation=None)])
  assert table.splitlines() == [
      "rank  item  score  title   why",
      "----  ----  -----  ------  ---------------------------",
      "1     7     4.250  Seven   because you rated 'A' (5/5)",
      "2     12    3.500  Twelve"]


@pytest.mark.slow
def test_cli_prints_table_and_writes_nothing(run_dir, tmp_path):
  workdir, hashes = run_dir
  ratings = tmp_path / "me.tsv"
  ratings.write_text("item\trating\n" + "".join(f"{i}\t{r}\n" for i, r in RATINGS))
  env = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"}
  env.pop("XLA_FLAGS", None)
  result = subprocess.run(
      [sys.executable, "-m", "experiments.recommend", f"--workdir={workdir}",
       f"--ratings={ratings}", "--k=3"], cwd=tmp_path, env=env, capture_output=True,
      text=True, check=False, timeout=300)
  assert result.returncode == 0, result.stderr
  lines = result.stdout.strip().splitlines()
  assert lines[0].split() == ["rank", "item", "score", "title", "why"]
  assert [line.split()[0] for line in lines[2:]] == ["1", "2", "3"]
  assert "because you rated" in result.stdout
  assert tree_hash(workdir) == hashes
  assert sorted(p.name for p in tmp_path.iterdir()) == ["me.tsv"]
  result = subprocess.run(
      [sys.executable, "-m", "experiments.recommend", f"--workdir={workdir}"], cwd=tmp_path,
      env=env, capture_output=True, text=True, check=False, timeout=300)
  assert result.returncode == 2
  assert "give --ratings, --friends or --description" in result.stderr
