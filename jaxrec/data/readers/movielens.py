"""MovieLens 100K and 1M readers: ratings, movie genres and years, user demographics.

Both releases share feature names and vocabularies (`YEAR_NAMES`, `AGE_NAMES`,
`GENDER_NAMES`, `ML_GENRES`), so a model trained on one reads the other.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from jaxrec.data.interactions import EM_DASH, Interactions
from jaxrec.data.readers import _parse
from jaxrec.data.readers._parse import PathLike

#: Release-year buckets shared by ML-100K and ML-1M: feature id ``1 + k`` for the
#: k-th bucket, ``0`` for an unknown year. Finer in the 1990s, where most movies are.
YEAR_EDGES = (1940, 1950, 1960, 1970, 1980, 1985, 1990, 1993, 1995, 1996, 1997, 1998)
YEAR_NAMES = ("unknown", "before 1940", "1940-1949", "1950-1959", "1960-1969",
              "1970-1979", "1980-1984", "1985-1989", "1990-1992", "1993-1994",
              "1995", "1996", "1997", "1998 and later")

#: ML-1M's seven age groups (lower bounds); ML-100K ages are bucketed onto them.
AGE_GROUP_STARTS = (1, 18, 25, 35, 45, 50, 56)
AGE_NAMES = ("unknown", "under 18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+")
GENDER_NAMES = ("unknown", "male", "female")
_GENDER_CODES = {"M": 1, "F": 2}

#: The 19 MovieLens genres in ``u.genre`` order (ML-1M uses the last 18).
ML_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy",
             "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror",
             "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
#: Genres kept per movie (in genre order); ML-100K movies have at most 6.
MAX_GENRES = 6

#: ML-1M occupation codes 0..20 (from its README); feature id = code + 1.
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin",
    "college/grad student", "customer service", "doctor/health care",
    "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer",
    "programmer", "retired", "sales/marketing", "scientist", "self-employed",
    "technician/engineer", "tradesman/craftsman", "unemployed", "writer")

_DATE = re.compile(r"^\d{1,2}-[A-Za-z]{3}-(\d{4})$")
_TITLE_YEAR = re.compile(r"\((\d{4})\)\s*$")

def _year_bucket(year: int | None) -> int:
  """Feature id of a release year: ``1 + #{edges <= year}``, 0 when unknown."""
  return 0 if year is None else 1 + int(np.searchsorted(YEAR_EDGES, year, "right"))


def _title_year(title: str) -> int | None:
  """The ``(yyyy)`` at the end of a MovieLens title, or None."""
  match = _TITLE_YEAR.search(title)
  return None if match is None else int(match.group(1))


def _age_group(age: int) -> int:
  """ML-1M age group id (1..7) of an age in years: <18, 18-24, ..., 56+."""
  return int(np.searchsorted(AGE_GROUP_STARTS, age, "right"))


def _zip_prefixes(zips: Sequence[str]) -> tuple[np.ndarray, list[str]]:
  """Zip-code prefix ids ``int32[R]`` (first 2 characters, upper-cased) + names.

  The vocabulary is the sorted set of prefixes seen; non-numeric (e.g.
  Canadian) codes get their own letter prefixes; an empty code is 0.
  """
  prefixes = [z[:2].upper() for z in zips]
  names = sorted({p for p in prefixes if p})
  index = {p: k + 1 for k, p in enumerate(names)}
  return (np.asarray([index.get(p, 0) for p in prefixes], np.int32),
          ["unknown"] + names)


def _genre_text(title: str, genres: Sequence[int]) -> str:
  """``"Title (Year) — Genre1, Genre2"`` from genre feature ids (1..19)."""
  names = [ML_GENRES[g - 1] for g in genres if g > 1]
  return f"{title} {EM_DASH} {', '.join(names)}" if names else title


# ----------------------------------------------------------------------------
# MovieLens.


def _movielens_user_side(path: pathlib.Path, ids: np.ndarray, lines: np.ndarray,
                         gender: np.ndarray, age: np.ndarray,
                         occupation: np.ndarray, zips: Sequence[str],
                         text: list[str]) -> tuple[_parse.Side, dict[str, list[str]]]:
  """The MovieLens user side table (fields gender/age/occupation/zip) + zip names."""
  zip_ids, zip_names = _zip_prefixes(zips)
  features = {"gender": gender, "age": age, "occupation": occupation, "zip": zip_ids}
  return _parse.Side(path, ids, lines, features, text), {"zip": zip_names}


class _Ratings(NamedTuple):
  """A MovieLens ratings file: the table and its columns (``[N]`` each)."""
  table: _parse.Table
  user_raw: np.ndarray  # int64 raw user ids
  item_raw: np.ndarray  # int64 raw item ids
  rating: np.ndarray  # float64 in [1, 5]
  timestamp: np.ndarray  # int64 Unix seconds


