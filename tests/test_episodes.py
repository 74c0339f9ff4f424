"""Tests for jaxrec.data.episodes."""

import collections

import numpy as np
import pytest

from jaxrec.data.episodes import (Episodes, batch_iterator, bucket_lengths, describe,
                                  make_episodes, num_batches, pad_batch,
                                  padding_fraction, summarize, training_episodes,
                                  truncate_support)
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


def test_pad_batch_by_hand():
  batch = pad_batch(small_episodes(), [2, 0], support_len=4, query_len=2, batch_size=3)
  s, q = batch["support"], batch["query"]
  np.testing.assert_array_equal(s["user"], [9, 7, 0])
  np.testing.assert_array_equal(q["user"], [9, 7, 0])
  np.testing.assert_array_equal(s["item"], [[4, 5, 6, 0], [1, 2, 0, 0], [0, 0, 0, 0]])
  np.testing.assert_array_equal(s["y"], [[2, 1, 5, 0], [5, 4, 0, 0], [0, 0, 0, 0]])
  np.testing.assert_array_equal(s["mask"], [[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
  np.testing.assert_array_equal(q["item"], [[14, 0], [11, 0], [0, 0]])
  np.testing.assert_array_equal(q["mask"], [[1, 0], [1, 0], [0, 0]])
  for part in (s, q):
    assert part["user"].dtype == part["item"].dtype == np.int32
    assert part["y"].dtype == part["mask"].dtype == np.float32


def test_pad_batch_errors():
  with pytest.raises(ValueError, match=r"episode 2 \(user 9\) has 3 support entries, "
                                       r"more than support_len=2"):
    pad_batch(small_episodes(), [0, 2], support_len=2, query_len=2)
  with pytest.raises(ValueError, match="batch_size=1 is smaller than the 2"):
    pad_batch(small_episodes(), [0, 1], support_len=3, query_len=2, batch_size=1)


def test_bucket_lengths():
  sizes = np.array([3, 9, 20, 40, 90])
  np.testing.assert_array_equal(bucket_lengths(sizes), [8, 16, 32, 64, 90])
  np.testing.assert_array_equal(bucket_lengths(sizes, None), [90])
  np.testing.assert_array_equal(bucket_lengths(sizes, [10, 50, 200]), [10, 50, 90])
  np.testing.assert_array_equal(bucket_lengths(np.array([1, 2, 3, 4]), 2), [3, 4])
  np.testing.assert_array_equal(bucket_lengths(np.array([5]), "pow2"), [5])
  with pytest.raises(ValueError, match="buckets must be None, 'pow2'"):
    bucket_lengths(sizes, "log")


def test_batch_iterator_covers_every_rating_once(data, split):
  eps = make_episodes(data, split, "warm")
  lengths = bucket_lengths(eps.support_sizes)
  seen = {"support": collections.Counter(), "query": collections.Counter()}
  batches = list(batch_iterator(eps, 8, seed=0))
  assert len(batches) == num_batches(eps, 8) > 1
  for batch in batches:
    support_len = batch["support"]["item"].shape[1]
    assert support_len in lengths
    assert batch["query"]["item"].shape == (8, eps.query_sizes.max())
    for part in ("support", "query"):
      p = batch[part]
      assert p["item"].shape[0] == p["user"].shape[0] == 8
      rows, cols = np.nonzero(p["mask"])
      seen[part].update(zip(p["user"][rows].tolist(), p["item"][rows, cols].tolist(),
                            p["y"][rows, cols].tolist()))
      assert (p["item"][p["mask"] == 0] == 0).all()
      assert (p["y"][p["mask"] == 0] == 0).all()
    sizes = batch["support"]["mask"].sum(1)
    sizes = sizes[sizes > 0].astype(int)
    assert (lengths[np.searchsorted(lengths, sizes)] == support_len).all()
  for part in ("support", "query"):
    assert seen[part] == episode_triples(eps, part)


def test_padded_tasks_are_all_zero():
  batches = list(batch_iterator(small_episodes(), 4, buckets=None, shuffle=False))
  assert len(batches) == 1
  for part in ("support", "query"):
    p = batches[0][part]
    assert p["mask"][:3].sum(1).min() > 0
    assert p["mask"][3].sum() == p["item"][3].sum() == p["y"][3].sum() == 0
    assert p["user"][3] == 0


def test_batch_iterator_determinism_and_resume(data, split):
  eps = make_episodes(data, split, "warm")

  def items(**kw):
    return [b["support"]["item"] for b in batch_iterator(eps, 4, **kw)]

  a, b, c = items(seed=2), items(seed=2), items(seed=3)
  assert all(np.array_equal(x, y) for x, y in zip(a, b))
  assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, c))
  resumed = items(seed=2, start=3)
  assert len(resumed) == len(a) - 3
  assert all(np.array_equal(x, y) for x, y in zip(a[3:], resumed))
  ordered = items(shuffle=False, buckets=None)
  np.testing.assert_array_equal(ordered[0][0, :eps.support_sizes[0]],
                                eps.part("support", 0)[0])


@pytest.mark.parametrize("batch_size, buckets", [(8, "pow2"), (4, None), (3, 4)])
def test_an_epoch_trains_every_user_exactly_once(data, split, batch_size, buckets):
  # As train() iterates an epoch: shuffled, bucketed, the last batch of each
  # bucket filled with padded tasks (none dropped).
  eps = training_episodes(data, split, epoch=1, seed=0)
  batches = list(batch_iterator(eps, batch_size, seed=7, buckets=buckets))
  assert len(batches) == num_batches(eps, batch_size, buckets=buckets)
  lengths = bucket_lengths(eps.support_sizes, buckets)
  per_bucket = np.bincount(np.searchsorted(lengths, eps.support_sizes))
  assert len(batches) == sum(-(-n // batch_size) for n in per_bucket)
  assert (per_bucket % batch_size).any()  # some bucket has a remainder batch
  real_users = []
  for batch in batches:
    real = batch["query"]["mask"].sum(1) > 0
    np.testing.assert_array_equal(real, batch["support"]["mask"].sum(1) > 0)
    assert batch["support"]["user"].shape == (batch_size,)
    real_users += batch["support"]["user"][real].tolist()
  assert sorted(real_users) == sorted(eps.user.tolist())
  assert len(set(real_users)) == len(eps)


def test_padding_fraction_by_hand_and_bucketing_helps(data, split):
  # 10 real slots. One bucket: 2 batches x 2 tasks x (S=3 + Q=2) = 20 slots.
  assert padding_fraction(small_episodes(), 2, None) == pytest.approx(1 - 10 / 20)
  # Buckets [2, 3]: sizes 2, 1 -> a batch with S=2 (8 slots), size 3 -> S=3 (10).
  assert padding_fraction(small_episodes(), 2, [2]) == pytest.approx(1 - 10 / 18)
  eps = training_episodes(data, split, epoch=0, seed=0)
  bucketed = padding_fraction(eps, 8, "pow2")
  unbucketed = padding_fraction(eps, 8, None)
  print(f"padding fraction: bucketed {bucketed:.3f}, unbucketed {unbucketed:.3f}")
  assert 0 < bucketed < unbucketed < 1


def test_describe_and_summarize(data, split):
  eps = make_episodes(data, split, "new_users")
  d = describe(eps)
  assert d["episodes"] == len(eps) and d["dropped"] == eps.num_dropped
  assert d["support_min"] == eps.support_sizes.min()
  assert d["query_median"] == np.median(eps.query_sizes)
  summary = summarize(data, split, batch_size=8, query_size=5)
  assert summary["ratings"] == data.num_interactions
  assert summary["training_ratings"] == training_mask(data, split).sum()
  assert summary["test_users"] == len(split.test_users)
  assert set(summary["episodes"]) == {
      "train", "warm", "new_users/val", "new_users/test", "new_items/val",
      "new_items/test", "new_users_new_items/val", "new_users_new_items/test"}
  entry = summary["episodes"]["new_users/test"]
  assert entry["query_max"] == 5
  assert entry["padding_unbucketed"] == padding_fraction(
      make_episodes(data, split, "new_users", query_size=5), 8, None)
