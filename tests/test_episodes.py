"""Tests for jaxrec.data.episodes (batches: test_batching.py)."""

import collections
import dataclasses

import numpy as np
import pytest

from jaxrec.data import batching
from jaxrec.data import episodes as episodes_lib
from jaxrec.data.episodes import Episodes, make_episodes, training_episodes, truncate_support
from jaxrec.data.splits import holdout_mask, random_split, training_mask
from test_splits import data, make_interactions, split  # noqa: F401 (shared fixtures)


@pytest.fixture(scope="module")
def implicit():
  return make_interactions(40, 300, implicit=True, seed=1)


@pytest.fixture(scope="module")
def implicit_split(implicit):
  return random_split(implicit, seed=0)


def triples(data, mask):
  """Multiset of (user, item, rating) of the interactions in ``mask``."""
  return collections.Counter(zip(data.user[mask].tolist(), data.item[mask].tolist(),
                                 data.rating[mask].tolist()))


def episode_triples(eps, part):
  """Multiset of (user, item, y) of one part of all episodes."""
  sizes = eps.support_sizes if part == "support" else eps.query_sizes
  users = np.repeat(eps.user, sizes)
  return collections.Counter(zip(users.tolist(),
                                 getattr(eps, f"{part}_item").tolist(),
                                 getattr(eps, f"{part}_y").tolist()))


def small_episodes():
  """Three episodes: support sizes 2, 1, 3 and query sizes 1, 2, 1."""
  return Episodes(
      "new_users", "test", user=np.array([7, 8, 9], np.int32),
      support_item=np.array([1, 2, 3, 4, 5, 6], np.int32),
      support_y=np.array([5, 4, 3, 2, 1, 5], np.float32),
      support_offsets=np.array([0, 2, 3, 6]),
      query_item=np.array([11, 12, 13, 14], np.int32),
      query_y=np.array([1, 2, 3, 4], np.float32), query_offsets=np.array([0, 1, 3, 4]))


def test_warm_query_is_exactly_the_holdout(data, split):
  eps = make_episodes(data, split, "warm", group="val")
  assert (eps.state, eps.group) == ("warm", "train")
  assert np.isin(eps.user, split.train_users).all()
  assert episode_triples(eps, "query") == triples(data, holdout_mask(data, split))
  assert episode_triples(eps, "support") == triples(data, training_mask(data, split))
  assert len(eps) + eps.num_dropped == len(split.train_users)


def test_new_users_split_their_train_item_ratings(data, split):
  eps = make_episodes(data, split, "new_users", group="test", query_size=10)
  np.testing.assert_array_equal(eps.user, split.test_users)
  on_train = (np.isin(data.user, split.test_users)
              & np.isin(data.item, split.train_items))
  assert (episode_triples(eps, "support") + episode_triples(eps, "query")
          == triples(data, on_train))
  assert not (episode_triples(eps, "support") & episode_triples(eps, "query"))
  n = np.bincount(data.user[on_train], minlength=data.num_users)[eps.user]
  np.testing.assert_array_equal(eps.query_sizes, np.minimum(10, n - 1))


def test_new_items_queries_only_held_out_items(data, split):
  for group in ("val", "test"):
    eps = make_episodes(data, split, "new_items", group=group, query_size=2)
    items = split.items(group)
    assert np.isin(eps.query_item, items).all()
    assert np.isin(eps.support_item, split.train_items).all()
    assert np.isin(eps.user, split.train_users).all()
    assert (eps.query_sizes <= 2).all()
    rated = np.isin(data.item, items) & np.isin(data.user, split.train_users)
    with_query = np.unique(data.user[rated])
    np.testing.assert_array_equal(eps.user, with_query)
    assert eps.num_dropped == len(split.train_users) - len(with_query)
    train = training_mask(data, split)
    assert episode_triples(eps, "support") == triples(
        data, train & np.isin(data.user, with_query))


