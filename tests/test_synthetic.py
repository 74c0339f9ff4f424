"""Tests for jaxrec.data.synthetic: exact raw formats, determinism, planted structure."""

import filecmp

import numpy as np
import pytest

from jaxrec.data import readers, synthetic
from jaxrec.data import tags as tags_lib

ML100K_FILES = ("u.data", "u.item", "u.user", "u.genre", "u.occupation")
LASTFM_FILES = ("user_artists.dat", "artists.dat", "tags.dat", "user_taggedartists.dat",
                "user_friends.dat")


@pytest.fixture(scope="module")
def ml100k(tmp_path_factory):
  return synthetic.write_synthetic_movielens(tmp_path_factory.mktemp("s") / "ml-100k")


def test_ml100k_raw_format(ml100k):
  assert (ml100k / "u.genre").read_bytes().startswith(b"unknown|0\nAction|1\n")
  assert (ml100k / "u.genre").read_bytes().endswith(b"Western|18\n\n")
  item = (ml100k / "u.item").read_bytes()
  with pytest.raises(UnicodeDecodeError):
    item.decode("utf-8")  # latin-1 bytes, like the real file
  lines = item.decode("latin-1").splitlines()
  assert len(lines) == 400
  assert lines[200] == "201|unknown||||1" + "|0" * 18
  assert "Café" in lines[0]
  fields = lines[1].split("|")
  assert len(fields) == 24 and fields[3] == ""
  assert fields[2][2] == "-" and fields[2][-4:] == fields[1][-5:-1]  # dd-Mon-yyyy
  for line in (ml100k / "u.data").read_text().splitlines():
    user, item_id, rating, timestamp = map(int, line.split("\t"))
    assert 1 <= user <= 300 and 1 <= item_id <= 400 and 1 <= rating <= 5
    assert 874_724_710 <= timestamp < 874_724_710 + 16_000_000
  users = [u.split("|") for u in (ml100k / "u.user").read_text().splitlines()]
  assert all(len(u) == 5 and u[2] in "MF" for u in users)
  assert any(not u[4].isdigit() for u in users)


def test_ml100k_counts_and_coverage(ml100k):
  data = readers.load_movielens_100k(ml100k)
  per_user = np.bincount(data.user)
  assert data.num_users == 300 and data.num_items == 400
  assert per_user.min() >= 20
  assert np.unique(data.rating).tolist() == [1, 2, 3, 4, 5]


def test_deterministic_in_seed(tmp_path):
  for name in ("a", "b"):
    synthetic.write_synthetic_movielens(tmp_path / name, num_users=30, num_items=40,
                                        ratings_per_user=(5, 10), seed=7)
    synthetic.write_synthetic_lastfm(tmp_path / f"l{name}", num_users=20,
                                     num_artists=30, artists_per_user=(3, 8), seed=7)
  synthetic.write_synthetic_movielens(tmp_path / "c", num_users=30, num_items=40,
                                      ratings_per_user=(5, 10), seed=8)
  match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b",
                                             ML100K_FILES, shallow=False)
  assert len(match) == 5 and not mismatch and not errors
  match, _, _ = filecmp.cmpfiles(tmp_path / "la", tmp_path / "lb", LASTFM_FILES,
                                 shallow=False)
  assert len(match) == 5
  assert not filecmp.cmp(tmp_path / "a" / "u.data", tmp_path / "c" / "u.data",
                         shallow=False)