def _read_ratings(path: pathlib.Path, sep: str, fields: Sequence[str]) -> _Ratings:
  """Reads a ``user sep item sep rating sep timestamp`` file whose columns the
  release calls ``fields`` (named in error messages).

  Raises:
    FileNotFoundError: ``path`` is missing.
    ValueError: a malformed line or a rating outside [1, 5] (naming the line).
  """
  table = _parse.read_table(path, sep, 4)
  user_raw, item_raw = _parse.ints(table, 0, fields[0]), _parse.ints(table, 1, fields[1])
  rating = _parse.floats(table, 2, fields[2])
  _parse.check_range(rating, table, fields[2], 1, 5)
  return _Ratings(table, user_raw, item_raw, rating, _parse.ints(table, 3, fields[3]))


def _movielens_interactions(name: str, ratings: _Ratings, user_side: _parse.Side,
                            item_side: _parse.Side, genre_names: Sequence[str],
                            occupation_names: Sequence[str],
                            zip_names: dict[str, list[str]]) -> Interactions:
  """The MovieLens releases' common fields, vocabularies and names (ids from 1;
  0 is unknown / padding)."""
  return _parse.assemble(
      name, *ratings,
      users=user_side, items=item_side,
      user_vocab_sizes={"gender": 3, "age": len(AGE_NAMES),
                        "occupation": len(occupation_names) + 1,
                        "zip": len(zip_names["zip"])},
      item_vocab_sizes={"genre": len(genre_names) + 1, "year": len(YEAR_NAMES)},
      implicit=False, rating_scale=(1.0, 5.0),
      vocab_names={"genre": ["<pad>"] + list(genre_names), "year": list(YEAR_NAMES),
                   "gender": list(GENDER_NAMES), "age": list(AGE_NAMES),
                   "occupation": ["unknown"] + list(occupation_names), **zip_names})


def load_movielens_100k(path: PathLike) -> Interactions:
  """Loads MovieLens 100K from its unpacked directory.

  Reads ``u.data`` (``user \\t item \\t rating \\t timestamp``), ``u.item``
  (``|``-separated, latin-1), ``u.user``, ``u.genre`` and ``u.occupation``.

  Features (id 0 = unknown / padding everywhere):
    item ``"genre"`` ``int32[I, 6]``: genre ids ``1 + index in u.genre`` (so the
      "unknown" genre is id 1, Action 2, ...), in genre order, padded with 0;
      only the first 6 genres are kept (no ML-100K movie has more).
      ``"genre_mask"`` ``float32[I, 6]``.
    item ``"year"`` ``int32[I]``: release year (from the release date, else the
      title's ``(yyyy)``) bucketed by `YEAR_EDGES`; 0 when unknown (item 267).
    user ``"gender"`` (1 male, 2 female), ``"age"`` (ML-1M's 7 groups <18,
      18-24, 25-34, 35-44, 45-49, 50-55, 56+ as ids 1..7), ``"occupation"``
      (``1 + index in u.occupation``), ``"zip"`` (first two characters of the
      zip code, upper-cased; vocabulary = sorted prefixes seen, so Canadian
      codes such as ``T8H1N`` get their own prefixes like ``"T8"``).
  Item text: ``"Title (Year) — Genre1, Genre2"`` (the "unknown" genre is not
  named). User text: e.g. ``"24-year-old male technician"``.

  Args:
    path: the ``ml-100k`` directory.

  Returns:
    `Interactions` with ``rating_scale == (1, 5)`` and Unix-second timestamps.

  Raises:
    FileNotFoundError: a file is missing.
    ValueError: malformed line, rating outside [1, 5], unknown gender /
      occupation / genre flag, duplicate side ids, or a rated id without a side
      line (message names the file and line).
  """
  path = pathlib.Path(path)
  ratings = _read_ratings(path / "u.data", "\t",
                          ("user id", "item id", "rating", "timestamp"))

  genre_table = _parse.read_table(path / "u.genre", "|", 2)
  genre_names = genre_table.columns[0]
  for k, index in enumerate(_parse.ints(genre_table, 1, "genre index")):
    if index != k:
      raise ValueError(f"{genre_table.path}:{genre_table.lines[k]}: genre index "
                       f"{index}, expected {k}")
  occupation_names = _parse.read_table(path / "u.occupation", "|", 1).columns[0]

  items = _parse.read_table(path / "u.item", "|", 5 + len(genre_names))
  flags = np.stack([_parse.ints(items, 5 + g, f"genre flag {name!r}")
                    for g, name in enumerate(genre_names)], axis=1)
  bad = np.flatnonzero(((flags != 0) & (flags != 1)).any(axis=1))
  if bad.size:
    raise ValueError(f"{items.path}:{items.lines[bad[0]]}: genre flags must be 0 "
                     f"or 1, found {flags[bad[0]].tolist()}")
  genre_lists = [np.flatnonzero(row) + 1 for row in flags]
  genre, genre_mask = _parse.multi_hot(genre_lists, MAX_GENRES)
  years = []
  for k, (title, date) in enumerate(zip(items.columns[1], items.columns[2])):
    match = _DATE.match(date)
    if date and match is None:
      raise ValueError(f"{items.path}:{items.lines[k]}: release date {date!r} is "
                       "not dd-Mon-yyyy")
    years.append(_year_bucket(int(match.group(1)) if match else _title_year(title)))
  item_side = _parse.Side(
      items.path, _parse.ints(items, 0, "item id"), items.lines,
      {"genre": genre, "genre_mask": genre_mask, "year": np.asarray(years, np.int32)},
      [_genre_text(t, g) for t, g in zip(items.columns[1], genre_lists)])

  users = _parse.read_table(path / "u.user", "|", 5)
  ages = _parse.ints(users, 1, "age")
  gender = _parse.codes(users, 2, "gender", _GENDER_CODES)
  occupation = _parse.codes(users, 3, "occupation",
                            {o: k + 1 for k, o in enumerate(occupation_names)})
  text = [f"{a}-year-old {GENDER_NAMES[g]} {o}"
          for a, g, o in zip(ages, gender, users.columns[3])]
  user_side, zip_names = _movielens_user_side(
      users.path, _parse.ints(users, 0, "user id"), users.lines, gender,
      np.asarray([_age_group(a) for a in ages], np.int32), occupation,
      users.columns[4], text)

  return _movielens_interactions("ml-100k", ratings, user_side, item_side, genre_names,
                                 occupation_names, zip_names)