def test_new_users_new_items(data, split):
  eps = make_episodes(data, split, "new_users_new_items", group="test")
  assert np.isin(eps.user, split.test_users).all()
  assert np.isin(eps.query_item, split.test_items).all()
  assert np.isin(eps.support_item, split.train_items).all()
  keep = np.isin(data.user, eps.user) & np.isin(data.item, split.train_items)
  assert episode_triples(eps, "support") == triples(data, keep)


def test_no_episode_rating_of_held_out_users_in_training(data, split):
  train = triples(data, training_mask(data, split))
  for state in ("new_users", "new_items", "new_users_new_items"):
    eps = make_episodes(data, split, state, group="test")
    assert not (episode_triples(eps, "query") & train)


def test_query_by_time_takes_latest_ratings(data, split):
  eps = make_episodes(data, split, "new_users", group="val", query_by="time",
                      query_size=5)
  time = {(u, i): t for u, i, t in zip(data.user, data.item, data.timestamp)}
  for e, u in enumerate(eps.user):
    support = [time[u, i] for i in eps.part("support", e)[0]]
    query = [time[u, i] for i in eps.part("query", e)[0]]
    assert min(query) >= max(support)


def test_episode_argument_errors(data, split):
  with pytest.raises(ValueError, match="group must be 'val' or 'test'"):
    make_episodes(data, split, "new_items", group="train")
  with pytest.raises(ValueError, match="unknown state 'cold'"):
    make_episodes(data, split, "cold")
  with pytest.raises(ValueError, match="negatives=2 needs implicit"):
    make_episodes(data, split, "warm", negatives=2)
  no_time = make_interactions(timestamps=False)
  with pytest.raises(ValueError, match="query_by='time' needs timestamps"):
    make_episodes(no_time, random_split(no_time), "new_users", query_by="time")
  with pytest.raises(ValueError, match=r"'new_users' \(test group\) has no episode: "
                                       r"none of its 5 users has >= 100 support"):
    make_episodes(data, split, "new_users", min_support=100)


def test_make_episodes_deterministic_given_seed(data, split):
  a = make_episodes(data, split, "new_users", seed=5)
  b = make_episodes(data, split, "new_users", seed=5)
  c = make_episodes(data, split, "new_users", seed=6)
  for field in ("user", "support_item", "support_offsets", "query_item", "query_y"):
    np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
  assert not np.array_equal(a.query_item, c.query_item)


def test_training_episodes_repartition_training_ratings(data, split):
  e0 = training_episodes(data, split, epoch=0, seed=1, query_size=4)
  again = training_episodes(data, split, epoch=0, seed=1, query_size=4)
  e1 = training_episodes(data, split, epoch=1, seed=1, query_size=4)
  train = training_mask(data, split)
  n_train = np.bincount(data.user[train], minlength=data.num_users)
  dropped = np.setdiff1d(split.train_users, e0.user)
  assert e0.num_dropped == len(dropped) and (n_train[dropped] < 2).all()
  kept = triples(data, train & np.isin(data.user, e0.user))
  for eps in (e0, e1):
    assert (eps.state, eps.group) == ("train", "train")
    assert episode_triples(eps, "support") + episode_triples(eps, "query") == kept
    np.testing.assert_array_equal(eps.query_sizes, np.minimum(4, n_train[eps.user] - 1))
  np.testing.assert_array_equal(e0.query_item, again.query_item)
  assert not np.array_equal(e0.query_item, e1.query_item)


def check_negatives(data, eps, negatives, pools):
  user_items = collections.defaultdict(set)
  for u, i in zip(data.user.tolist(), data.item.tolist()):
    user_items[u].add(i)
  for e, u in enumerate(eps.user):
    seen = set()
    for part, pool in zip(("support", "query"), pools):
      items, y = eps.part(part, e)
      assert set(np.unique(y)) <= {0.0, 1.0}
      pos, neg = set(items[y == 1].tolist()), items[y == 0].tolist()
      assert pos <= user_items[u]
      available = set(pool.tolist()) - user_items[u] - seen
      assert len(neg) == min(negatives * len(pos), len(available)) == len(set(neg))
      assert not set(neg) & (user_items[u] | seen)
      assert set(neg) <= set(pool.tolist())
      seen |= set(neg)


