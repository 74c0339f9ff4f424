"""Readers turning raw recommendation datasets into validated `Interactions`.

Supported sources: MovieLens 100K and 1M, HetRec 2011 Last.fm 2K, and any
CSV/TSV with a header. Parsing is plain Python + numpy (no pandas).

Policies shared by every reader:
  * Internal ids are ``0..U-1`` / ``0..I-1`` in ascending raw-id order; only
    users and items that occur in the ratings file are kept. Ids listed in a side
    file (``u.item``, ``users.dat``, ``artists.dat``, ...) but never rated are
    dropped with a warning giving their count; a rated id missing from its side
    file is a ValueError.
  * Duplicate (user, item) pairs keep the last one by timestamp (ties, or no
    timestamps: the later line) and a warning gives the number dropped.
  * Blank lines are skipped, ``\\r\\n`` and ``\\n`` line endings are both
    accepted, and whitespace around fields is ignored.
  * Bad values (wrong column count, non-numeric or non-finite number, rating
    outside the dataset's range, unknown category) raise ValueError naming
    ``file:line`` and the field; a missing file raises FileNotFoundError.
  * Id 0 of every categorical feature means unknown / padding.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import re
import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from jaxrec.data import download as download_lib
from jaxrec.data import graph
from jaxrec.data import tags as tags_lib
from jaxrec.data.interactions import EM_DASH, Interactions, ItemTags

PathLike = str | os.PathLike

DATA_DIR_ENV = "JAXREC_DATA_DIR"

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

#: Tag-assignment years outside this range are reported as implausible (Last.fm
#: started in 2002; the HetRec release is from 2011).
LASTFM_YEARS = (2002, 2011)

_DATE = re.compile(r"^\d{1,2}-[A-Za-z]{3}-(\d{4})$")
_TITLE_YEAR = re.compile(r"\((\d{4})\)\s*$")


class _Table(NamedTuple):
  """Columns of a delimited file: ``columns[k][r]`` is field k of data row r."""
  path: pathlib.Path
  lines: np.ndarray  # int64[R], 1-based line number of each row
  columns: list[list[str]]


class _Side(NamedTuple):
  """Per-row side information of a users/items file, keyed by raw id."""
  path: pathlib.Path
  ids: np.ndarray  # [R] raw ids
  lines: np.ndarray  # [R] line numbers
  features: dict[str, np.ndarray]  # [R] or [R, m]
  text: list[str] | None  # [R]


# ----------------------------------------------------------------------------
# Low-level parsing.


def _read_text(path: pathlib.Path, encoding: str) -> str:
  """Decodes a whole file; raises FileNotFoundError / ValueError (bad bytes)."""
  if not path.is_file():
    raise FileNotFoundError(f"{path}: file not found")
  data = path.read_bytes()
  try:
    return data.decode(encoding)
  except UnicodeDecodeError as e:
    line = data.count(b"\n", 0, e.start) + 1
    raise ValueError(f"{path}:{line}: bytes are not valid {encoding}") from e


def _read_table(path: pathlib.Path, sep: str, num_fields: int, *,
                encoding: str = "latin-1",
                header: Sequence[str] | None = None) -> _Table:
  """Splits a delimited file into ``num_fields`` stripped string columns.

  Args:
    path: the file.
    sep: field separator (``"\\t"``, ``"|"``, ``"::"``, ...).
    num_fields: the exact number of fields every non-blank line must have.
    encoding: text encoding.
    header: expected names of the first line (case-insensitive), or None when
      the file has no header.

  Returns:
    A `_Table` with R rows (blank lines skipped).

  Raises:
    FileNotFoundError: the file does not exist.
    ValueError: wrong header, wrong field count, or no data line at all.
  """
  text = _read_text(path, encoding)
  if not text.strip():
    raise ValueError(f"{path}: file is empty")
  lines = text.replace("\r\n", "\n").split("\n")
  start = 0
  if header is not None:
    found = [f.strip() for f in lines[0].split(sep)]
    if [f.lower() for f in found] != [h.lower() for h in header]:
      raise ValueError(f"{path}:1: expected header {sep.join(header)!r}, "
                       f"found {sep.join(found)!r}")
    start = 1
  kept = [k for k in range(start, len(lines))
          if lines[k] and not lines[k].isspace()]
  if not kept:
    raise ValueError(f"{path}: file is empty (no data lines)")
  for k in kept:
    if lines[k].count(sep) != num_fields - 1:
      raise ValueError(f"{path}:{k + 1}: expected {num_fields} fields separated "
                       f"by {sep!r}, found {lines[k].count(sep) + 1}")
  # Splitting all lines at once is much faster than line by line.
  fields = sep.join([lines[k] for k in kept]).split(sep)
  columns = [list(map(str.strip, fields[c::num_fields])) for c in range(num_fields)]
  return _Table(path, np.asarray(kept, np.int64) + 1, columns)


def _parse(table: _Table, col: int, field: str, convert: Callable[[str], object],
           kind: str) -> list:
  """Column `col` converted by `convert`; ValueError names the first bad line."""
  values = table.columns[col]
  try:
    return [convert(v) for v in values]
  except ValueError:
    pass
  for k, value in enumerate(values):  # slow path: find the offending line
    try:
      convert(value)
    except ValueError:
      raise ValueError(f"{table.path}:{table.lines[k]}: {field} {value!r} is not "
                       f"{kind}") from None


def _ints(table: _Table, col: int, field: str) -> np.ndarray:
  """Column `col` parsed as ``int64[R]``; ValueError names file:line:field."""
  return np.asarray(_parse(table, col, field, int, "an integer"), np.int64)


def _floats(table: _Table, col: int, field: str) -> np.ndarray:
  """Column `col` parsed as finite ``float64[R]``; ValueError names file:line."""
  out = np.asarray(_parse(table, col, field, float, "a number"), np.float64)
  bad = np.flatnonzero(~np.isfinite(out))
  if bad.size:
    k = bad[0]
    raise ValueError(f"{table.path}:{table.lines[k]}: {field} "
                     f"{table.columns[col][k]!r} is not finite")
  return out


def _check_range(values: np.ndarray, table: _Table, field: str, low: float,
                 high: float) -> None:
  """Raises ValueError at the first value outside ``[low, high]``."""
  bad = np.flatnonzero((values < low) | (values > high))
  if bad.size:
    k = bad[0]
    raise ValueError(f"{table.path}:{table.lines[k]}: {field} {values[k]:g} is "
                     f"outside [{low:g}, {high:g}]")


def _codes(table: _Table, col: int, field: str, vocab: dict[str, int]) -> np.ndarray:
  """Maps column `col` through `vocab` to ``int32[R]``; unknown value: ValueError."""
  out = np.empty(len(table.lines), np.int32)
  for k, value in enumerate(table.columns[col]):
    if value not in vocab:
      raise ValueError(f"{table.path}:{table.lines[k]}: unknown {field} {value!r} "
                       f"(expected one of {sorted(vocab)})")
    out[k] = vocab[value]
  return out


# ----------------------------------------------------------------------------
# Assembling an `Interactions`.


def _keep_last(user: np.ndarray, item: np.ndarray, timestamp: np.ndarray | None,
               path: pathlib.Path) -> np.ndarray:
  """Indices (ascending) of the rows kept after dropping duplicate pairs.

  For each (user, item) pair the row with the largest timestamp is kept (ties
  or no timestamps: the latest row); a warning gives the number dropped.
  """
  n = len(user)
  order = np.lexsort((np.arange(n),
                      np.zeros(n, np.int64) if timestamp is None else timestamp,
                      item, user))
  u, i = user[order], item[order]
  last = np.ones(n, bool)
  last[:-1] = (u[1:] != u[:-1]) | (i[1:] != i[:-1])
  if not last.all():
    warnings.warn(f"{path}: {n - last.sum()} duplicate (user, item) rows dropped, "
                  "keeping the last one per pair by timestamp, then line order",
                  stacklevel=3)
  return np.sort(order[last])


def _find(sorted_ids: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Position of each value in `sorted_ids` (``int64[n]``) and whether it is there."""
  pos = np.minimum(np.searchsorted(sorted_ids, values), len(sorted_ids) - 1)
  return pos, sorted_ids[pos] == values