def load_movielens_1m(path: PathLike) -> Interactions:
  """Loads MovieLens 1M from its unpacked directory, with ML-100K's feature names.

  Reads ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``), ``movies.dat``
  (``MovieID::Title::Genre1|Genre2``, latin-1) and ``users.dat``
  (``UserID::Gender::Age::Occupation::Zip-code``).

  Features are those of `load_movielens_100k` with the same vocabularies for
  ``genre`` (ids ``1 + index in ML_GENRES``; ML-1M never uses "unknown"),
  ``year`` (from the title), ``gender`` and ``age`` (the age codes 1, 18, 25,
  35, 45, 50, 56 become ids 1..7); ``occupation`` is ``code + 1`` over
  `ML1M_OCCUPATIONS`; ``zip`` as in ML-100K. Item text ``"Title (Year) —
  Genre1, Genre2"``; user text e.g. ``"female aged 25-34, programmer"``.

  Args:
    path: the ``ml-1m`` directory.

  Returns:
    `Interactions` with ``rating_scale == (1, 5)``.

  Raises:
    FileNotFoundError: a file is missing.
    ValueError: malformed line, rating outside [1, 5], unknown genre, gender,
      age code or occupation code (message names the file and line).
  """
  path = pathlib.Path(path)
  ratings = _read_ratings(path / "ratings.dat", "::",
                          ("UserID", "MovieID", "Rating", "Timestamp"))

  movies = _parse.read_table(path / "movies.dat", "::", 3)
  genre_index = {g: k + 1 for k, g in enumerate(ML_GENRES)}
  genre_lists = []
  for k, genres in enumerate(movies.columns[2]):
    names = [g.strip() for g in genres.split("|") if g.strip()]
    unknown = [g for g in names if g not in genre_index]
    if unknown:
      raise ValueError(f"{movies.path}:{movies.lines[k]}: unknown genre "
                       f"{unknown[0]!r}")
    genre_lists.append(sorted(genre_index[g] for g in names))
  genre, genre_mask = _parse.multi_hot(genre_lists, MAX_GENRES)
  years = np.asarray([_year_bucket(_title_year(t)) for t in movies.columns[1]],
                     np.int32)
  item_side = _parse.Side(
      movies.path, _parse.ints(movies, 0, "MovieID"), movies.lines,
      {"genre": genre, "genre_mask": genre_mask, "year": years},
      [_genre_text(t, g) for t, g in zip(movies.columns[1], genre_lists)])

  users = _parse.read_table(path / "users.dat", "::", 5)
  gender = _parse.codes(users, 1, "Gender", _GENDER_CODES)
  age = _parse.codes(users, 2, "Age",
                     {str(a): k + 1 for k, a in enumerate(AGE_GROUP_STARTS)})
  occupation = _parse.codes(users, 3, "Occupation",
                            {str(c): c + 1 for c in range(len(ML1M_OCCUPATIONS))})
  text = [f"{GENDER_NAMES[g]} aged {AGE_NAMES[a]}, {ML1M_OCCUPATIONS[o - 1]}"
          for g, a, o in zip(gender, age, occupation)]
  user_side, zip_names = _movielens_user_side(
      users.path, _parse.ints(users, 0, "UserID"), users.lines, gender, age,
      occupation, users.columns[4], text)

  return _movielens_interactions("ml-1m", ratings, user_side, item_side, ML_GENRES,
                                 ML1M_OCCUPATIONS, zip_names)

