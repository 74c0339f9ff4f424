"""Tests for jaxrec.data.readers: synthetic and hand-written raw files, bad input,
registry / CLI, and the real datasets when ../shared/data is present."""

import dataclasses
import json
import pathlib
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

from jaxrec.data import download, graph, readers, splits, synthetic, tags
from jaxrec.data.readers import csv as csv_reader
from jaxrec.data.readers import lastfm, movielens

FRIENDS = "userID\tfriendID\r\n2\t3\r\n3\t2\r\n"
GENRE_FILE = "".join(f"{g}|{k}\n" for k, g in enumerate(readers.ML_GENRES)) + "\n"
OCCUPATIONS = "artist\nother\ntechnician\n"


def _flags(*genres: str) -> str:
  return "|".join("1" if g in genres else "0" for g in readers.ML_GENRES)


def _write_ml100k(directory: pathlib.Path, *, data: str | None = None,
                  item: str | None = None, user: str | None = None) -> pathlib.Path:
  """A tiny hand-checkable ML-100K; each argument replaces one file's text."""
  directory.mkdir(parents=True, exist_ok=True)
  if data is None:
    data = "1\t10\t5\t100\n1\t20\t3\t200\n2\t10\t4\t300\n3\t30\t1\t400\n"
  if item is None:
    item = (f"10|Toy Story (1995)|01-Jan-1995||http://x|{_flags('Animation', 'Comedy')}\n"
            f"20|unknown||||{_flags('unknown')}\n"
            f"30|Café Noir (1989)|||http://y|{_flags('Drama')}\n")
  if user is None:
    user = "1|17|M|technician|85711\n2|24|F|artist|T8H1N\n3|56|M|other|\n"
  (directory / "u.data").write_text(data, encoding="latin-1")
  (directory / "u.item").write_bytes(item.encode("latin-1"))
  (directory / "u.user").write_text(user, encoding="latin-1")
  (directory / "u.genre").write_text(GENRE_FILE)
  (directory / "u.occupation").write_text(OCCUPATIONS)
  return directory


def _write_lastfm(directory: pathlib.Path, *, user_artists: str | None = None,
                  artists: str | None = None, tags: str | None = None,
                  tagged: str | None = None,
                  friends: str | None = FRIENDS) -> pathlib.Path:
  """A tiny hand-checkable Last.fm 2K (CRLF and LF like the release); users 2
  and 3, artists 51 and 52. ``friends=None`` writes no ``user_friends.dat``."""
  directory.mkdir(parents=True, exist_ok=True)
  if user_artists is None:
    user_artists = "userID\tartistID\tweight\r\n2\t51\t100\r\n2\t52\t7\r\n3\t51\t40\r\n"
  if artists is None:
    artists = "id\tname\turl\tpictureURL\n51\tBjörk\tu\tp\n52\t東京事変\tu\tp\n"
  if tags is None:
    tags = "tagID\ttagValue\r\n1\trock\r\n5\tmúsica\r\n9\tpop\r\n"
  if tagged is None:
    tagged = ("userID\tartistID\ttagID\tday\tmonth\tyear\n"
              "2\t51\t9\t1\t4\t2009\n3\t51\t5\t1\t4\t2009\n2\t51\t5\t1\t5\t2010\n"
              "3\t51\t1\t1\t5\t2010\n")
  (directory / "user_artists.dat").write_text(user_artists, newline="")
  (directory / "artists.dat").write_bytes(artists.encode("utf-8"))
  (directory / "tags.dat").write_bytes(tags.encode("latin-1"))
  (directory / "user_taggedartists.dat").write_text(tagged, newline="")
  if friends is not None:
    (directory / "user_friends.dat").write_text(friends, newline="")
  return directory


@pytest.fixture(scope="module")
def synthetic_ml100k(tmp_path_factory):
  return synthetic.write_synthetic_movielens(
      tmp_path_factory.mktemp("data") / "ml-100k", num_users=60, num_items=80,
      ratings_per_user=(10, 30), seed=3)


# ---------------------------------------------------------------------------
# MovieLens 100K.


def test_ml100k_tiny_hand_checked(tmp_path):
  data = readers.load_movielens_100k(_write_ml100k(tmp_path))
  assert data.name == "ml-100k" and data.rating_scale == (1.0, 5.0)
  np.testing.assert_array_equal(data.user_ids, [1, 2, 3])
  np.testing.assert_array_equal(data.item_ids, [10, 20, 30])
  np.testing.assert_array_equal(data.user, [0, 0, 1, 2])
  np.testing.assert_array_equal(data.item, [0, 1, 0, 2])
  np.testing.assert_array_equal(data.rating, [5, 3, 4, 1])
  np.testing.assert_array_equal(data.timestamp, [100, 200, 300, 400])
  assert data.rating.dtype == np.float32 and data.user.dtype == np.int32
  genre = data.item_features["genre"]
  # Ids are 1 + u.genre index: unknown=1, Animation=4, Comedy=6, Drama=9.
  np.testing.assert_array_equal(genre, [[4, 6, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0],
                                        [9, 0, 0, 0, 0, 0]])
  np.testing.assert_array_equal(data.item_features["genre_mask"], genre > 0)
  # 1995 -> bucket "1995"; unknown -> 0; no date but "(1989)" in title -> 1985-1989.
  names = [data.vocab_names["year"][y] for y in data.item_features["year"]]
  assert names == ["1995", "unknown", "1985-1989"]
  assert list(data.item_text) == ["Toy Story (1995) — Animation, Comedy", "unknown",
                                  "Café Noir (1989) — Drama"]
  np.testing.assert_array_equal(data.user_features["gender"], [1, 2, 1])
  np.testing.assert_array_equal(data.user_features["age"], [1, 2, 7])
  np.testing.assert_array_equal(data.user_features["occupation"], [3, 1, 2])
  assert data.vocab_names["zip"] == ["unknown", "85", "T8"]
  np.testing.assert_array_equal(data.user_features["zip"], [1, 2, 0])
  assert list(data.user_text) == ["17-year-old male technician",
                                  "24-year-old female artist", "56-year-old male other"]
  assert data.user_vocab_sizes == {"gender": 3, "age": 8, "occupation": 4, "zip": 3}
  assert data.item_vocab_sizes == {"genre": 20, "year": len(readers.YEAR_NAMES)}
  assert data.vocab_names["genre"][4] == "Animation"


