"""jaxrec.serving.signals: friends and a description as support rows of ``recommend``."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from jaxrec import adapters
from jaxrec import prepare
from jaxrec import recommend as rec_lib
from jaxrec import train
from jaxrec.data import graph
from jaxrec.data import splits
from jaxrec.serving import explain
from jaxrec.serving import signals as signals_lib
from jaxrec.text import testing
from tests.test_foldin import warm_lastfm_config
from tests.test_recommend import REPO, new_user


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """``(workdir, config)`` of the implicit fold-in warm-started from implicit ALS
  (as the Last.fm config) on a synthetic Last.fm with planted tastes and friends;
  the description encoder is a tiny random BERT."""
  root = tmp_path_factory.mktemp("signals")
  config = warm_lastfm_config(num_users=200, num_artists=300, rank=8)
  config.data.text_model = str(testing.tiny_bert(root / "bert"))
  config.data.cache_dir = str(root / "cache")
  train.train(config, root / "run", progress=False)
  return root / "run", config


@pytest.fixture(scope="module")
def run(trained):
  """The trained run's recommender and its prepared data."""
  workdir, config = trained
  return rec_lib.load_recommender(workdir), prepare.prepare(config)


def friends_of(prepared, user):
  inter = prepared.interactions
  return inter.user_ids[graph.friends_of(inter, int(user),
                                         among=prepared.split.train_users)].tolist()


def test_friend_rows_are_the_training_friends_listening(run):
  recommender, prepared = run
  inter, split = prepared.interactions, prepared.split
  user = next(u for u in split.test_users if len(friends_of(prepared, u)) >= 3)
  raw = friends_of(prepared, user)
  users = signals_lib.check_friends(recommender, raw)
  rated = split.train_items[:2].astype(np.int32)
  got = signals_lib.signals(recommender, rated, users, None)
  training = np.zeros((inter.num_users, inter.num_items))
  rows = splits.training_mask(inter, split)
  training[inter.user[rows], inter.item[rows]] = 1.0
  counts = training[graph.friends_of(inter, int(user), among=split.train_users)].sum(0)
  np.testing.assert_array_equal(got.friends, counts)
  weights = signals_lib.FRIENDS_WEIGHT * counts / len(raw)
  weights[rated] = 0.0
  np.testing.assert_array_equal(got.items, np.flatnonzero(weights))
  np.testing.assert_allclose(got.weights, weights[got.items], rtol=1e-6)
  assert not got.matches.any() and got.num_friends == len(raw)


def test_held_out_friends_contribute_nothing_and_are_counted(run):
  recommender, prepared = run
  inter = prepared.interactions
  held_out = inter.user_ids[prepared.split.test_users[:2]].tolist()
  trained = inter.user_ids[prepared.split.train_users[:3]].tolist()
  with pytest.warns(UserWarning, match="2 of 5 friends are not training users"):
    users = signals_lib.check_friends(recommender, held_out + trained)
  np.testing.assert_array_equal(users, prepared.split.train_users[:3])


@pytest.mark.parametrize("friends, message", [
    (["no-such-user"], r"friends\[0\]: unknown user id 'no-such-user'"),
    ("13", "a single str"),
])
def test_bad_friends(run, friends, message):
  with pytest.raises(ValueError, match=message):
    rec_lib.recommend(run[0], [], friends=friends)


def test_a_friend_given_twice_is_refused(run):
  recommender, prepared = run
  raw = prepared.interactions.user_ids[prepared.split.train_users[0]].item()
  with pytest.raises(ValueError, match=r"friends\[1\]: user .* is given twice"):
    rec_lib.recommend(recommender, [], friends=[raw, str(raw)])


def test_no_ratings_and_no_signal_is_refused(run):
  with pytest.raises(ValueError, match="ratings is empty: .* friends, a description"):
    rec_lib.recommend(run[0], [])
  with pytest.raises(ValueError, match="description must be a non-empty sentence"):
    rec_lib.recommend(run[0], [], description="  ")


