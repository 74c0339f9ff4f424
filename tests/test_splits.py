"""Tests for jaxrec.data.splits."""

import dataclasses

import numpy as np
import pytest

from jaxrec.data.interactions import Interactions, ItemTags
from jaxrec.metrics import item_popularity
from jaxrec.data.splits import (ColdStartSplit, build_tables, holdout_mask,
                                item_rows, member_mask, random_split, rank_within_user,
                                time_split, training_mask, user_rows)


def make_interactions(num_users: int = 60, num_items: int = 50, *,
                      implicit: bool = False, timestamps: bool = True,
                      seed: int = 0) -> Interactions:
  """Random interactions: users 0, 1, 2 have 5, 8, 12 ratings, the others 13..45."""
  rng = np.random.default_rng(seed)
  counts = rng.integers(13, 46, num_users)
  counts[:3] = [5, 8, 12]
  user = np.repeat(np.arange(num_users), counts).astype(np.int32)
  item = np.concatenate(
      [rng.choice(num_items, c, replace=False) for c in counts]).astype(np.int32)
  n = len(user)
  rating = (rng.integers(1, 50, n) if implicit else rng.integers(1, 6, n))
  genre = rng.integers(0, 6, (num_items, 3)).astype(np.int32)
  return Interactions(
      name="toy", user=user, item=item, rating=rating.astype(np.float32),
      timestamp=(rng.integers(10**9, 10**9 + 10**7, n).astype(np.int64)
                 if timestamps else None),
      user_ids=np.arange(100, 100 + num_users), item_ids=np.arange(num_items),
      user_features={"age": rng.integers(0, 4, num_users).astype(np.int32)},
      item_features={"genre": genre, "genre_mask": (genre > 0).astype(np.float32)},
      user_vocab_sizes={"age": 4}, item_vocab_sizes={"genre": 6},
      item_text=np.array([f"item {i}" for i in range(num_items)]),
      implicit=implicit, rating_scale=None if implicit else (1.0, 5.0)).validate()


def tiny_interactions() -> Interactions:
  """Three users, four items, seven ratings (hand-checked tests)."""
  return Interactions(
      name="tiny", user=np.array([0, 0, 0, 1, 1, 2, 2], np.int32),
      item=np.array([0, 1, 3, 0, 2, 1, 3], np.int32),
      rating=np.array([5, 4, 3, 2, 1, 4, 5], np.float32), timestamp=None,
      user_ids=np.array(["a", "b", "c"]), item_ids=np.array(["w", "x", "y", "z"]),
      user_features={}, item_features={}, user_vocab_sizes={}, item_vocab_sizes={},
      item_text=np.array(["w", "x", "y", "z"])).validate()


def tiny_split(warm_holdout=(1,)) -> ColdStartSplit:
  """Train users {0, 2}, test user {1}; train items {0, 1, 2}, test item {3}."""
  ids = lambda *a: np.array(a, np.int32)
  return ColdStartSplit(ids(0, 2), ids(), ids(1), ids(0, 1, 2), ids(), ids(3),
                        warm_holdout=np.array(warm_holdout, np.int64),
                        excluded_users=ids(), seed=0, params={})


@pytest.fixture(scope="module")
def data():
  return make_interactions()


@pytest.fixture(scope="module")
def split(data):
  return random_split(data, seed=3)


def test_random_split_groups_partition_eligible_users_and_all_items(data, split):
  counts = np.bincount(data.user, minlength=data.num_users)
  eligible = np.flatnonzero((counts >= 13) & (counts <= 100))
  users = np.concatenate([split.train_users, split.val_users, split.test_users])
  items = np.concatenate([split.train_items, split.val_items, split.test_items])
  np.testing.assert_array_equal(np.sort(users), eligible)
  np.testing.assert_array_equal(np.sort(items), np.arange(data.num_items))
  np.testing.assert_array_equal(split.excluded_users, [0, 1, 2])
  assert split.sizes() == {"train_users": 46, "val_users": 6, "test_users": 5,
                           "train_items": 40, "val_items": 5, "test_items": 5}
  for ids in (split.train_users, split.test_items):
    assert ids.dtype == np.int32 and np.all(np.diff(ids) > 0)


def test_random_split_is_deterministic_and_depends_on_seed(data, split):
  again = random_split(data, seed=3)
  other = random_split(data, seed=4)
  for field in ("train_users", "test_users", "train_items", "warm_holdout"):
    np.testing.assert_array_equal(getattr(split, field), getattr(again, field))
  assert not np.array_equal(split.test_users, other.test_users)
  assert not np.array_equal(split.warm_holdout, other.warm_holdout)