@pytest.mark.parametrize("age, group", [(1, 1), (17, 1), (18, 2), (24, 2), (25, 3),
                                        (34, 3), (35, 4), (45, 5), (49, 5), (50, 6),
                                        (55, 6), (56, 7), (90, 7)])
def test_age_groups_match_ml1m(age, group):
  assert movielens._age_group(age) == group


@pytest.mark.parametrize("year, name", [(1939, "before 1940"), (1940, "1940-1949"),
                                        (1992, "1990-1992"), (1993, "1993-1994"),
                                        (1997, "1997"), (2000, "1998 and later")])
def test_year_buckets(year, name):
  assert readers.YEAR_NAMES[movielens._year_bucket(year)] == name


def test_ml100k_keeps_first_six_genres(tmp_path):
  seven = ("Action", "Adventure", "Comedy", "Crime", "Drama", "War", "Western")
  item = (f"10|A (1995)|01-Jan-1995||u|{_flags(*seven)}\n"
          f"20|B (1995)|4-Feb-1995||u|{_flags('War')}\n"
          f"30|C (1995)|01-Jan-1995||u|{_flags('War')}\n")
  data = readers.load_movielens_100k(_write_ml100k(tmp_path, item=item))
  np.testing.assert_array_equal(data.item_features["genre"][0], [2, 3, 6, 7, 9, 18])
  assert data.item_text[0].endswith("Drama, War, Western")  # text keeps all genres


def test_ml100k_crlf_whitespace_and_blank_lines(tmp_path):
  data = " 1 \t 10\t5 \t100\r\n\r\n1\t20\t3\t200\r\n2\t10\t4\t300\r\n3\t30\t1\t400\r\n\n"
  loaded = readers.load_movielens_100k(_write_ml100k(tmp_path, data=data))
  np.testing.assert_array_equal(loaded.rating, [5, 3, 4, 1])
  np.testing.assert_array_equal(loaded.user_ids, [1, 2, 3])


def test_ml100k_duplicates_keep_last_by_timestamp(tmp_path):
  data = ("1\t10\t5\t900\n1\t20\t3\t200\n2\t10\t4\t300\n3\t30\t1\t400\n"
          "1\t10\t2\t100\n3\t30\t2\t400\n")
  with pytest.warns(UserWarning, match=r"u.data: 2 duplicate \(user, item\) rows"):
    loaded = readers.load_movielens_100k(_write_ml100k(tmp_path, data=data))
  # (1, 10): timestamp 900 beats the later line at 100; (3, 30): tie -> later line.
  np.testing.assert_array_equal(loaded.rating, [5, 3, 4, 2])
  np.testing.assert_array_equal(loaded.timestamp, [900, 200, 300, 400])


@pytest.mark.parametrize("data, message", [
    ("", r"u.data: file is empty"),
    ("\n \n", r"u.data: file is empty"),
    ("1\t10\t5\t100\n1\t20\t3\n", r"u.data:2: expected 4 fields separated by '\\t', found 3"),
    ("1\t10\tfive\t100\n", r"u.data:1: rating 'five' is not a number"),
    ("1\t10\t4\t100\n\n1\t20\tnan\t1\n", r"u.data:3: rating 'nan' is not finite"),
    ("1\t10\t6\t100\n", r"u.data:1: rating 6 is outside \[1, 5\]"),
    ("1\t10\t0.5\t100\n", r"u.data:1: rating 0.5 is outside \[1, 5\]"),
    ("1\tx\t5\t100\n", r"u.data:1: item id 'x' is not an integer"),
    ("1\t10\t5\t1e9\n", r"u.data:1: timestamp '1e9' is not an integer"),
    ("1\t10\t5\t100\n9\t10\t5\t100\n", r"u.data:2: user id 9 has no line in u.user"),
    ("1\t10\t5\t100\n2\t99\t5\t100\n2\t99\t5\t1\n",
     r"u.data:2: item id 99 has no line in u.item \(1 such ids\)"),
])
def test_ml100k_bad_ratings(tmp_path, data, message):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # unrated side ids
    with pytest.raises(ValueError, match=message):
      readers.load_movielens_100k(_write_ml100k(tmp_path, data=data))