def _side_rows(side: _Side, wanted: np.ndarray, ratings: _Table, raw: np.ndarray,
               what: str) -> np.ndarray:
  """Row of `side` describing each id in `wanted` (sorted unique raw ids).

  Raises ValueError on a duplicate id in the side file or a rated id that the
  side file lacks (naming the first ratings line using it); warns about side
  ids that are never rated (they are dropped).
  """
  order = np.argsort(side.ids, kind="stable")
  ids = side.ids[order]
  dup = np.flatnonzero(ids[1:] == ids[:-1])
  if dup.size:
    raise ValueError(f"{side.path}:{side.lines[order[dup[0] + 1]]}: duplicate "
                     f"{what} id {ids[dup[0] + 1]}")
  pos, found = _find(ids, wanted)
  missing = wanted[~found]
  if missing.size:
    k = np.flatnonzero(raw == missing[0])[0]
    raise ValueError(f"{ratings.path}:{ratings.lines[k]}: {what} id {missing[0]} "
                     f"has no line in {side.path.name} ({missing.size} such ids)")
  if len(ids) > len(wanted):
    warnings.warn(f"{side.path}: {len(ids) - len(wanted)} {what} ids never appear "
                  f"in {ratings.path.name}; dropped", stacklevel=3)
  return order[pos]