def test_rating_filter_bounds_are_inclusive(data):
  split = random_split(data, min_ratings=8, max_ratings=40)
  counts = np.bincount(data.user, minlength=data.num_users)
  expected = np.flatnonzero((counts < 8) | (counts > 40))
  np.testing.assert_array_equal(split.excluded_users, expected)
  assert 1 not in expected  # user 1 has exactly 8 ratings


def test_warm_holdout_is_train_by_train_and_out_of_training(data, split):
  hold = split.warm_holdout
  assert np.isin(data.user[hold], split.train_users).all()
  assert np.isin(data.item[hold], split.train_items).all()
  on_train = (np.isin(data.user, split.train_users)
              & np.isin(data.item, split.train_items))
  n_train_items = np.bincount(data.user[on_train], minlength=data.num_users)
  n_hold = np.bincount(data.user[hold], minlength=data.num_users)
  expected = np.minimum(10, n_train_items - 1)[split.train_users]
  np.testing.assert_array_equal(n_hold[split.train_users], expected)
  assert not training_mask(data, split)[hold].any()


def test_training_mask_excludes_held_out_users_items_and_warm_queries(data, split):
  mask = training_mask(data, split)
  held_users = np.concatenate([split.val_users, split.test_users, split.excluded_users])
  held_items = np.concatenate([split.val_items, split.test_items])
  assert not np.isin(data.user[mask], held_users).any()
  assert not np.isin(data.item[mask], held_items).any()
  expected = (np.isin(data.user, split.train_users)
              & np.isin(data.item, split.train_items) & ~holdout_mask(data, split))
  np.testing.assert_array_equal(mask, expected)


def test_training_mask_and_popularity_by_hand():
  data, split = tiny_interactions(), tiny_split()
  # rows: (0,0) (0,1)held (0,3)test-item (1,0)test-user (1,2)test-user (2,1) (2,3)
  np.testing.assert_array_equal(training_mask(data, split),
                                [1, 0, 0, 0, 0, 1, 0])
  train = training_mask(data, split)
  np.testing.assert_array_equal(
      item_popularity(data.user[train], data.item[train], data.num_items), [1, 1, 0, 0])


def test_row_masks_by_hand():
  data, split = tiny_interactions(), tiny_split()
  np.testing.assert_array_equal(member_mask(np.array([3, 0]), 5), [1, 0, 0, 1, 0])
  # users 0 0 0 1 1 2 2, items 0 1 3 0 2 1 3
  np.testing.assert_array_equal(user_rows(data, split.train_users), [1, 1, 1, 0, 0, 1, 1])
  np.testing.assert_array_equal(item_rows(data, split.test_items), [0, 0, 1, 0, 0, 0, 1])
  np.testing.assert_array_equal(holdout_mask(data, split), [0, 1, 0, 0, 0, 0, 0])
  np.testing.assert_array_equal(
      training_mask(data, split),
      user_rows(data, split.train_users) & item_rows(data, split.train_items)
      & ~holdout_mask(data, split))


def test_rank_within_user_breaks_ties_by_position():
  users = np.array([1, 0, 1, 1, 0])
  keys = np.array([0.5, 0.2, 0.1, 0.5, 0.2])
  np.testing.assert_array_equal(rank_within_user(users, keys), [1, 0, 0, 2, 1])


def test_build_tables_ids_are_training_ranks():
  data, split = tiny_interactions(), tiny_split()
  user_table, item_table, vocab = build_tables(data, split)
  np.testing.assert_array_equal(user_table["user_id"], [1, 0, 2])
  np.testing.assert_array_equal(item_table["item_id"], [1, 2, 3, 0])
  assert vocab == {"user_id": 3, "item_id": 4}


def test_build_tables_copies_features_and_merges_vocabularies(data, split):
  user_table, item_table, vocab = build_tables(data, split)
  assert set(user_table) == {"age", "user_id"}
  assert set(item_table) == {"genre", "genre_mask", "item_id"}
  assert vocab == {"age": 4, "genre": 6, "user_id": 47, "item_id": 41}
  np.testing.assert_array_equal(item_table["genre"], data.item_features["genre"])
  item_table["genre"][0] = 99
  assert data.item_features["genre"][0, 0] != 99
  held = np.concatenate([split.test_users, split.val_users, split.excluded_users])
  assert (user_table["user_id"][held] == 0).all()
  assert (item_table["item_id"][split.test_items] == 0).all()
  np.testing.assert_array_equal(np.sort(user_table["user_id"][split.train_users]),
                                np.arange(1, 47))


