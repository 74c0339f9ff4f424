"""Synthetic datasets with planted per-user structure, in the raw release formats.

The writers produce files that the readers of `jaxrec.data.readers` parse
exactly like the real releases (encodings, separators, line endings, quirks),
so tests and examples can run without the real data.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import urllib.parse

import numpy as np

from jaxrec.data.readers.movielens import AGE_GROUP_STARTS, ML_GENRES

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
           "Nov", "Dec")
_OCCUPATIONS_100K = (
    "administrator", "artist", "doctor", "educator", "engineer", "entertainment",
    "executive", "healthcare", "homemaker", "lawyer", "librarian", "marketing",
    "none", "other", "programmer", "retired", "salesman", "scientist", "student",
    "technician", "writer")
# Title words; the accented ones exercise latin-1 decoding ("Café" is always used).
_ADJECTIVES = ("Silent", "Crimson", "Lost", "Golden", "Wild", "Dark", "Última",
               "Broken", "Hidden", "Señor", "Frozen", "Little", "Électrique")
_NOUNS = ("River", "Café", "Garden", "Heist", "Summer", "Noël", "Empire", "Road",
          "Mirror", "Storm", "Château", "Harbor", "Frontier")
_TAG_WORDS = ("rock", "pop", "jazz", "metal", "indie", "electronic", "folk",
              "hip-hop", "ambient", "punk", "soul", "blues", "classical",
              "música latina", "dance", "trip-hop", "shoegaze", "grunge", "emo",
              "chillout")
# Artist names; UTF-8 in artists.dat, including characters outside latin-1.
_ARTIST_WORDS = ("Echo", "Björk", "Sigur", "東京", "Velvet", "Neon", "Æther",
                 "Kraft", "Łódź", "Moon", "Ørn", "Static")
_MIN_TIME = 874_724_710  # 1997-09-20, the start of ML-100K's rating period
_SPAN = 16_000_000  # about six months, like ML-100K


@dataclasses.dataclass(frozen=True)
class _MovieLensSample:
  """One draw of the MovieLens generative model (raw ids are index + 1)."""
  genres: np.ndarray  # bool[I, 19] u.genre flags (index 0 = "unknown")
  years: np.ndarray  # int[I] release year, 0 for the unknown item
  titles: list[str]  # [I], with " (year)" except for the unknown item
  age: np.ndarray  # int[U] years
  gender: np.ndarray  # int[U] 0 = M, 1 = F
  occupation: np.ndarray  # int[U] in [0, 21)
  zips: list[str]  # [U]
  user: np.ndarray  # int[N] 0-based user index
  item: np.ndarray  # int[N] 0-based item index
  rating: np.ndarray  # int[N] in 1..5
  timestamp: np.ndarray  # int[N]


def _sample_movielens(num_users: int, num_items: int, seed: int,
                      ratings_per_user: tuple[int, int], noise: float,
                      taste_scale: float, demographic_share: float,
                      user_bias_scale: float, item_bias_scale: float,
                      global_mean: float) -> _MovieLensSample:
  """Draws items, users and ratings (see `write_synthetic_movielens`)."""
  low, high = ratings_per_user
  if num_users < 1 or num_items < 2:
    raise ValueError(f"need num_users >= 1 and num_items >= 2, got {num_users}, "
                     f"{num_items}")
  if not 1 <= low <= high <= num_items:
    raise ValueError(f"ratings_per_user {ratings_per_user} must satisfy "
                     f"1 <= low <= high <= num_items={num_items}")
  rng = np.random.default_rng(seed)
  num_genres = len(ML_GENRES) - 1  # real genres, without "unknown"
  unknown_item = num_items // 2

  # Items: 1-3 genres drawn by genre popularity, a quality bias, a popularity.
  genre_popularity = rng.dirichlet(np.full(num_genres, 2.0))
  genres = np.zeros((num_items, len(ML_GENRES)), bool)
  for i in range(num_items):
    count = rng.choice(3, p=(0.5, 0.35, 0.15)) + 1
    genres[i, 1 + rng.choice(num_genres, count, replace=False,
                             p=genre_popularity)] = True
  genres[unknown_item] = False
  genres[unknown_item, 0] = True
  item_bias = rng.normal(0.0, item_bias_scale, num_items)
  popularity = np.exp(rng.normal(0.0, 1.0, num_items))
  years = np.clip(1998 - rng.exponential(8.0, num_items).astype(int), 1922, 1998)
  years[unknown_item] = 0
  titles = []
  for i in range(num_items):
    words = (_ADJECTIVES[rng.integers(len(_ADJECTIVES))],
             "Café" if i == 0 else _NOUNS[rng.integers(len(_NOUNS))])
    titles.append(f"{words[0]} {words[1]} {i + 1} ({years[i]})")
  titles[unknown_item] = "unknown"

  # Users: demographics, then taste = shared demographic part + individual part.
  age = rng.integers(7, 74, num_users)
  gender = (rng.random(num_users) < 0.3).astype(int)
  occupation = rng.integers(len(_OCCUPATIONS_100K), size=num_users)
  group = np.searchsorted(AGE_GROUP_STARTS, age, "right")
  age_proto = rng.normal(size=(len(AGE_GROUP_STARTS) + 1, num_genres))
  gender_proto = rng.normal(size=(2, num_genres))
  shared = (age_proto[group] + gender_proto[gender]) / np.sqrt(2.0)
  taste = taste_scale * (np.sqrt(demographic_share) * shared
                         + np.sqrt(1.0 - demographic_share)
                         * rng.normal(size=(num_users, num_genres)))
  user_bias = rng.normal(0.0, user_bias_scale, num_users)
  zips = []
  for _ in range(num_users):
    if rng.random() < 0.05:  # Canadian postal code, like 18 ML-100K users
      letters = rng.choice(list("ABCEGHJKLMNPRSTVXY"), 3)
      digits = rng.integers(10, size=2)
      zips.append(f"{letters[0]}{digits[0]}{letters[1]}{digits[1]}{letters[2]}")
    else:
      zips.append(f"{rng.integers(100000):05d}")

  # Which items each user rates: popularity-weighted, without replacement;
  # then every item nobody drew goes to one random user.
  chosen = [rng.choice(num_items, rng.integers(low, high + 1), replace=False,
                       p=popularity / popularity.sum()) for _ in range(num_users)]
  user = np.concatenate([np.full(len(c), u) for u, c in enumerate(chosen)])
  item = np.concatenate(chosen)
  unrated = np.setdiff1d(np.arange(num_items), item)
  user = np.concatenate([user, rng.integers(num_users, size=len(unrated))])
  item = np.concatenate([item, unrated])

  affinity = np.einsum("ng,ng->n", taste[user], genres[item, 1:].astype(float))
  score = (global_mean + user_bias[user] + item_bias[item] + affinity
           + rng.normal(0.0, noise, len(user)))
  rating = np.clip(np.round(score), 1, 5).astype(int)
  start = _MIN_TIME + rng.integers(_SPAN // 2, size=num_users)
  timestamp = start[user] + rng.integers(_SPAN // 2, size=len(user))
  order = rng.permutation(len(user))
  return _MovieLensSample(genres, years, titles, age, gender, occupation, zips,
                          user[order], item[order], rating[order], timestamp[order])


def _write(path: pathlib.Path, lines: list[str], *, encoding: str = "latin-1",
           newline: str = "\n") -> None:
  """Writes `lines`, each terminated by `newline`, in `encoding`."""
  path.write_bytes("".join(line + newline for line in lines).encode(encoding))


def _write_ml_100k(directory: pathlib.Path, sample: _MovieLensSample,
                   seed: int) -> None:
  """Writes ``u.data``, ``u.item``, ``u.user``, ``u.genre``, ``u.occupation``."""
  _write(directory / "u.data", [
      f"{u + 1}\t{i + 1}\t{r}\t{t}" for u, i, r, t in
      zip(sample.user, sample.item, sample.rating, sample.timestamp)])
  rng = np.random.default_rng(seed + 1)  # release dates
  items = []
  for i, (title, year) in enumerate(zip(sample.titles, sample.years)):
    flags = "|".join(str(int(f)) for f in sample.genres[i])
    if year == 0:
      items.append(f"{i + 1}|{title}||||{flags}")
      continue
    date = f"{rng.integers(1, 29):02d}-{_MONTHS[rng.integers(12)]}-{year}"
    url = ("http://us.imdb.com/M/title-exact?"
           + urllib.parse.quote(title, encoding="latin-1"))
    items.append(f"{i + 1}|{title}|{date}||{url}|{flags}")
  _write(directory / "u.item", items)
  _write(directory / "u.user", [
      f"{u + 1}|{a}|{'MF'[g]}|{_OCCUPATIONS_100K[o]}|{z}" for u, (a, g, o, z) in
      enumerate(zip(sample.age, sample.gender, sample.occupation, sample.zips))])
  _write(directory / "u.genre", [f"{g}|{k}" for k, g in enumerate(ML_GENRES)] + [""])
  _write(directory / "u.occupation", list(_OCCUPATIONS_100K))


def _write_ml_1m(directory: pathlib.Path, sample: _MovieLensSample) -> None:
  """Writes ``ratings.dat``, ``movies.dat``, ``users.dat`` (``::``-separated)."""
  _write(directory / "ratings.dat", [
      f"{u + 1}::{i + 1}::{r}::{t}" for u, i, r, t in
      zip(sample.user, sample.item, sample.rating, sample.timestamp)])
  movies = []
  for i, title in enumerate(sample.titles):
    names = [ML_GENRES[g] for g in np.flatnonzero(sample.genres[i]) if g > 0]
    if not names:
      title, names = "unknown (1995)", ["Drama"]
    movies.append(f"{i + 1}::{title}::{'|'.join(names)}")
  _write(directory / "movies.dat", movies)
  group = np.searchsorted(AGE_GROUP_STARTS, sample.age, "right") - 1
  _write(directory / "users.dat", [
      f"{u + 1}::{'MF'[g]}::{AGE_GROUP_STARTS[a]}::{o}::{z}" for u, (g, a, o, z) in
      enumerate(zip(sample.gender, group, sample.occupation, sample.zips))])


def write_synthetic_movielens(directory: str | os.PathLike, *, num_users: int = 300,
                              num_items: int = 400, seed: int = 0,
                              ratings_per_user: tuple[int, int] = (20, 80),
                              noise: float = 0.5, taste_scale: float = 1.0,
                              demographic_share: float = 0.3,
                              user_bias_scale: float = 0.3,
                              item_bias_scale: float = 0.5,
                              global_mean: float = 3.5,
                              release: str = "ml-100k") -> pathlib.Path:
  """Writes a synthetic MovieLens in the exact raw format; deterministic in `seed`.

  ``release="ml-100k"`` writes ``u.data``, ``u.item`` (latin-1), ``u.user``,
  ``u.genre``, ``u.occupation``; ``release="ml-1m"`` writes ``ratings.dat``,
  ``movies.dat`` (latin-1), ``users.dat`` with age codes and occupation codes
  0..20 (ML-1M has no undated movie, so the "unknown" item is written as
  ``"unknown (1995)"`` with genre Drama). Both hold the same draw.

  Generative model (18 real genres; raw ids are 1-based):
    * item i: 1-3 genres ``g_i in {0,1}^18`` drawn by a Dirichlet genre
      popularity, quality bias ``b_i ~ N(0, item_bias_scale^2)``, popularity
      ``pi_i ~ LogNormal(0, 1)``, release year ``1998 - floor(Exp(8))``
      (>= 1922). Item ``num_items // 2 + 1`` is titled "unknown", has only the
      "unknown" genre flag and no dates (like ML-100K's item 267); item 1's
      title contains "Café" (latin-1 bytes).
    * user u: age 7..73, gender (30% F), one of 21 occupations, 5-digit zip
      (5% Canadian codes like ``T8H1N``); taste ``w_u = taste_scale * (sqrt(s)
      * (A[age group] + G[gender]) / sqrt(2) + sqrt(1 - s) * z_u)`` with
      ``s = demographic_share`` and ``A, G, z_u ~ N(0, I_18)``, so users differ
      strongly and demographics explain a share ``s`` of the taste variance;
      bias ``b_u ~ N(0, user_bias_scale^2)``.
    * user u rates ``n_u ~ U{ratings_per_user}`` distinct items drawn with
      probability ``∝ pi_i``; items nobody drew get one rating from a random
      user (so every item is rated):
      ``r_ui = clip(round(global_mean + b_u + b_i + w_u . g_i + eps), 1, 5)``,
      ``eps ~ N(0, noise^2)``. Timestamps lie in ML-100K's six months.

  Args:
    directory: created if needed.
    num_users, num_items: sizes (``num_items >= 2``).
    seed: seed of ``numpy.random.default_rng``.
    ratings_per_user: inclusive ``(low, high)`` number of items each user draws.
    noise, taste_scale, demographic_share, user_bias_scale, item_bias_scale,
      global_mean: the model's parameters above.
    release: ``"ml-100k"`` or ``"ml-1m"`` file format.

  Returns:
    `directory` as a Path.

  Raises:
    ValueError: invalid sizes, `ratings_per_user` or `release`.
  """
  if release not in ("ml-100k", "ml-1m"):
    raise ValueError(f"release must be 'ml-100k' or 'ml-1m', got {release!r}")
  sample = _sample_movielens(num_users, num_items, seed, ratings_per_user, noise,
                             taste_scale, demographic_share, user_bias_scale,
                             item_bias_scale, global_mean)
  directory = pathlib.Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  if release == "ml-100k":
    _write_ml_100k(directory, sample, seed)
  else:
    _write_ml_1m(directory, sample)
  return directory


def _lastfm_model(rng: np.random.Generator, num_users: int, num_artists: int,
                  num_tags: int, taste_scale: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Draws the artists' true tags ``float[A, T]`` (0/1), their popularity
  ``float[A]`` and the users' tastes ``float[U, T]`` (see `write_synthetic_lastfm`)."""
  tags = np.zeros((num_artists, num_tags))
  for a in range(num_artists):
    tags[a, rng.choice(num_tags, min(rng.integers(1, 5), num_tags),
                       replace=False)] = 1.0
  popularity = rng.normal(size=num_artists)
  taste = rng.normal(0.0, taste_scale, (num_users, num_tags))
  return tags, popularity, taste


def _draw_friends(favourite: np.ndarray, friends_per_user: tuple[int, int],
                  homophily: float, rng: np.random.Generator) -> np.ndarray:
  """``int[E, 2]`` sorted friendships ``(u, v)``, ``u < v``, between user indices.

  User u draws ``n_u ~ U{friends_per_user}`` partners (with replacement, never
  u): each, with probability `homophily`, uniformly among the other users with
  u's `favourite` tag (when there are any), else uniformly among all others.
  """
  num_users = len(favourite)
  pairs = []
  for u in range(num_users):
    same = np.flatnonzero((favourite == favourite[u]) & (np.arange(num_users) != u))
    others = np.delete(np.arange(num_users), u)
    for _ in range(rng.integers(friends_per_user[0], friends_per_user[1] + 1)):
      pool = same if same.size and rng.random() < homophily else others
      v = pool[rng.integers(len(pool))]
      pairs.append((min(u, v), max(u, v)))
  return np.unique(np.asarray(pairs, np.int64).reshape(-1, 2), axis=0)


def write_synthetic_lastfm(directory: str | os.PathLike, *, num_users: int = 100,
                           num_artists: int = 300, num_tags: int = 20,
                           seed: int = 0,
                           artists_per_user: tuple[int, int] = (5, 50),
                           taste_scale: float = 3.0, noise: float = 0.5,
                           tag_probability: float = 0.3,
                           orphan_tagged_artists: int = 0,
                           implausible_years: int = 0,
                           friends_per_user: tuple[int, int] = (1, 8),
                           homophily: float = 0.8) -> pathlib.Path:
  """Writes a synthetic HetRec 2011 Last.fm 2K in its raw format.

  Files (tab-separated, with headers): ``user_artists.dat``, ``tags.dat`` and
  ``user_friends.dat`` with CRLF line endings, ``artists.dat`` and
  ``user_taggedartists.dat`` with LF, like the real release; ``artists.dat``
  is UTF-8 (names include characters outside latin-1), ``tags.dat`` latin-1
  (includes "música latina"). User ids start at 2 and artist ids have gaps,
  as in the release.

  Generative model: artist a has 1-4 true tags ``t_a in {0,1}^T`` and a
  popularity ``p_a ~ N(0, 1)``; user u has taste ``w_u ~ N(0,
  taste_scale^2 I_T)``; affinity ``s_ua = w_u . t_a / |t_a| + p_a``. User u
  listens to ``n_u ~ U{artists_per_user}`` distinct artists drawn with
  probability ``∝ exp(s_ua)`` (artists nobody drew go to a random user) with
  play count ``max(1, round(exp(4 + s_ua + eps)))``, ``eps ~ N(0, noise^2)``.
  Each listened pair is tagged with probability `tag_probability` using 1-2
  of the artist's true tags, dated 2005-2011. Friends follow the tastes: with
  ``f_u = argmax_t w_ut`` (u's favourite tag), user u draws ``n_u ~
  U{friends_per_user}`` partners v != u, each with probability `homophily`
  uniformly among the other users with ``f_v = f_u`` (when there are any),
  else uniformly among all other users; every friendship is written in both
  directions, sorted by user then friend, like the real file.

  Quirks of the real file, off by default: `orphan_tagged_artists` extra
  artist ids that only appear in ``user_taggedartists.dat`` (one assignment
  each) and `implausible_years` assignments dated 1956.

  Args:
    directory: created if needed.
    num_users, num_artists: sizes; num_tags: tag vocabulary size (<= 20).
    seed: seed of ``numpy.random.default_rng``.
    artists_per_user: inclusive ``(low, high)`` artists per user.
    taste_scale, noise, tag_probability: model parameters above.
    orphan_tagged_artists, implausible_years: quirk counts.
    friends_per_user: inclusive ``(low, high)`` partners drawn per user, low >= 1.
    homophily: probability in ``[0, 1]`` that a partner shares the favourite tag.

  Returns:
    `directory` as a Path.

  Raises:
    ValueError: invalid sizes, `artists_per_user`, `friends_per_user` or
      `homophily`.
  """
  low, high = artists_per_user
  if not 1 <= low <= high <= num_artists:
    raise ValueError(f"artists_per_user {artists_per_user} must satisfy "
                     f"1 <= low <= high <= num_artists={num_artists}")
  if not 1 <= num_tags <= len(_TAG_WORDS):
    raise ValueError(f"num_tags must be in [1, {len(_TAG_WORDS)}], got {num_tags}")
  if num_users < 2:
    raise ValueError(f"num_users must be >= 2 (friendships need two users), got "
                     f"{num_users}")
  if not 1 <= friends_per_user[0] <= friends_per_user[1]:
    raise ValueError(f"friends_per_user {friends_per_user} must satisfy "
                     "1 <= low <= high")
  if not 0.0 <= homophily <= 1.0:
    raise ValueError(f"homophily must be in [0, 1], got {homophily}")
  rng = np.random.default_rng(seed)
  user_ids = np.arange(num_users) + 2
  artist_ids = np.arange(num_artists) + 1 + np.arange(num_artists) // 7  # gaps

  tags, popularity, taste = _lastfm_model(rng, num_users, num_artists, num_tags,
                                          taste_scale)
  score = taste @ (tags / tags.sum(1, keepdims=True)).T + popularity  # [U, A]

  chosen = []
  for u in range(num_users):
    p = np.exp(score[u] - score[u].max())
    chosen.append(rng.choice(num_artists, rng.integers(low, high + 1),
                             replace=False, p=p / p.sum()))
  user = np.concatenate([np.full(len(c), u) for u, c in enumerate(chosen)])
  artist = np.concatenate(chosen)
  unheard = np.setdiff1d(np.arange(num_artists), artist)
  user = np.concatenate([user, rng.integers(num_users, size=len(unheard))])
  artist = np.concatenate([artist, unheard])
  weight = np.maximum(1, np.round(np.exp(
      4.0 + score[user, artist] + rng.normal(0.0, noise, len(user))))).astype(int)

  directory = pathlib.Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  _write(directory / "user_artists.dat", ["userID\tartistID\tweight"] + [
      f"{user_ids[u]}\t{artist_ids[a]}\t{w}" for u, a, w in
      zip(user, artist, weight)], newline="\r\n")
  names = [f"{_ARTIST_WORDS[rng.integers(len(_ARTIST_WORDS))]} "
           f"{_ARTIST_WORDS[rng.integers(len(_ARTIST_WORDS))]} {a}"
           for a in artist_ids]
  _write(directory / "artists.dat", ["id\tname\turl\tpictureURL"] + [
      f"{a}\t{n}\thttp://www.last.fm/music/{urllib.parse.quote_plus(n)}\t"
      for a, n in zip(artist_ids, names)], encoding="utf-8")
  _write(directory / "tags.dat", ["tagID\ttagValue"] + [
      f"{t + 1}\t{_TAG_WORDS[t]}" for t in range(num_tags)], newline="\r\n")

  assignments = []
  for u, a in zip(user, artist):
    if rng.random() < tag_probability:
      own = np.flatnonzero(tags[a])
      for t in rng.choice(own, min(len(own), rng.integers(1, 3)), replace=False):
        assignments.append((user_ids[u], artist_ids[a], t + 1,
                            rng.integers(2005, 2012)))
  orphan_ids = artist_ids[-1] + 1 + np.arange(orphan_tagged_artists)
  assignments += [(user_ids[rng.integers(num_users)], a, rng.integers(num_tags) + 1,
                   rng.integers(2005, 2012)) for a in orphan_ids]
  for k in range(min(implausible_years, len(assignments))):
    assignments[k] = assignments[k][:3] + (1956,)
  _write(directory / "user_taggedartists.dat",
         ["userID\tartistID\ttagID\tday\tmonth\tyear"] + [
             f"{u}\t{a}\t{t}\t1\t{rng.integers(1, 13)}\t{y}"
             for u, a, t, y in assignments])
  pairs = _draw_friends(taste.argmax(1), friends_per_user, homophily, rng)
  both = np.unique(np.concatenate([pairs, pairs[:, ::-1]]), axis=0)
  _write(directory / "user_friends.dat", ["userID\tfriendID"] + [
      f"{user_ids[u]}\t{user_ids[v]}" for u, v in both], newline="\r\n")
  return directory