def test_friends_alone_serve_the_planted_taste(run):
  """With no rating at all, the friends' listening finds the artists of new
  listeners (friendships follow planted tastes) above the most popular artists, and
  far above what another user's friends give."""
  recommender, prepared = run
  inter, split = prepared.interactions, prepared.split
  users = [u for u in np.concatenate([split.val_users, split.test_users])
           if len(friends_of(prepared, u)) >= 2]
  other = np.random.default_rng(0).permutation(len(users))
  by_popularity = set(split.train_items[np.argsort(
      -prepared.popularity[split.train_items], kind="stable")[:10]].tolist())
  own, shuffled, popular = [], [], []
  for j, user in enumerate(users):
    listened = set(inter.item[inter.user == user].tolist()) & set(split.train_items.tolist())
    n = min(10, len(listened))
    for friends, out in ((friends_of(prepared, user), own),
                         (friends_of(prepared, users[other[j]]), shuffled)):
      top = {recommender.index[str(r.item_id)]
             for r in rec_lib.recommend(recommender, [], friends=friends, explain=False)}
      out.append(len(top & listened) / n)
    popular.append(len(by_popularity & listened) / n)
  assert len(own) >= 20
  assert np.mean(own) > np.mean(popular), (np.mean(own), np.mean(popular))
  assert np.mean(own) > 1.3 * np.mean(shuffled), (np.mean(own), np.mean(shuffled))


def test_friend_explanations_need_three_friends(run):
  recommender, prepared = run
  split = prepared.split
  raw = prepared.interactions.user_ids[split.train_users[:12]].tolist()
  recs = rec_lib.recommend(recommender, [], friends=raw, k=30)
  users = signals_lib.check_friends(recommender, raw)
  counts = signals_lib.signals(recommender, np.zeros(0, np.int32), users, None).friends
  for rec in recs:
    behind = int(counts[recommender.index[str(rec.item_id)]])
    explanation = rec.explanation
    if signals_lib.MIN_FRIENDS <= behind < len(users):
      assert explanation.friends == behind
      assert f"{behind} of your {len(users)} friends listen to it" in explanation.text
    else:
      assert explanation.friends == 0 and "friends" not in explanation.text
  assert any(r.explanation.friends for r in recs)
  assert any(0 < c < signals_lib.MIN_FRIENDS for c in counts)


def test_description_rows_are_its_nearest_items(run):
  recommender, _ = run
  sentence = "quiet piano and rain"
  cosine = recommender.text_vectors @ recommender.text_encoder.encode(
      [sentence], progress=False)[0]
  got = signals_lib.signals(recommender, np.zeros(0, np.int32), np.zeros(0, np.int64),
                            sentence)
  cosine[recommender.bundle.item_table["item_id"] == 0] = -np.inf  # held-out items
  nearest = np.argsort(-cosine, kind="stable")[:signals_lib.DESCRIPTION_ITEMS]
  np.testing.assert_array_equal(got.items, np.sort(nearest[cosine[nearest] > 0]))
  np.testing.assert_allclose(got.weights, signals_lib.DESCRIPTION_WEIGHT)
  recs = rec_lib.recommend(recommender, [], description=sentence, k=20)
  matching = [r for r in recs if r.explanation.matches_description]
  assert matching and all(f"matches '{sentence}'" in r.explanation.text for r in matching)
  assert all(got.matches[recommender.index[str(r.item_id)]] for r in matching)


