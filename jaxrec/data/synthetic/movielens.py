"""A synthetic MovieLens (100K or 1M release format) with planted per-user taste:
the sample (:class:`_MovieLensSample`) and the two releases' file writers."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import urllib.parse

import numpy as np

from jaxrec.data.readers.movielens import AGE_GROUP_STARTS, ML_GENRES
from jaxrec.data.synthetic._shared import cover_every_item, write_lines

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

  # Which items each user rates: popularity-weighted, without replacement.
  chosen = [rng.choice(num_items, rng.integers(low, high + 1), replace=False,
                       p=popularity / popularity.sum()) for _ in range(num_users)]
  user, item = cover_every_item(chosen, num_items, rng)

  affinity = np.einsum("ng,ng->n", taste[user], genres[item, 1:].astype(float))
  score = (global_mean + user_bias[user] + item_bias[item] + affinity
           + rng.normal(0.0, noise, len(user)))
  rating = np.clip(np.round(score), 1, 5).astype(int)
  start = _MIN_TIME + rng.integers(_SPAN // 2, size=num_users)
  timestamp = start[user] + rng.integers(_SPAN // 2, size=len(user))
  order = rng.permutation(len(user))
  return _MovieLensSample(genres, years, titles, age, gender, occupation, zips,
                          user[order], item[order], rating[order], timestamp[order])


def _write_ml_100k(directory: pathlib.Path, sample: _MovieLensSample,
                   seed: int) -> None:
  """Writes ``u.data``, ``u.item``, ``u.user``, ``u.genre``, ``u.occupation``."""
  write_lines(directory / "u.data", [
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
  write_lines(directory / "u.item", items)
  write_lines(directory / "u.user", [
      f"{u + 1}|{a}|{'MF'[g]}|{_OCCUPATIONS_100K[o]}|{z}" for u, (a, g, o, z) in
      enumerate(zip(sample.age, sample.gender, sample.occupation, sample.zips))])
  write_lines(directory / "u.genre", [f"{g}|{k}" for k, g in enumerate(ML_GENRES)] + [""])
  write_lines(directory / "u.occupation", list(_OCCUPATIONS_100K))


def _write_ml_1m(directory: pathlib.Path, sample: _MovieLensSample) -> None:
  """Writes ``ratings.dat``, ``movies.dat``, ``users.dat`` (``::``-separated)."""
  write_lines(directory / "ratings.dat", [
      f"{u + 1}::{i + 1}::{r}::{t}" for u, i, r, t in
      zip(sample.user, sample.item, sample.rating, sample.timestamp)])
  movies = []
  for i, title in enumerate(sample.titles):
    names = [ML_GENRES[g] for g in np.flatnonzero(sample.genres[i]) if g > 0]
    if not names:
      title, names = "unknown (1995)", ["Drama"]
    movies.append(f"{i + 1}::{title}::{'|'.join(names)}")
  write_lines(directory / "movies.dat", movies)
  group = np.searchsorted(AGE_GROUP_STARTS, sample.age, "right") - 1
  write_lines(directory / "users.dat", [
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