def _interactions(name: str, ratings: _Table, user_raw: np.ndarray,
                  item_raw: np.ndarray, rating: np.ndarray,
                  timestamp: np.ndarray | None, *, users: _Side | None,
                  items: _Side | None, user_vocab_sizes: dict[str, int],
                  item_vocab_sizes: dict[str, int], implicit: bool,
                  rating_scale: tuple[float, float] | None,
                  vocab_names: dict[str, list[str]]) -> Interactions:
  """Deduplicates, re-indexes and joins side tables into a validated result.

  Item text is the items side table's text, else the raw item id as a string.
  """
  keep = _keep_last(user_raw, item_raw, timestamp, ratings.path)
  user_ids, user = np.unique(user_raw[keep], return_inverse=True)
  item_ids, item = np.unique(item_raw[keep], return_inverse=True)
  user_features, item_features, user_text = {}, {}, None
  item_text = np.asarray([str(i) for i in item_ids], dtype=str)
  if users is not None:
    rows = _side_rows(users, user_ids, ratings, user_raw, "user")
    user_features = {k: v[rows] for k, v in users.features.items()}
    if users.text is not None:
      user_text = np.asarray([users.text[r] for r in rows], dtype=str)
  if items is not None:
    rows = _side_rows(items, item_ids, ratings, item_raw, "item")
    item_features = {k: v[rows] for k, v in items.features.items()}
    if items.text is not None:
      item_text = np.asarray([items.text[r] for r in rows], dtype=str)
  return Interactions(
      name=name, user=user.astype(np.int32), item=item.astype(np.int32),
      rating=rating[keep].astype(np.float32),
      timestamp=None if timestamp is None else timestamp[keep].astype(np.int64),
      user_ids=user_ids, item_ids=item_ids, user_features=user_features,
      item_features=item_features, user_vocab_sizes=user_vocab_sizes,
      item_vocab_sizes=item_vocab_sizes, item_text=item_text, user_text=user_text,
      implicit=implicit, rating_scale=rating_scale,
      vocab_names=vocab_names).validate()


def _multi_hot(lists: Sequence[Sequence[int]], width: int) -> tuple[np.ndarray, np.ndarray]:
  """Pads id lists to ``int32[R, width]`` (first `width` kept) + ``float32`` mask."""
  ids = np.zeros((len(lists), width), np.int32)
  for r, values in enumerate(lists):
    values = list(values)[:width]
    ids[r, :len(values)] = values
  return ids, (ids > 0).astype(np.float32)


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
                         text: list[str]) -> tuple[_Side, dict[str, list[str]]]:
  """The MovieLens user side table (fields gender/age/occupation/zip) + zip names."""
  zip_ids, zip_names = _zip_prefixes(zips)
  features = {"gender": gender, "age": age, "occupation": occupation, "zip": zip_ids}
  return _Side(path, ids, lines, features, text), {"zip": zip_names}