def test_signals_are_support_rows_of_the_adapter(run):
  """``recommend`` with ratings and friends scores with the adapter fitted to the
  ratings (weight 1) plus the friend rows (their weights, at the top of the
  scale), and never recommends a rated item; other friends whose rows fall in the
  same support bucket compile nothing new."""
  recommender, prepared = run
  split = prepared.split
  inter = prepared.interactions
  ratings = [(inter.item_ids[i].item(), 1.0) for i in split.train_items[:3]]
  raw = inter.user_ids[split.train_users[:8]].tolist()
  recs = rec_lib.recommend(recommender, ratings, friends=raw, k=10, explain=False)
  extra = signals_lib.signals(recommender, split.train_items[:3].astype(np.int32),
                              signals_lib.check_friends(recommender, raw), None)
  items = np.concatenate([split.train_items[:3], extra.items]).astype(np.int32)
  support = {"user": new_user(recommender), "item": items,
             "y": np.ones(len(items), np.float32),
             "mask": np.concatenate([np.ones(3, np.float32), extra.weights])}
  adapter = adapters.make_adapter("solve", recommender.model, recommender.model.adapt_mask)
  phi = adapter(recommender.params, recommender.inner_lr, 0, support)
  scores = np.array(recommender.model.predict(phi, support["user"],
                                              np.arange(recommender.num_items)))
  scores[split.train_items[:3]] = -np.inf
  np.testing.assert_array_equal([recommender.index[str(r.item_id)] for r in recs],
                                np.argsort(-scores, kind="stable")[:10])
  server = recommender.server
  before = server._cache_size()  # pylint: disable=protected-access
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    rec_lib.recommend(recommender, ratings, friends=inter.user_ids[
        split.train_users[8:16]].tolist(), k=10)
  assert server._cache_size() == before  # pylint: disable=protected-access


def test_a_friend_count_equal_to_all_friends_is_not_named(run):
  """When every given friend has the item, the count would say what each of them
  listens to: the explanation names no friend then."""
  recommender, prepared = run
  split = prepared.split
  item = int(split.train_items[np.argmax(prepared.popularity[split.train_items])])
  bundle = recommender.bundle
  listeners = [u for u in split.train_users
               if item in bundle.train_items[bundle.train_offsets[u]:bundle.train_offsets[u + 1]]]
  others = [u for u in split.train_users if u not in listeners]
  for given, named in ((listeners[:3], 0), (listeners[:3] + others[:1], 3)):
    extra = signals_lib.signals(recommender, np.zeros(0, np.int32), np.asarray(given), None)
    got = explain.explain(recommender, item, np.zeros(0, np.int32), np.zeros(0, np.float32),
                          np.zeros(0, np.int32), np.zeros(0, np.float32),
                          np.zeros(0, np.float32), extra)
    assert got.friends == named
    assert ("friends listen to it" in got.text) == bool(named)


def test_other_descriptions_compile_nothing_new(run):
  """A second description of the same token-length bucket reuses the compiled
  encoder and server: the sentence is a runtime input, not part of a cache key."""
  recommender, _ = run
  rec_lib.recommend(recommender, [], description="quiet piano and rain", k=5)
  server, encode = recommender.server, recommender.text_encoder._apply  # pylint: disable=protected-access
  before = server._cache_size(), encode._cache_size()  # pylint: disable=protected-access
  recs = rec_lib.recommend(recommender, [], description="loud guitars at night", k=5)
  assert (server._cache_size(), encode._cache_size()) == before  # pylint: disable=protected-access
  assert len(recs) == 5


def test_cli_serves_friends_and_a_description(trained, run, tmp_path):
  """``experiments.recommend --friends --description`` prints the table of the
  same request made in process."""
  workdir, _ = trained
  recommender, prepared = run
  raw = prepared.interactions.user_ids[prepared.split.train_users[:8]].tolist()
  sentence = "quiet piano and rain"
  expected = rec_lib.recommend(recommender, [], friends=raw, description=sentence, k=5)
  env = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"}
  env.pop("XLA_FLAGS", None)
  result = subprocess.run(
      [sys.executable, "-m", "experiments.recommend", f"--workdir={workdir}",
       f"--friends={','.join(map(str, raw))}", f"--description={sentence}", "--k=5"],
      cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=300)
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == rec_lib.format_table(expected)
  assert "friends listen to it" in result.stdout or f"matches '{sentence}'" in result.stdout