def _rmse_with_and_without_adaptation(data, support: int = 10):
  """Query RMSE of item-mean predictions, and of the same plus a per-user ridge
  regression on genres fitted to `support` ratings of that user."""
  genres = np.zeros((data.num_items, 20))
  rows = np.arange(data.num_items)
  for k in range(data.item_features["genre"].shape[1]):
    genres[rows, data.item_features["genre"][:, k]] += data.item_features["genre_mask"][:, k]
  genres = genres[:, 2:]  # drop padding and "unknown"
  rng = np.random.default_rng(0)
  base, adapted = [], []
  for u in range(data.num_users):
    rated = rng.permutation(np.flatnonzero(data.user == u))
    sup, qry = rated[:support], rated[support:]
    others = np.ones(len(data.user), bool)
    others[rated] = False
    mean = data.rating[others].mean()
    counts = np.bincount(data.item[others], minlength=data.num_items)
    sums = np.bincount(data.item[others], data.rating[others], minlength=data.num_items)
    prior = mean + (sums - counts * mean) / (counts + 5.0)
    x_sup = np.c_[np.ones(len(sup)), genres[data.item[sup]]]
    x_qry = np.c_[np.ones(len(qry)), genres[data.item[qry]]]
    w = np.linalg.solve(x_sup.T @ x_sup + np.eye(x_sup.shape[1]),
                        x_sup.T @ (data.rating[sup] - prior[data.item[sup]]))
    base.append(data.rating[qry] - prior[data.item[qry]])
    adapted.append(data.rating[qry] - prior[data.item[qry]] - x_qry @ w)
  return (np.sqrt(np.mean(np.concatenate(base) ** 2)),
          np.sqrt(np.mean(np.concatenate(adapted) ** 2)))


def test_adapting_to_a_user_helps(ml100k):
  base, adapted = _rmse_with_and_without_adaptation(readers.load_movielens_100k(ml100k))
  assert adapted < 0.9 * base


def test_no_taste_means_adaptation_does_not_help(tmp_path):
  directory = synthetic.write_synthetic_movielens(tmp_path, taste_scale=0.0,
                                                  user_bias_scale=0.0)
  base, adapted = _rmse_with_and_without_adaptation(readers.load_movielens_100k(directory))
  assert adapted > 0.97 * base


def test_ml1m_release_format(tmp_path):
  directory = synthetic.write_synthetic_movielens(
      tmp_path, num_users=20, num_items=30, ratings_per_user=(5, 10), release="ml-1m")
  movies = (directory / "movies.dat").read_bytes().decode("latin-1").splitlines()
  assert movies[15] == "16::unknown (1995)::Drama"
  users = [u.split("::") for u in (directory / "users.dat").read_text().splitlines()]
  assert {u[2] for u in users} <= {"1", "18", "25", "35", "45", "50", "56"}
  assert all(0 <= int(u[3]) <= 20 for u in users)
  assert readers.load_movielens_1m(directory).num_items == 30


def test_lastfm_line_endings_and_encodings(tmp_path):
  directory = synthetic.write_synthetic_lastfm(tmp_path, num_users=20, num_artists=30,
                                               artists_per_user=(3, 8))
  for name, crlf in (("user_artists.dat", True), ("tags.dat", True),
                     ("user_friends.dat", True), ("artists.dat", False),
                     ("user_taggedartists.dat", False)):
    raw = (directory / name).read_bytes()
    assert (raw.count(b"\r\n") == raw.count(b"\n")) if crlf else b"\r" not in raw, name
  names = (directory / "artists.dat").read_text(encoding="utf-8")
  assert any(ord(c) > 255 for c in names)  # outside latin-1: UTF-8 is required
  assert b"m\xfasica latina" in (directory / "tags.dat").read_bytes()
  user_ids = {int(row.split(b"\t")[0]) for row in
              (directory / "user_artists.dat").read_bytes().splitlines()[1:]}
  assert min(user_ids) == 2


def _tag_similarity_ratio(data) -> float:
  """Mean tag cosine similarity of artist pairs sharing a listener / of all pairs
  (tags from every user's assignments)."""
  data = tags_lib.with_item_tags(data, np.arange(data.num_users))
  tags = np.zeros((data.num_items, data.item_vocab_sizes["tag"]))
  for k in range(data.item_features["tag"].shape[1]):
    tags[np.arange(data.num_items), data.item_features["tag"][:, k]] = 1
  tags[:, 0] = 0
  tags /= np.maximum(np.linalg.norm(tags, axis=1, keepdims=True), 1e-9)
  similarity = tags @ tags.T
  same_user = []
  for u in range(data.num_users):
    items = data.item[data.user == u]
    same_user.append(similarity[np.ix_(items, items)][np.triu_indices(len(items), 1)].mean())
  return np.mean(same_user) / similarity[np.triu_indices(data.num_items, 1)].mean()