def _movielens_interactions(name: str, ratings: _Table, user_raw: np.ndarray,
                            item_raw: np.ndarray, rating: np.ndarray,
                            timestamp: np.ndarray, user_side: _Side, item_side: _Side,
                            genre_names: Sequence[str], occupation_names: Sequence[str],
                            zip_names: dict[str, list[str]]) -> Interactions:
  """The MovieLens releases' common fields, vocabularies and names (ids from 1;
  0 is unknown / padding)."""
  return _interactions(
      name, ratings, user_raw, item_raw, rating, timestamp,
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
  ratings = _read_table(path / "u.data", "\t", 4)
  user_raw = _ints(ratings, 0, "user id")
  item_raw = _ints(ratings, 1, "item id")
  rating = _floats(ratings, 2, "rating")
  _check_range(rating, ratings, "rating", 1, 5)
  timestamp = _ints(ratings, 3, "timestamp")

  genre_table = _read_table(path / "u.genre", "|", 2)
  genre_names = genre_table.columns[0]
  for k, index in enumerate(_ints(genre_table, 1, "genre index")):
    if index != k:
      raise ValueError(f"{genre_table.path}:{genre_table.lines[k]}: genre index "
                       f"{index}, expected {k}")
  occupation_names = _read_table(path / "u.occupation", "|", 1).columns[0]

  items = _read_table(path / "u.item", "|", 5 + len(genre_names))
  flags = np.stack([_ints(items, 5 + g, f"genre flag {name!r}")
                    for g, name in enumerate(genre_names)], axis=1)
  bad = np.flatnonzero(((flags != 0) & (flags != 1)).any(axis=1))
  if bad.size:
    raise ValueError(f"{items.path}:{items.lines[bad[0]]}: genre flags must be 0 "
                     f"or 1, found {flags[bad[0]].tolist()}")
  genre_lists = [np.flatnonzero(row) + 1 for row in flags]
  genre, genre_mask = _multi_hot(genre_lists, MAX_GENRES)
  years = []
  for k, (title, date) in enumerate(zip(items.columns[1], items.columns[2])):
    match = _DATE.match(date)
    if date and match is None:
      raise ValueError(f"{items.path}:{items.lines[k]}: release date {date!r} is "
                       "not dd-Mon-yyyy")
    years.append(_year_bucket(int(match.group(1)) if match else _title_year(title)))
  item_side = _Side(
      items.path, _ints(items, 0, "item id"), items.lines,
      {"genre": genre, "genre_mask": genre_mask, "year": np.asarray(years, np.int32)},
      [_genre_text(t, g) for t, g in zip(items.columns[1], genre_lists)])

  users = _read_table(path / "u.user", "|", 5)
  ages = _ints(users, 1, "age")
  gender = _codes(users, 2, "gender", _GENDER_CODES)
  occupation = _codes(users, 3, "occupation",
                      {o: k + 1 for k, o in enumerate(occupation_names)})
  text = [f"{a}-year-old {GENDER_NAMES[g]} {o}"
          for a, g, o in zip(ages, gender, users.columns[3])]
  user_side, zip_names = _movielens_user_side(
      users.path, _ints(users, 0, "user id"), users.lines, gender,
      np.asarray([_age_group(a) for a in ages], np.int32), occupation,
      users.columns[4], text)

  return _movielens_interactions("ml-100k", ratings, user_raw, item_raw, rating,
                                 timestamp, user_side, item_side, genre_names,
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
  ratings = _read_table(path / "ratings.dat", "::", 4)
  user_raw = _ints(ratings, 0, "UserID")
  item_raw = _ints(ratings, 1, "MovieID")
  rating = _floats(ratings, 2, "Rating")
  _check_range(rating, ratings, "Rating", 1, 5)
  timestamp = _ints(ratings, 3, "Timestamp")

  movies = _read_table(path / "movies.dat", "::", 3)
  genre_index = {g: k + 1 for k, g in enumerate(ML_GENRES)}
  genre_lists = []
  for k, genres in enumerate(movies.columns[2]):
    names = [g.strip() for g in genres.split("|") if g.strip()]
    unknown = [g for g in names if g not in genre_index]
    if unknown:
      raise ValueError(f"{movies.path}:{movies.lines[k]}: unknown genre "
                       f"{unknown[0]!r}")
    genre_lists.append(sorted(genre_index[g] for g in names))
  genre, genre_mask = _multi_hot(genre_lists, MAX_GENRES)
  years = np.asarray([_year_bucket(_title_year(t)) for t in movies.columns[1]],
                     np.int32)
  item_side = _Side(
      movies.path, _ints(movies, 0, "MovieID"), movies.lines,
      {"genre": genre, "genre_mask": genre_mask, "year": years},
      [_genre_text(t, g) for t, g in zip(movies.columns[1], genre_lists)])

  users = _read_table(path / "users.dat", "::", 5)
  gender = _codes(users, 1, "Gender", _GENDER_CODES)
  age = _codes(users, 2, "Age",
               {str(a): k + 1 for k, a in enumerate(AGE_GROUP_STARTS)})
  occupation = _codes(users, 3, "Occupation",
                      {str(c): c + 1 for c in range(len(ML1M_OCCUPATIONS))})
  text = [f"{GENDER_NAMES[g]} aged {AGE_NAMES[a]}, {ML1M_OCCUPATIONS[o - 1]}"
          for g, a, o in zip(gender, age, occupation)]
  user_side, zip_names = _movielens_user_side(
      users.path, _ints(users, 0, "UserID"), users.lines, gender, age,
      occupation, users.columns[4], text)

  return _movielens_interactions("ml-1m", ratings, user_raw, item_raw, rating,
                                 timestamp, user_side, item_side, ML_GENRES,
                                 ML1M_OCCUPATIONS, zip_names)


# ----------------------------------------------------------------------------
# Last.fm.


def _lastfm_friends(path: pathlib.Path, user_ids: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
  """The friend graph of ``user_friends.dat`` (``userID friendID``) in CSR form.

  Ids are mapped to internal user ids (`user_ids`: sorted raw ids). Self-loops
  and repeated rows are dropped and friendships listed in one direction only
  are symmetrised, each with a warning giving the count.

  Returns:
    ``(offsets int64[U + 1], ids int32[E])`` as in `graph.symmetric_csr`.

  Raises:
    FileNotFoundError: the file is missing.
    ValueError: bad header or line, or an id that is not a user of
      ``user_artists.dat`` (naming file:line and the column).
  """
  table = _read_table(path, "\t", 2, header=("userID", "friendID"))
  ends = []
  for col, field in enumerate(("userID", "friendID")):
    raw = _ints(table, col, field)
    pos, found = _find(user_ids, raw)
    if not found.all():
      k = np.flatnonzero(~found)[0]
      raise ValueError(f"{table.path}:{table.lines[k]}: {field} {raw[k]} is not a "
                       "user of user_artists.dat")
    ends.append(pos)
  source, target = ends
  loop = source == target
  edges = source[~loop] * len(user_ids) + target[~loop]
  unique = np.unique(edges)
  if loop.any() or len(unique) < len(edges):
    warnings.warn(f"{table.path}: {loop.sum()} self-loop rows and "
                  f"{len(edges) - len(unique)} repeated rows dropped", stacklevel=3)
  reverse = np.unique(target[~loop] * len(user_ids) + source[~loop])
  one_way = len(np.setdiff1d(unique, reverse, assume_unique=True))
  if one_way:
    warnings.warn(f"{table.path}: {one_way} friendships are listed in one direction "
                  "only; symmetrised (the other direction added)", stacklevel=3)
  return graph.symmetric_csr(source[~loop], target[~loop], len(user_ids))


def load_lastfm(path: PathLike, *, num_tags: int = 5) -> Interactions:
  """Loads HetRec 2011 Last.fm 2K (implicit feedback: play counts).

  Reads ``user_artists.dat`` (``userID artistID weight``), ``artists.dat``
  (``id name url pictureURL``, UTF-8), ``tags.dat`` (``tagID tagValue``,
  latin-1), ``user_taggedartists.dat`` (``userID artistID tagID day month
  year``) and, when present, ``user_friends.dat`` (``userID friendID``); all
  tab-separated with a header line, CRLF or LF.

  Items are the artists of ``user_artists.dat`` (in the real release exactly
  those of ``artists.dat``; extra ``artists.dat`` entries are dropped with a
  warning). ``rating`` is the play count (weight, must be > 0).

  Tag policy: assignments of artists that are not items (390 artist ids /
  1,538 rows in the real file) and assignments by users that are not in
  ``user_artists.dat`` (none in the real file) are dropped with a warning
  giving the counts; assignments dated outside `LASTFM_YEARS` (1956, 1957,
  1979 in the real file) are kept (the date is not used) and reported in a
  warning. The assignments are kept raw in ``item_tags`` (internal ids).

  Features: item ``"tag"`` ``int32[I, num_tags]`` (ids ``1 + rank of tagID``)
  + ``"tag_mask"``, and item text ``"Name — tag1, tag2, ..."``, are derived by
  :func:`jaxrec.data.tags.with_item_tags` from the assignments of chosen users
  (the artist's `num_tags` most-assigned tags, ties: smaller tagID). A tag
  tells that its user knows the artist, so the reader chooses no user: the
  field is all 0 and the text is the name; ``jaxrec.train.prepare`` and
  :func:`jaxrec.data.splits.build_tables` use the training users' tags. No
  user features.

  Friends: ``user_friends.dat`` becomes the undirected user graph
  ``friend_offsets`` / ``friend_ids`` (see `Interactions`); self-loops and
  repeated rows are dropped and one-way rows symmetrised, with warnings. The
  real release always has the file (25,434 rows, every pair in both
  directions); without it the graph is None.

  Args:
    path: the ``hetrec2011-lastfm-2k`` directory.
    num_tags: tags kept per artist, >= 1.

  Returns:
    `Interactions` with ``implicit=True``, no timestamps, no rating scale.

  Raises:
    FileNotFoundError: a required file is missing.
    ValueError: bad header or line, non-positive weight, a tag assignment with
      an unknown tagID, a friend id that is not a user of
      ``user_artists.dat``, or `num_tags` < 1.
  """
  if num_tags < 1:
    raise ValueError(f"num_tags must be >= 1, got {num_tags}")
  path = pathlib.Path(path)
  ratings = _read_table(path / "user_artists.dat", "\t", 3,
                        header=("userID", "artistID", "weight"))
  user_raw = _ints(ratings, 0, "userID")
  item_raw = _ints(ratings, 1, "artistID")
  weight = _floats(ratings, 2, "weight")
  bad = np.flatnonzero(weight <= 0)
  if bad.size:
    raise ValueError(f"{ratings.path}:{ratings.lines[bad[0]]}: weight "
                     f"{weight[bad[0]]:g} is not a positive play count")

  tags = _read_table(path / "tags.dat", "\t", 2, header=("tagID", "tagValue"))
  tag_raw = _ints(tags, 0, "tagID")
  tag_order = np.argsort(tag_raw, kind="stable")
  tag_names = ["<pad>"] + [tags.columns[1][k] for k in tag_order]
  sorted_tags = tag_raw[tag_order]

  artists = _read_table(path / "artists.dat", "\t", 4, encoding="utf-8",
                        header=("id", "name", "url", "pictureURL"))
  item_side = _Side(artists.path, _ints(artists, 0, "id"), artists.lines, {},
                    artists.columns[1])
  data = _interactions(
      "lastfm", ratings, user_raw, item_raw, weight, None, users=None,
      items=item_side, user_vocab_sizes={}, item_vocab_sizes={"tag": len(tag_names)},
      implicit=True, rating_scale=None, vocab_names={"tag": tag_names})

  assigned = _read_table(path / "user_taggedartists.dat", "\t", 6,
                         header=("userID", "artistID", "tagID", "day", "month",
                                 "year"))
  tagger = _ints(assigned, 0, "userID")
  tagged = _ints(assigned, 1, "artistID")
  tag = _ints(assigned, 2, "tagID")
  year = _ints(assigned, 5, "year")
  tag_pos, tag_found = _find(sorted_tags, tag)
  unknown = np.flatnonzero(~tag_found)
  if unknown.size:
    k = unknown[0]
    raise ValueError(f"{assigned.path}:{assigned.lines[k]}: tagID {tag[k]} is not "
                     "in tags.dat")
  odd_years = (year < LASTFM_YEARS[0]) | (year > LASTFM_YEARS[1])
  if odd_years.any():
    warnings.warn(f"{assigned.path}: {odd_years.sum()} tag assignments dated "
                  f"outside {LASTFM_YEARS[0]}-{LASTFM_YEARS[1]} (years "
                  f"{sorted(set(year[odd_years].tolist()))}); kept", stacklevel=2)
  item_pos, known = _find(data.item_ids, tagged)
  user_pos, user_known = _find(data.user_ids, tagger)
  for ok, raw, what in ((known, tagged, "artist"), (user_known, tagger, "user")):
    if not ok.all():
      warnings.warn(f"{assigned.path}: {(~ok).sum()} tag assignments reference "
                    f"{np.unique(raw[~ok]).size} {what} ids that are not in "
                    f"{ratings.path.name}; dropped", stacklevel=2)
  use = known & user_known
  item_tags = ItemTags(
      user=user_pos[use].astype(np.int32), item=item_pos[use].astype(np.int32),
      tag=(tag_pos[use] + 1).astype(np.int32), titles=data.item_text, field="tag",
      width=num_tags)
  friends = path / "user_friends.dat"
  offsets, friend_ids = (_lastfm_friends(friends, data.user_ids)
                         if friends.is_file() else (None, None))
  data = dataclasses.replace(data, item_tags=item_tags, friend_offsets=offsets,
                             friend_ids=friend_ids)
  return tags_lib.with_item_tags(data, np.empty(0, np.int32))


# ----------------------------------------------------------------------------
# Generic CSV.


def _raw_ids(values: list[str]) -> np.ndarray:
  """Raw ids as ``int64`` when every value is an integer, else as strings."""
  try:
    return np.asarray([int(v) for v in values], np.int64)
  except ValueError:
    return np.asarray(values, dtype=str)


def load_csv(path: PathLike, *, user_col: str = "user", item_col: str = "item",
             rating_col: str | None = "rating", timestamp_col: str | None = None,
             sep: str | None = None, implicit: bool = False,
             rating_scale: tuple[float, float] | None = None,
             name: str | None = None) -> Interactions:
  """Loads interactions from any delimited file whose first line is a header.

  Fields are split on `sep` without quoting rules (no quoted separators).
  Raw ids are integers when every id of the column parses as one, else strings
  (internal ids follow their sorted order). No side features; item text is the
  raw item id.

  Args:
    path: the file.
    user_col, item_col: header names of the id columns.
    rating_col: header name of the rating / weight column; None gives every
      interaction weight 1 (pure implicit positives).
    timestamp_col: header name of an integer timestamp column, or None.
    sep: field separator; None picks tab when the header has one, else comma.
    implicit: whether the data are implicit feedback.
    rating_scale: ``(min, max)``; ratings outside raise ValueError. Ignored
      (stored as None) when `implicit`.
    name: dataset name; defaults to the file's stem.

  Returns:
    `Interactions` with empty feature tables.

  Raises:
    FileNotFoundError: the file is missing.
    ValueError: a named column is absent from the header, a line has the wrong
      number of fields, a rating / timestamp is not numeric or finite, or a
      rating lies outside `rating_scale`.
  """
  path = pathlib.Path(path)
  first = _read_text(path, "utf-8").split("\n", 1)[0].rstrip("\r")
  if sep is None:
    sep = "\t" if "\t" in first else ","
  header = [h.strip() for h in first.split(sep)]
  table = _read_table(path, sep, len(header), encoding="utf-8", header=header)
  columns = {}
  for key, col in (("user", user_col), ("item", item_col), ("rating", rating_col),
                   ("timestamp", timestamp_col)):
    if col is not None and col not in header:
      raise ValueError(f"{path}:1: no column {col!r} for the {key} in header "
                       f"{header}")
    columns[key] = None if col is None else header.index(col)
  if columns["rating"] is None:
    rating = np.ones(len(table.lines), np.float64)
  else:
    rating = _floats(table, columns["rating"], rating_col)
    if rating_scale is not None and not implicit:
      _check_range(rating, table, rating_col, *rating_scale)
  timestamp = (None if columns["timestamp"] is None
               else _ints(table, columns["timestamp"], timestamp_col))
  return _interactions(
      name or path.stem, table, _raw_ids(table.columns[columns["user"]]),
      _raw_ids(table.columns[columns["item"]]), rating, timestamp, users=None,
      items=None, user_vocab_sizes={}, item_vocab_sizes={}, implicit=implicit,
      rating_scale=None if implicit else rating_scale, vocab_names={})


# ----------------------------------------------------------------------------
# Registry, summary, CLI.

#: name -> (loader, the files its directory must hold).
LOADERS: dict[str, tuple[Callable[[pathlib.Path], Interactions], tuple[str, ...]]] = {
    "ml-100k": (load_movielens_100k,
                ("u.data", "u.item", "u.user", "u.genre", "u.occupation")),
    "ml-1m": (load_movielens_1m, ("ratings.dat", "movies.dat", "users.dat")),
    "lastfm": (load_lastfm, ("user_artists.dat", "artists.dat", "tags.dat",
                             "user_taggedartists.dat", "user_friends.dat")),
}


def dataset_dir(name: str, data_dir: PathLike | None = None) -> pathlib.Path:
  """``<data_dir>/<folder>`` of a registered dataset (folder as in the archive).

  `data_dir` defaults to the ``JAXREC_DATA_DIR`` environment variable.

  Raises:
    ValueError: unknown `name`.
    FileNotFoundError: neither `data_dir` nor the environment variable is set.
  """
  if name not in LOADERS:
    raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(LOADERS)}")
  data_dir = data_dir or os.environ.get(DATA_DIR_ENV)
  if not data_dir:
    raise FileNotFoundError(
        f"no data directory for {name!r}: pass data_dir=... or set "
        f"{DATA_DIR_ENV} to a folder holding "
        f"{download_lib.ARCHIVES[name].folder}/")
  return pathlib.Path(data_dir) / download_lib.ARCHIVES[name].folder


def load_dataset(name: str, data_dir: PathLike | None = None, *,
                 download: bool = False) -> Interactions:
  """Loads a registered dataset (``"ml-100k"``, ``"ml-1m"``, ``"lastfm"``).

  Files are looked up in ``<data_dir>/<folder>/`` (folders ``ml-100k``,
  ``ml-1m``, ``hetrec2011-lastfm-2k``), `data_dir` defaulting to the
  ``JAXREC_DATA_DIR`` environment variable. Missing files are downloaded
  from GroupLens when `download` is true.

  Raises:
    ValueError: unknown `name`, or a parsing error of the reader.
    FileNotFoundError: the files are missing and `download` is false; the
      message says where to put them, the environment variable and the
      download option.
  """
  folder = dataset_dir(name, data_dir)
  loader, files = LOADERS[name]
  missing = [f for f in files if not (folder / f).is_file()]
  if missing and download:
    download_lib.fetch(name, folder.parent)
  elif missing:
    raise FileNotFoundError(
        f"{name}: {', '.join(missing)} not found in {folder}. Unpack "
        f"{download_lib.ARCHIVES[name].url} so that {folder / files[0]} exists, "
        f"or set {DATA_DIR_ENV} / data_dir to the folder holding "
        f"{folder.name}/, or call load_dataset({name!r}, download=True).")
  return loader(folder)


def summary(interactions: Interactions) -> dict[str, object]:
  """JSON-ready statistics of a dataset.

  ``density = interactions / (users * items)``; ratings per user are the
  min / median / max over users of their interaction counts.
  """
  per_user = np.bincount(interactions.user, minlength=interactions.num_users)
  return {
      "name": interactions.name,
      "users": interactions.num_users,
      "items": interactions.num_items,
      "interactions": interactions.num_interactions,
      "density": interactions.num_interactions
                 / (interactions.num_users * interactions.num_items),
      "ratings_per_user": {"min": int(per_user.min()),
                           "median": float(np.median(per_user)),
                           "max": int(per_user.max())},
      "implicit": interactions.implicit,
      "rating_scale": (None if interactions.rating_scale is None
                       else list(interactions.rating_scale)),
  }


def main(argv: Sequence[str] | None = None) -> None:
  """CLI: prints `summary` of ``--dataset`` as JSON."""
  parser = argparse.ArgumentParser(description=main.__doc__)
  parser.add_argument("--dataset", required=True, choices=sorted(LOADERS))
  parser.add_argument("--data_dir", default=None,
                      help=f"defaults to ${DATA_DIR_ENV}")
  parser.add_argument("--download", action="store_true",
                      help="download the archive when the files are missing")
  args = parser.parse_args(argv)
  data = load_dataset(args.dataset, args.data_dir, download=args.download)
  print(json.dumps(summary(data), indent=2))


if __name__ == "__main__":
  main()