@pytest.mark.parametrize("user, message", [
    ("1|17|X|technician|1\n", r"u.user:1: unknown gender 'X'"),
    ("1|17|M|pilot|1\n", r"u.user:1: unknown occupation 'pilot'"),
    ("1|old|M|other|1\n", r"u.user:1: age 'old' is not an integer"),
    ("1|17|M|other|1\n2|3|F|other|1\n3|3|F|other|1\n1|3|F|other|1\n",
     r"u.user:4: duplicate user id 1"),
])
def test_ml100k_bad_users(tmp_path, user, message):
  with pytest.raises(ValueError, match=message):
    readers.load_movielens_100k(_write_ml100k(tmp_path, user=user))


@pytest.mark.parametrize("item, message", [
    (f"10|A (1995)|1995-01-01||u|{_flags('War')}\n",
     r"u.item:1: release date '1995-01-01' is not dd-Mon-yyyy"),
    ("10|A (1995)|01-Jan-1995||u|" + "|".join(["2"] * 19) + "\n",
     r"u.item:1: genre flags must be 0 or 1"),
    ("10|A (1995)|01-Jan-1995||u|0|1\n", r"u.item:1: expected 24 fields"),
])
def test_ml100k_bad_items(tmp_path, item, message):
  with pytest.raises(ValueError, match=message):
    readers.load_movielens_100k(_write_ml100k(tmp_path, item=item))


def test_ml100k_unrated_side_ids_warn(tmp_path):
  user = "1|17|M|technician|85711\n2|24|F|artist|T8H1N\n3|56|M|other|\n4|30|F|other|1\n"
  item = (f"10|A (1995)|01-Jan-1995||u|{_flags('War')}\n"
          f"20|B (1995)|01-Jan-1995||u|{_flags('War')}\n"
          f"30|C (1995)|01-Jan-1995||u|{_flags('War')}\n"
          f"40|D (1995)|01-Jan-1995||u|{_flags('War')}\n"
          f"50|E (1995)|01-Jan-1995||u|{_flags('War')}\n")
  with pytest.warns(UserWarning) as record:
    data = readers.load_movielens_100k(_write_ml100k(tmp_path, user=user, item=item))
  messages = sorted(str(w.message) for w in record)
  assert re.search(r"u.item: 2 item ids never appear in u.data; dropped", messages[0])
  assert re.search(r"u.user: 1 user ids never appear in u.data; dropped", messages[1])
  assert data.num_users == 3 and data.num_items == 3


def test_ml100k_missing_file(tmp_path):
  directory = _write_ml100k(tmp_path)
  (directory / "u.occupation").unlink()
  with pytest.raises(FileNotFoundError, match=r"u.occupation: file not found"):
    readers.load_movielens_100k(directory)


def test_ml100k_synthetic(synthetic_ml100k):
  data = readers.load_movielens_100k(synthetic_ml100k)
  lines = (synthetic_ml100k / "u.data").read_text().splitlines()
  assert data.num_interactions == len(lines)
  np.testing.assert_array_equal(data.user_ids, np.arange(1, 61))
  np.testing.assert_array_equal(data.item_ids, np.arange(1, 81))
  first = lines[0].split("\t")
  k = 0
  assert (data.user_ids[data.user[k]], data.item_ids[data.item[k]],
          data.rating[k], data.timestamp[k]) == tuple(int(f) for f in first)
  unknown = 80 // 2
  assert data.item_text[unknown] == "unknown"
  assert data.item_features["year"][unknown] == 0
  assert "Café" in data.item_text[0]
  assert all(re.fullmatch(r"\d+-year-old (male|female) [a-z]+", t) for t in data.user_text)
  assert (data.item_features["genre_mask"].sum(1) >= 1).all()


# ---------------------------------------------------------------------------
# MovieLens 1M.


def _write_ml1m(directory: pathlib.Path, *, movies: str | None = None,
                users: str | None = None) -> pathlib.Path:
  directory.mkdir(parents=True, exist_ok=True)
  (directory / "ratings.dat").write_text("1::1::5::978300760\n2::2::3::978302109\n")
  (directory / "movies.dat").write_bytes((movies or (
      "1::Toy Story (1995)::Animation|Children's|Comedy\n"
      "2::Misérables, Les (1935)::Drama\n")).encode("latin-1"))
  (directory / "users.dat").write_text(users or "1::F::1::10::48067\n2::M::56::16::70072-1234\n")
  return directory


def test_ml1m_tiny_hand_checked(tmp_path):
  data = readers.load_movielens_1m(_write_ml1m(tmp_path))
  assert data.name == "ml-1m"
  np.testing.assert_array_equal(data.item_features["genre"][:, :3], [[4, 5, 6], [9, 0, 0]])
  assert [data.vocab_names["year"][y] for y in data.item_features["year"]] == [
      "1995", "before 1940"]
  assert list(data.item_text) == ["Toy Story (1995) — Animation, Children's, Comedy",
                                  "Misérables, Les (1935) — Drama"]
  np.testing.assert_array_equal(data.user_features["age"], [1, 7])
  np.testing.assert_array_equal(data.user_features["gender"], [2, 1])
  np.testing.assert_array_equal(data.user_features["occupation"], [11, 17])
  assert list(data.user_text) == ["female aged under 18, K-12 student",
                                  "male aged 56+, self-employed"]
  assert data.vocab_names["zip"] == ["unknown", "48", "70"]
  assert data.item_vocab_sizes == {"genre": 20, "year": len(readers.YEAR_NAMES)}
  assert data.user_vocab_sizes["occupation"] == 22