@pytest.mark.parametrize("taste_scale, low, high", [(3.0, 1.25, np.inf), (0.0, 0, 1.15)])
def test_lastfm_taste_drives_listening(tmp_path, taste_scale, low, high):
  """With taste, a user's artists share more tags than random artist pairs."""
  directory = synthetic.write_synthetic_lastfm(
      tmp_path, num_users=60, num_artists=120, tag_probability=1.0, seed=2,
      taste_scale=taste_scale)
  assert low < _tag_similarity_ratio(readers.load_lastfm(directory, num_tags=4)) < high


def _same_taste_fractions(directory, seed: int, num_users: int,
                          num_artists: int) -> tuple[float, float]:
  """Share of friend pairs with the same planted favourite tag, and the same
  share over all user pairs (chance)."""
  _, _, taste = synthetic.lastfm._lastfm_model(  # pylint: disable=protected-access
      np.random.default_rng(seed), num_users, num_artists, 20, 3.0)
  favourite = taste.argmax(1)  # raw user id u + 2 is user index u
  data = readers.load_lastfm(directory)
  owner = np.repeat(np.arange(data.num_users), np.diff(data.friend_offsets))
  index = data.user_ids - 2
  friends = (favourite[index[owner]] == favourite[index[data.friend_ids]]).mean()
  same = favourite[:, None] == favourite[None, :]
  chance = same[np.triu_indices(num_users, 1)].mean()
  return friends, chance


@pytest.mark.parametrize("homophily", [0.8, 0.0])
def test_lastfm_friends_follow_planted_tastes(tmp_path, homophily):
  """Friends share their favourite tag far above chance, at chance without homophily."""
  directory = synthetic.write_synthetic_lastfm(
      tmp_path, num_users=150, num_artists=100, seed=6, homophily=homophily)
  friends, chance = _same_taste_fractions(directory, 6, 150, 100)
  assert chance < 0.15
  if homophily:
    assert friends > 0.6 > 4 * chance
  else:
    assert friends < 2 * chance


@pytest.mark.parametrize("kwargs, message", [
    ({"ratings_per_user": (10, 5)}, r"ratings_per_user \(10, 5\) must satisfy"),
    ({"num_items": 1}, r"need num_users >= 1 and num_items >= 2"),
    ({"release": "ml-20m"}, r"release must be 'ml-100k' or 'ml-1m'"),
])
def test_movielens_bad_arguments(tmp_path, kwargs, message):
  with pytest.raises(ValueError, match=message):
    synthetic.write_synthetic_movielens(tmp_path, **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"artists_per_user": (0, 5)}, r"artists_per_user \(0, 5\) must satisfy"),
    ({"num_tags": 99}, r"num_tags must be in \[1, 20\], got 99"),
    ({"num_users": 1}, r"num_users must be >= 2 \(friendships need two users\)"),
    ({"friends_per_user": (0, 3)}, r"friends_per_user \(0, 3\) must satisfy"),
    ({"homophily": 1.5}, r"homophily must be in \[0, 1\], got 1.5"),
])
def test_lastfm_bad_arguments(tmp_path, kwargs, message):
  with pytest.raises(ValueError, match=message):
    synthetic.write_synthetic_lastfm(tmp_path, **kwargs)


def test_cover_every_item_gives_unchosen_items_one_user():
  """Both writers' shared step: the chosen pairs in order, then one pair per item
  nobody chose, with a user drawn from the generator."""
  from jaxrec.data.synthetic import _shared  # pylint: disable=import-outside-toplevel
  chosen = [np.array([3, 0]), np.array([], np.int64), np.array([0])]
  user, item = _shared.cover_every_item(chosen, 5, np.random.default_rng(0))
  np.testing.assert_array_equal(user[:3], [0, 0, 2])
  np.testing.assert_array_equal(item, [3, 0, 0, 1, 2, 4])
  np.testing.assert_array_equal(user[3:], np.random.default_rng(0).integers(3, size=3))


def test_synthetic_package_re_exports_through_all():
  assert sorted(synthetic.__all__) == ["write_synthetic_lastfm", "write_synthetic_movielens"]
  assert synthetic.write_synthetic_lastfm is synthetic.lastfm.write_synthetic_lastfm
  assert synthetic.write_synthetic_movielens is synthetic.movielens.write_synthetic_movielens