def test_implicit_negatives(implicit, implicit_split):
  split = implicit_split
  eps = make_episodes(implicit, split, "new_users", negatives=2, query_size=3, seed=4)
  check_negatives(implicit, eps, 2, (split.train_items, split.train_items))
  eps = make_episodes(implicit, split, "new_items", negatives=1, query_size=2)
  check_negatives(implicit, eps, 1, (split.train_items, split.test_items))
  again = make_episodes(implicit, split, "new_items", negatives=1, query_size=2)
  np.testing.assert_array_equal(eps.support_item, again.support_item)


def test_training_negatives_avoid_training_items(implicit, implicit_split):
  split = implicit_split
  eps = training_episodes(implicit, split, epoch=0, seed=0, negatives=1)
  train = training_mask(implicit, split)
  known = set(zip(implicit.user[train].tolist(), implicit.item[train].tolist()))
  negs = [(u, i) for u, i, y in zip(np.repeat(eps.user, eps.support_sizes),
                                    eps.support_item, eps.support_y) if y == 0]
  assert len(negs) == (eps.support_y == 1).sum()
  assert not set((int(u), int(i)) for u, i in negs) & known
  assert np.isin([i for _, i in negs], split.train_items).all()


def test_gather_and_support_positives_by_hand():
  eps = small_episodes()
  items, ys, offsets = eps.gather("query", [2, 1])
  np.testing.assert_array_equal(items, [14, 12, 13])
  np.testing.assert_array_equal(ys, [4, 2, 3])
  np.testing.assert_array_equal(offsets, [0, 1, 3])
  np.testing.assert_array_equal(eps.support_positives, [2, 1, 3])  # explicit: every entry
  implicit = dataclasses.replace(eps, support_y=np.array([1, 0, 1, 1, 0, 0], np.float32),
                                 negatives=1)
  np.testing.assert_array_equal(implicit.support_negative, [0, 1, 0, 0, 1, 1])
  np.testing.assert_array_equal(implicit.support_positives, [1, 1, 1])
  with pytest.raises(ValueError, match="unknown episode part 'labels'"):
    eps.gather("labels", [0])


def test_support_positives_count_what_truncate_support_keeps(implicit, implicit_split):
  eps = make_episodes(implicit, implicit_split, "new_users", negatives=2)
  k = int(np.median(eps.support_positives))
  short = truncate_support(eps, k, seed=0)
  assert len(short) == (eps.support_positives >= k).sum()
  assert (short.support_positives == k).all()


def test_batching_has_one_home():
  # The batching helpers live in jaxrec.data.batching only (no re-export here).
  for name in ("pad_batch", "batch_iterator", "bucket_lengths", "num_batches",
               "padding_fraction", "describe_data"):
    assert not hasattr(episodes_lib, name), name
    assert hasattr(batching, name), name


def test_truncate_support(data, split):
  eps = make_episodes(data, split, "new_users", group="test", query_size=10)
  short = truncate_support(eps, 5, seed=0)
  assert (short.support_sizes == 5).all()
  keep = eps.support_sizes >= 5
  np.testing.assert_array_equal(short.user, eps.user[keep])
  assert short.num_dropped == eps.num_dropped + (~keep).sum()
  for e, src in enumerate(np.flatnonzero(keep)):
    full_items, _ = eps.part("support", src)
    items, _ = short.part("support", e)
    assert set(items) <= set(full_items)
    np.testing.assert_array_equal(short.part("query", e)[0], eps.part("query", src)[0])
  other = truncate_support(eps, 5, seed=1)
  assert not np.array_equal(short.support_item, other.support_item)
  with pytest.raises(ValueError, match=r">= 1000 support positives \(max"):
    truncate_support(eps, 1000, seed=0)


def test_truncate_support_keeps_negative_ratio(implicit, implicit_split):
  eps = make_episodes(implicit, implicit_split, "new_users", negatives=2)
  short = truncate_support(eps, 3, seed=0)
  assert ((short.support_y == 1).sum() == 3 * len(short))
  assert (short.support_sizes == 9).all()