@pytest.mark.parametrize("movies, users, message", [
    ("1::A (1995)::Drama|Noir\n2::B (1995)::Drama\n", None,
     r"movies.dat:1: unknown genre 'Noir'"),
    (None, "1::F::1::10::1\n2::M::30::1::1\n", r"users.dat:2: unknown Age '30'"),
    (None, "1::F::1::21::1\n2::M::1::1::1\n", r"users.dat:1: unknown Occupation '21'"),
    ("1::A (1995)\n", None, r"movies.dat:1: expected 3 fields separated by '::'"),
])
def test_ml1m_bad_input(tmp_path, movies, users, message):
  with pytest.raises(ValueError, match=message):
    readers.load_movielens_1m(_write_ml1m(tmp_path, movies=movies, users=users))


def test_ml1m_same_draw_as_ml100k(tmp_path):
  kwargs = dict(num_users=40, num_items=50, ratings_per_user=(5, 20), seed=1)
  a = readers.load_movielens_100k(
      synthetic.write_synthetic_movielens(tmp_path / "a", **kwargs))
  b = readers.load_movielens_1m(
      synthetic.write_synthetic_movielens(tmp_path / "b", release="ml-1m", **kwargs))
  for field in ("user", "item", "rating", "timestamp"):
    np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
  for field in ("gender", "age", "zip"):
    np.testing.assert_array_equal(a.user_features[field], b.user_features[field])
  known = a.item_text != "unknown"
  np.testing.assert_array_equal(a.item_features["genre"][known],
                                b.item_features["genre"][known])
  np.testing.assert_array_equal(a.item_text[known], b.item_text[known])
  assert a.item_vocab_sizes == b.item_vocab_sizes


# ---------------------------------------------------------------------------
# Last.fm.


def test_lastfm_tiny_hand_checked(tmp_path):
  raw = readers.load_lastfm(_write_lastfm(tmp_path), num_tags=2)
  assert raw.implicit and raw.rating_scale is None and raw.timestamp is None
  np.testing.assert_array_equal(raw.item_ids, [51, 52])
  np.testing.assert_array_equal(raw.rating, [100, 7, 40])
  # The reader keeps the assignments (internal ids; tag feature ids are 1 + rank
  # of tagID: 1 -> 1, 5 -> 2, 9 -> 3) and derives tags from no user yet.
  np.testing.assert_array_equal(raw.item_tags.user, [0, 1, 0, 1])
  np.testing.assert_array_equal(raw.item_tags.item, [0, 0, 0, 0])
  np.testing.assert_array_equal(raw.item_tags.tag, [3, 2, 2, 1])
  assert raw.item_tags.field == "tag" and raw.item_tags.width == 2
  np.testing.assert_array_equal(raw.item_features["tag"], [[0, 0], [0, 0]])
  assert list(raw.item_text) == ["Björk", "東京事変"]
  # Every user's tags: artist 51 has tag 5 twice, 1 and 9 once (tie -> tagID 1).
  data = tags.with_item_tags(raw, np.arange(raw.num_users))
  np.testing.assert_array_equal(data.item_features["tag"], [[2, 1], [0, 0]])
  np.testing.assert_array_equal(data.item_features["tag_mask"], [[1, 1], [0, 0]])
  assert data.vocab_names["tag"] == ["<pad>", "rock", "música", "pop"]
  assert data.item_vocab_sizes == {"tag": 4}
  assert list(data.item_text) == ["Björk — música, rock", "東京事変"]
  assert data.user_features == {} and data.user_text is None
  np.testing.assert_array_equal(data.friend_offsets, [0, 1, 2])
  np.testing.assert_array_equal(data.friend_ids, [1, 0])


# Artist 51 is tagged by users 2 (train) and 3 (test); artist 52 only by user 3.
HELD_OUT_TAGS = ("userID\tartistID\ttagID\tday\tmonth\tyear\n"
                 "2\t51\t9\t1\t4\t2009\n3\t51\t1\t1\t4\t2009\n"
                 "3\t51\t1\t1\t4\t2009\n2\t51\t5\t1\t5\t2010\n"
                 "3\t52\t9\t1\t5\t2010\n")


def _train_user_2_split() -> splits.ColdStartSplit:
  """Train user 2 (internal 0), test user 3 (internal 1); both artists train."""
  ids = lambda *a: np.array(a, np.int32)
  return splits.ColdStartSplit(ids(0), ids(), ids(1), ids(0, 1), ids(), ids(),
                               warm_holdout=np.array([], np.int64),
                               excluded_users=ids(), seed=0, params={})