def test_build_tables_takes_tags_from_training_users_only():
  # Train users 0 and 2, test user 1 (tiny_split). Item 0: tag 1 by user 0, tag 2
  # twice by the test user; item 2: tagged by the test user only.
  data = dataclasses.replace(
      tiny_interactions(), item_vocab_sizes={"tag": 3},
      vocab_names={"tag": ["<pad>", "calm", "loud"]},
      item_tags=ItemTags(user=np.array([0, 1, 1, 1], np.int32),
                         item=np.array([0, 0, 0, 2], np.int32),
                         tag=np.array([1, 2, 2, 2], np.int32),
                         titles=np.array(["w", "x", "y", "z"]), field="tag", width=2))
  _, item_table, vocab = build_tables(data.validate(), tiny_split())
  np.testing.assert_array_equal(item_table["tag"], [[1, 0], [0, 0], [0, 0], [0, 0]])
  np.testing.assert_array_equal(item_table["tag_mask"][:, 0], [1, 0, 0, 0])
  assert vocab["tag"] == 3


def test_item_tags_are_validated():
  tags = ItemTags(user=np.array([0], np.int32), item=np.array([0], np.int32),
                  tag=np.array([3], np.int32), titles=np.array(["w", "x", "y", "z"]),
                  field="tag", width=2)
  data = dataclasses.replace(tiny_interactions(), item_vocab_sizes={"tag": 3},
                             item_tags=tags)
  with pytest.raises(ValueError, match=r"tiny: item_tags.tag has ids outside \[1, 3\)"):
    data.validate()
  with pytest.raises(ValueError, match=r"item_tags.titles has 1 entries, expected 4"):
    dataclasses.replace(data, item_tags=dataclasses.replace(
        tags, tag=np.array([2], np.int32), titles=np.array(["w"]))).validate()
  with pytest.raises(ValueError, match=r"item_tags.field 'genre' has no item vocabulary"):
    dataclasses.replace(data, item_tags=dataclasses.replace(
        tags, tag=np.array([2], np.int32), field="genre")).validate()


def test_build_tables_rejects_colliding_field_names(data, split):
  clash = dataclasses.replace(data, user_features={
      **data.user_features, "genre": np.zeros(data.num_users, np.int32)})
  with pytest.raises(ValueError, match=r"\['genre'\] occur both"):
    build_tables(clash, split)
  reserved = dataclasses.replace(data, item_features={
      "item_id": np.zeros(data.num_items, np.int32)})
  with pytest.raises(ValueError, match="'item_id' is reserved"):
    build_tables(reserved, split)


def test_empty_partition_errors_name_the_partition(data):
  with pytest.raises(ValueError,
                     match=r"the val items partition is empty .*'train': 50"):
    random_split(data, item_fractions=(1.0, 0.0, 0.0))
  with pytest.raises(ValueError, match="the test users partition is empty"):
    random_split(data, user_fractions=(0.9, 0.1, 0.0))
  with pytest.raises(ValueError, match="user_fractions must be three"):
    random_split(data, user_fractions=(0.5, 0.5))


def test_too_few_ratings_error(data):
  with pytest.raises(ValueError, match=r"toy: no user has between 50 and 100 ratings "
                                       r"\(users have 5\.\.45"):
    random_split(data, min_ratings=50)


def test_time_split_new_users_and_items_are_first_seen_after_cutoff(data):
  first_user = np.full(data.num_users, np.iinfo(np.int64).max)
  np.minimum.at(first_user, data.user, data.timestamp)
  first_item = np.full(data.num_items, np.iinfo(np.int64).max)
  np.minimum.at(first_item, data.item, data.timestamp)
  user_cut = int(np.median(first_user[3:]))
  item_cut = int(np.quantile(first_item, 0.6))
  split = time_split(data, user_cutoff=user_cut, item_cutoff=item_cut, seed=1)
  assert (first_user[split.train_users] <= user_cut).all()
  new_users = np.concatenate([split.val_users, split.test_users])
  assert (first_user[new_users] > user_cut).all()
  assert first_user[split.val_users].max() <= first_user[split.test_users].min()
  assert (first_item[split.train_items] <= item_cut).all()
  assert (first_item[split.test_items] > item_cut).all()
  assert abs(len(split.val_users) - len(split.test_users)) <= 1
  assert not np.isin(split.excluded_users, new_users).any()
  assert np.isin(data.item[split.warm_holdout], split.train_items).all()
  assert split.params["method"] == "time"


def test_time_split_errors(data):
  no_time = make_interactions(timestamps=False)
  with pytest.raises(ValueError, match="toy: time_split needs timestamps"):
    time_split(no_time, user_cutoff=0, item_cutoff=0)
  with pytest.raises(ValueError, match="the val users partition is empty"):
    time_split(data, user_cutoff=2 * 10**9, item_cutoff=10**9 + 5 * 10**6)


def test_unknown_group():
  with pytest.raises(ValueError, match="unknown group 'dev'"):
    tiny_split().users("dev")