def test_lastfm_tags_come_from_training_users_only(tmp_path):
  raw = readers.load_lastfm(_write_lastfm(tmp_path, tagged=HELD_OUT_TAGS), num_tags=3)
  split = _train_user_2_split()
  data = tags.with_item_tags(raw, split.train_users)
  # Artist 51: the train user's tags 5 (música) and 9 (pop), once each; the test
  # user's "rock" (twice, the most used over all users) is left out. Artist 52,
  # tagged by the test user only, has no tag.
  np.testing.assert_array_equal(data.item_features["tag"], [[2, 3, 0], [0, 0, 0]])
  assert list(data.item_text) == ["Björk — música, pop", "東京事変"]
  every = tags.with_item_tags(raw, [0, 1])  # what the reader used to compute
  np.testing.assert_array_equal(every.item_features["tag"], [[1, 2, 3], [3, 0, 0]])
  with pytest.raises(ValueError, match=r"users must be internal user ids in \[0, 2\)"):
    tags.with_item_tags(raw, [2])


def test_top_tags_orders_by_count_then_smaller_id():
  top = tags.top_tags(np.array([1, 1, 1, 1, 0]), np.array([7, 3, 7, 5, 2]), 3, 2)
  np.testing.assert_array_equal(top, [[2, 0], [7, 3], [0, 0]])
  with pytest.raises(ValueError, match="width must be >= 1, got 0"):
    tags.top_tags(np.array([0]), np.array([1]), 1, 0)
  with pytest.raises(ValueError, match="item and tag have 2 and 1 entries"):
    tags.top_tags(np.array([0, 0]), np.array([1]), 1, 1)


def test_prepare_uses_training_tags_for_tables_and_text(tmp_path):
  from jaxrec import prepare  # pylint: disable=import-outside-toplevel
  from experiments.configs import maml_lastfm  # pylint: disable=import-outside-toplevel
  synthetic.write_synthetic_lastfm(tmp_path / "hetrec2011-lastfm-2k", num_users=60,
                                   num_artists=80, artists_per_user=(14, 30), seed=1)
  config = maml_lastfm.get_config()
  config.data.data_dir = str(tmp_path)
  prepared = prepare.prepare(config)
  raw = readers.load_dataset("lastfm", tmp_path)
  expected = tags.with_item_tags(raw, prepared.split.train_users)
  every = tags.with_item_tags(raw, np.arange(raw.num_users))
  assert (expected.item_features["tag"] != every.item_features["tag"]).any()
  np.testing.assert_array_equal(prepared.item_table["tag"], expected.item_features["tag"])
  np.testing.assert_array_equal(prepared.interactions.item_features["tag"],
                                expected.item_features["tag"])
  np.testing.assert_array_equal(prepared.interactions.item_text, expected.item_text)


def test_lastfm_friends_round_trip_synthetic(tmp_path):
  directory = synthetic.write_synthetic_lastfm(tmp_path, num_users=30, num_artists=60,
                                               seed=4)
  data = readers.load_lastfm(directory)
  rows = (directory / "user_friends.dat").read_bytes().decode().split("\r\n")[1:]
  pairs = {tuple(map(int, r.split("\t"))) for r in rows if r}
  assert len(pairs) == len(data.friend_ids)
  owner = np.repeat(data.user_ids, np.diff(data.friend_offsets))
  assert set(zip(owner.tolist(), data.user_ids[data.friend_ids].tolist())) == pairs
  u = int(np.argmax(np.diff(data.friend_offsets)))
  friends = graph.friends_of(data, u)
  np.testing.assert_array_equal(friends, np.sort(friends))
  among = friends[::2]
  np.testing.assert_array_equal(graph.friends_of(data, u, among=among), among)
  assert graph.friends_of(data, u, among=np.array([u])).size == 0


def test_lastfm_friends_crlf_and_lf_parse_alike(tmp_path):
  crlf = readers.load_lastfm(_write_lastfm(tmp_path / "crlf"))
  lf = readers.load_lastfm(_write_lastfm(tmp_path / "lf",
                                         friends=FRIENDS.replace("\r", "")))
  np.testing.assert_array_equal(crlf.friend_ids, lf.friend_ids)
  np.testing.assert_array_equal(crlf.friend_offsets, lf.friend_offsets)


def test_lastfm_friends_self_loops_repeats_and_one_way_rows(tmp_path):
  friends = ("userID\tfriendID\r\n2\t2\r\n2\t3\r\n2\t3\r\n3\t3\r\n"
             "4\t2\r\n")
  user_artists = "userID\tartistID\tweight\r\n2\t51\t1\r\n3\t51\t2\r\n4\t52\t3\r\n"
  with pytest.warns(UserWarning) as record:
    data = readers.load_lastfm(_write_lastfm(tmp_path, friends=friends,
                                             user_artists=user_artists))
  messages = " | ".join(str(w.message) for w in record)
  assert "user_friends.dat: 2 self-loop rows and 1 repeated rows dropped" in messages
  assert ("user_friends.dat: 2 friendships are listed in one direction only; "
          "symmetrised") in messages
  # Users 2, 3, 4 are internal 0, 1, 2: 2-3 and 4-2, both ways.
  np.testing.assert_array_equal(data.friend_offsets, [0, 2, 3, 4])
  np.testing.assert_array_equal(data.friend_ids, [1, 2, 0, 0])


@pytest.mark.parametrize("friends, message", [
    ("userID\tfriendID\r\n2\t3\r\n3\t9\r\n",
     r"user_friends.dat:3: friendID 9 is not a user of user_artists.dat"),
    ("userID\tfriendID\r\n2\t3\r\n\r\n7\t2\r\n",
     r"user_friends.dat:4: userID 7 is not a user of user_artists.dat"),
    ("userID\tfriendID\r\n2\tx\r\n",
     r"user_friends.dat:2: friendID 'x' is not an integer"),
    ("user\tfriend\r\n2\t3\r\n", r"user_friends.dat:1: expected header"),
    ("userID\tfriendID\r\n2\t3\t4\r\n", r"user_friends.dat:2: expected 2 fields"),
])
def test_lastfm_bad_friends(tmp_path, friends, message):
  with pytest.raises(ValueError, match=message):
    readers.load_lastfm(_write_lastfm(tmp_path, friends=friends))


def test_lastfm_without_friends_file_has_no_graph(tmp_path):
  data = readers.load_lastfm(_write_lastfm(tmp_path, friends=None))
  assert data.friend_offsets is None and data.friend_ids is None
  with pytest.raises(ValueError, match="lastfm: no friend graph"):
    graph.friends_of(data, 0)
  assert "user_friends.dat" in readers.LOADERS["lastfm"][1]  # the release has it


def test_friend_graph_is_validated(tmp_path):
  data = readers.load_lastfm(_write_lastfm(tmp_path))
  with pytest.raises(ValueError, match="user 5 is not an internal user id in \\[0, 2\\)"):
    graph.friends_of(data, 5)
  for offsets, ids, message in (
      ([0, 1, 1], [1], "not symmetric"),
      ([0, 1, 2], [0, 1], "user 0 is its own friend"),
      ([0, 2], [1, 0], r"friend_offsets has shape \(2,\)"),
      ([0, 1, 3], [1, 0, 0], "not sorted or has a repeat"),
      ([0, 1, 2], [1, 2], r"friend_ids outside \[0, 2\)")):
    bad = dataclasses.replace(data, friend_offsets=np.array(offsets, np.int64),
                              friend_ids=np.array(ids, np.int32))
    with pytest.raises(ValueError, match=message):
      bad.validate()
  with pytest.raises(ValueError, match="must both be set or both be None"):
    dataclasses.replace(data, friend_ids=None).validate()


def test_lastfm_quirks_warn_and_are_dropped_or_kept(tmp_path):
  tagged = ("userID\tartistID\ttagID\tday\tmonth\tyear\n"
            "2\t51\t9\t1\t4\t1956\n2\t77\t1\t1\t4\t2009\n3\t77\t5\t1\t4\t2009\n"
            "3\t78\t5\t1\t4\t2009\n")
  with pytest.warns(UserWarning) as record:
    data = readers.load_lastfm(_write_lastfm(tmp_path, tagged=tagged))
  messages = " | ".join(str(w.message) for w in record)
  assert re.search(r"1 tag assignments dated outside 2002-2011 \(years \[1956\]\); kept",
                   messages)
  assert re.search(r"3 tag assignments reference 2 artist ids that are not in "
                   r"user_artists.dat; dropped", messages)
  np.testing.assert_array_equal(data.item_tags.tag, [3])
  np.testing.assert_array_equal(
      tags.with_item_tags(data, [0, 1]).item_features["tag"][:, 0], [3, 0])


def test_lastfm_tags_of_unknown_users_are_dropped(tmp_path):
  tagged = ("userID\tartistID\ttagID\tday\tmonth\tyear\n"
            "2\t51\t9\t1\t4\t2009\n8\t51\t1\t1\t4\t2009\n")
  with pytest.warns(UserWarning, match=r"1 tag assignments reference 1 user ids "
                                       r"that are not in user_artists.dat; dropped"):
    data = readers.load_lastfm(_write_lastfm(tmp_path, tagged=tagged))
  np.testing.assert_array_equal(data.item_tags.user, [0])


def test_lastfm_extra_artists_warn(tmp_path):
  artists = "id\tname\turl\tpictureURL\n51\tA\tu\tp\n52\tB\tu\tp\n53\tC\tu\tp\n"
  with pytest.warns(UserWarning, match=r"artists.dat: 1 item ids never appear"):
    data = readers.load_lastfm(_write_lastfm(tmp_path, artists=artists))
  assert data.num_items == 2


@pytest.mark.parametrize("files, message", [
    ({"user_artists": "userID\tartistID\r\n2\t51\r\n"},
     r"user_artists.dat:1: expected header 'userID\\tartistID\\tweight'"),
    ({"user_artists": "userID\tartistID\tweight\r\n2\t51\t0\r\n"},
     r"user_artists.dat:2: weight 0 is not a positive play count"),
    ({"user_artists": "userID\tartistID\tweight\r\n"}, r"user_artists.dat: file is empty"),
    ({"user_artists": "userID\tartistID\tweight\r\n2\t51\t3\r\n2\t60\t3\r\n"},
     r"user_artists.dat:3: item id 60 has no line in artists.dat"),
    ({"tagged": "userID\tartistID\ttagID\tday\tmonth\tyear\n2\t51\t4\t1\t1\t2009\n"},
     r"user_taggedartists.dat:2: tagID 4 is not in tags.dat"),
    ({"tagged": "userID\tartistID\ttagID\tday\tmonth\tyear\n2\t51\t4\t1\t1\n"},
     r"user_taggedartists.dat:2: expected 6 fields"),
])
def test_lastfm_bad_input(tmp_path, files, message):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    with pytest.raises(ValueError, match=message):
      readers.load_lastfm(_write_lastfm(tmp_path, **files))


def test_lastfm_invalid_utf8_names_the_line(tmp_path):
  directory = _write_lastfm(tmp_path)
  (directory / "artists.dat").write_bytes(
      "id\tname\turl\tpictureURL\n51\tA\tu\tp\n52\tCafé\tu\tp\n".encode("latin-1"))
  with pytest.raises(ValueError, match=r"artists.dat:3: bytes are not valid utf-8"):
    readers.load_lastfm(directory)


def test_lastfm_num_tags_must_be_positive(tmp_path):
  with pytest.raises(ValueError, match="num_tags must be >= 1, got 0"):
    readers.load_lastfm(_write_lastfm(tmp_path), num_tags=0)


def test_lastfm_synthetic(tmp_path):
  directory = synthetic.write_synthetic_lastfm(
      tmp_path, num_users=30, num_artists=60, orphan_tagged_artists=4,
      implausible_years=2, seed=5)
  with pytest.warns(UserWarning) as record:
    data = readers.load_lastfm(directory, num_tags=3)
  messages = " | ".join(str(w.message) for w in record)
  assert "2 tag assignments dated outside" in messages
  assert "4 tag assignments reference 4 artist ids" in messages
  lines = (directory / "user_artists.dat").read_bytes().split(b"\r\n")
  assert data.num_interactions == len([line for line in lines[1:] if line])
  assert data.num_users == 30 and data.num_items == 60
  assert data.item_features["tag"].shape == (60, 3)
  assert any(not t.isascii() for t in data.item_text)


# ---------------------------------------------------------------------------
# CSV.


def test_csv_comma_string_ids_and_timestamps(tmp_path):
  path = tmp_path / "ratings.csv"
  path.write_text("uid,iid,stars,time\nbob,x1,4.5,10\nann,x2,2,20\n bob , x2 ,1,30\n")
  data = readers.load_csv(path, user_col="uid", item_col="iid", rating_col="stars",
                          timestamp_col="time", rating_scale=(0.5, 5.0))
  assert data.name == "ratings"
  assert list(data.user_ids) == ["ann", "bob"] and list(data.item_ids) == ["x1", "x2"]
  np.testing.assert_array_equal(data.user, [1, 0, 1])
  np.testing.assert_array_equal(data.item, [0, 1, 1])
  np.testing.assert_array_equal(data.rating, [4.5, 2, 1])
  np.testing.assert_array_equal(data.timestamp, [10, 20, 30])
  assert list(data.item_text) == ["x1", "x2"]
  assert data.rating_scale == (0.5, 5.0) and not data.implicit


def test_csv_tab_integer_ids_implicit_without_ratings(tmp_path):
  path = tmp_path / "clicks.tsv"
  path.write_text("user\titem\n10\t7\n2\t7\n2\t30\n")
  data = readers.load_csv(path, rating_col=None, implicit=True, name="clicks",
                          rating_scale=(1, 5))
  np.testing.assert_array_equal(data.user_ids, [2, 10])  # numeric order, not "10" < "2"
  np.testing.assert_array_equal(data.item_ids, [7, 30])
  np.testing.assert_array_equal(data.rating, [1, 1, 1])
  assert data.implicit and data.rating_scale is None and data.timestamp is None


@pytest.mark.parametrize("text, kwargs, message", [
    ("u,i,r\n1,2,3\n", {}, r"ratings.csv:1: no column 'user' for the user"),
    ("user,item,rating\n1,2,3\n1,3,9\n", {"rating_scale": (1, 5)},
     r"ratings.csv:3: rating 9 is outside \[1, 5\]"),
    ("user,item,rating\n1,2,3,4\n", {}, r"ratings.csv:2: expected 3 fields separated by ','"),
    ("user,item,rating\n1,2,inf\n", {}, r"ratings.csv:2: rating 'inf' is not finite"),
    ("user,item,rating\n", {}, r"ratings.csv: file is empty \(no data lines\)"),
])
def test_csv_bad_input(tmp_path, text, kwargs, message):
  path = tmp_path / "ratings.csv"
  path.write_text(text)
  with pytest.raises(ValueError, match=message):
    readers.load_csv(path, **kwargs)


# ---------------------------------------------------------------------------
# Registry, summary, CLI.


def test_load_dataset_resolves_argument_then_env(tmp_path, monkeypatch):
  _write_ml100k(tmp_path / "ml-100k")
  monkeypatch.delenv(readers.DATA_DIR_ENV, raising=False)
  assert readers.load_dataset("ml-100k", tmp_path).num_interactions == 4
  monkeypatch.setenv(readers.DATA_DIR_ENV, str(tmp_path))
  assert readers.load_dataset("ml-100k").num_interactions == 4


def test_load_dataset_missing_files_message(tmp_path, monkeypatch):
  monkeypatch.delenv(readers.DATA_DIR_ENV, raising=False)
  with pytest.raises(FileNotFoundError) as info:
    readers.load_dataset("lastfm", tmp_path)
  message = str(info.value)
  assert str(tmp_path / "hetrec2011-lastfm-2k") in message
  assert "user_artists.dat" in message and "JAXREC_DATA_DIR" in message
  assert "download=True" in message and "hetrec2011-lastfm-2k.zip" in message
  with pytest.raises(FileNotFoundError, match="pass data_dir=... or set JAXREC_DATA_DIR"):
    readers.load_dataset("ml-1m")
  with pytest.raises(ValueError, match=r"unknown dataset 'ml-20m'"):
    readers.load_dataset("ml-20m", tmp_path)


def test_load_dataset_download_calls_fetch(tmp_path, monkeypatch):
  calls = []

  def fake_fetch(name, data_dir):
    calls.append((name, pathlib.Path(data_dir)))
    return synthetic.write_synthetic_movielens(
        pathlib.Path(data_dir) / "ml-1m", num_users=20, num_items=30,
        ratings_per_user=(5, 10), release="ml-1m")

  monkeypatch.setattr(download, "fetch", fake_fetch)
  data = readers.load_dataset("ml-1m", tmp_path, download=True)
  assert calls == [("ml-1m", tmp_path)] and data.num_users == 20
  readers.load_dataset("ml-1m", tmp_path, download=True)
  assert len(calls) == 1  # files present: no second download


def test_summary_hand_computed(tmp_path):
  stats = readers.summary(readers.load_movielens_100k(_write_ml100k(tmp_path)))
  assert stats == {"name": "ml-100k", "users": 3, "items": 3, "interactions": 4,
                   "density": 4 / 9,
                   "ratings_per_user": {"min": 1, "median": 1.0, "max": 2},
                   "implicit": False, "rating_scale": [1.0, 5.0]}


def test_cli_prints_json(tmp_path, capsys):
  _write_ml100k(tmp_path / "ml-100k")
  readers.main(["--dataset=ml-100k", f"--data_dir={tmp_path}"])
  assert json.loads(capsys.readouterr().out)["interactions"] == 4


def test_python_m_cli_prints_json(tmp_path):
  _write_ml100k(tmp_path / "ml-100k")
  result = subprocess.run(
      [sys.executable, "-m", "jaxrec.data.readers", "--dataset=ml-100k",
       f"--data_dir={tmp_path}"], capture_output=True, text=True, check=False,
      timeout=120, cwd=pathlib.Path(__file__).resolve().parents[1])
  assert result.returncode == 0, result.stderr
  assert json.loads(result.stdout)["interactions"] == 4


def test_package_exports_each_public_name_from_its_module():
  for name in readers.__all__:
    assert getattr(readers, name) is not None, name
  assert readers.load_movielens_1m is movielens.load_movielens_1m
  assert readers.load_lastfm is lastfm.load_lastfm
  assert readers.load_csv is csv_reader.load_csv
  assert set(readers.LOADERS) == {"ml-100k", "ml-1m", "lastfm"}


# ---------------------------------------------------------------------------
# Real data (skipped when ../shared/data is absent).


@pytest.mark.realdata
def test_real_ml100k(shared_data_dir):
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # the real release needs no warning
    data = readers.load_dataset("ml-100k", shared_data_dir)
  assert (data.num_interactions, data.num_users, data.num_items) == (100_000, 943, 1682)
  k = int(np.flatnonzero(data.item_ids == 267)[0])
  assert data.item_text[k] == "unknown" and data.item_features["year"][k] == 0
  assert np.bincount(data.user).min() >= 20
  zips = data.vocab_names["zip"]
  alpha = [z for z in zips[1:] if not z.isdigit()]
  assert np.isin(data.user_features["zip"], [zips.index(z) for z in alpha]).sum() == 18
  assert data.item_features["genre_mask"].sum(1).max() <= 6
  assert sum(not t.isascii() for t in data.item_text) >= 9
  np.testing.assert_array_equal(np.unique(data.rating), [1, 2, 3, 4, 5])


@pytest.mark.realdata
def test_real_lastfm(shared_data_dir):
  with pytest.warns(UserWarning) as record:
    data = readers.load_dataset("lastfm", shared_data_dir)
  messages = " | ".join(str(w.message) for w in record)
  assert "1538 tag assignments reference 390 artist ids" in messages
  assert "5 tag assignments dated outside 2002-2011 (years [1956, 1957, 1979])" in messages
  assert (data.num_users, data.num_interactions, data.num_items) == (1892, 92_834, 17_632)
  assert data.implicit and data.rating.max() == 352_698
  assert data.item_features["tag"].shape == (17_632, 5)
  assert data.item_vocab_sizes["tag"] == 11_947
  assert not any("user_friends.dat" in str(w.message) for w in record)
  assert len(data.friend_ids) == 25_434  # every pair is listed both ways
  assert (np.diff(data.friend_offsets) > 0).all()
  # Seed-0 split (the configs' defaults): tags from training users only change
  # the top-5 tag set of 2,905 of the 12,133 tagged artists; 696 lose every tag.
  split = splits.random_split(data, seed=0)
  every = tags.with_item_tags(data, np.arange(data.num_users)).item_features["tag"]
  train = tags.with_item_tags(data, split.train_users).item_features["tag"]
  changed = [set(a[a > 0]) != set(b[b > 0]) for a, b in zip(every, train)]
  assert ((every[:, 0] > 0).sum(), sum(changed)) == (12_133, 2_905)
  assert ((every[:, 0] > 0) & (train[:, 0] == 0)).sum() == 696
