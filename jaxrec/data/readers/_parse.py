"""Table reading, field parsing and id mapping shared by the readers.

Private to `jaxrec.data.readers`: each dataset module (`movielens`, `lastfm`,
`csv`) reads its files with `read_table`, converts columns with `ints` /
`floats` / `codes` (errors name ``file:line`` and the field) and hands the
columns to `assemble`, which applies the package's policies (see its
docstring): duplicate pairs dropped by timestamp, contiguous ids in raw-id
order, side tables joined by raw id.
"""

from __future__ import annotations

import os
import pathlib
import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from jaxrec.data.interactions import Interactions

PathLike = str | os.PathLike


class Table(NamedTuple):
  """Columns of a delimited file: ``columns[k][r]`` is field k of data row r."""
  path: pathlib.Path
  lines: np.ndarray  # int64[R], 1-based line number of each row
  columns: list[list[str]]


class Side(NamedTuple):
  """Per-row side information of a users/items file, keyed by raw id."""
  path: pathlib.Path
  ids: np.ndarray  # [R] raw ids
  lines: np.ndarray  # [R] line numbers
  features: dict[str, np.ndarray]  # [R] or [R, m]
  text: list[str] | None  # [R]


# ----------------------------------------------------------------------------
# Low-level parsing.


def read_text(path: pathlib.Path, encoding: str) -> str:
  """Decodes a whole file; raises FileNotFoundError / ValueError (bad bytes)."""
  if not path.is_file():
    raise FileNotFoundError(f"{path}: file not found")
  data = path.read_bytes()
  try:
    return data.decode(encoding)
  except UnicodeDecodeError as e:
    line = data.count(b"\n", 0, e.start) + 1
    raise ValueError(f"{path}:{line}: bytes are not valid {encoding}") from e


def read_table(path: pathlib.Path, sep: str, num_fields: int, *,
               encoding: str = "latin-1",
               header: Sequence[str] | None = None) -> Table:
  """Splits a delimited file into ``num_fields`` stripped string columns.

  Args:
    path: the file.
    sep: field separator (``"\\t"``, ``"|"``, ``"::"``, ...).
    num_fields: the exact number of fields every non-blank line must have.
    encoding: text encoding.
    header: expected names of the first line (case-insensitive), or None when
      the file has no header.

  Returns:
    A `Table` with R rows (blank lines skipped).

  Raises:
    FileNotFoundError: the file does not exist.
    ValueError: wrong header, wrong field count, or no data line at all.
  """
  text = read_text(path, encoding)
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
  return Table(path, np.asarray(kept, np.int64) + 1, columns)


def _convert(table: Table, col: int, field: str, convert: Callable[[str], object],
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


def ints(table: Table, col: int, field: str) -> np.ndarray:
  """Column `col` parsed as ``int64[R]``; ValueError names file:line:field."""
  return np.asarray(_convert(table, col, field, int, "an integer"), np.int64)


def floats(table: Table, col: int, field: str) -> np.ndarray:
  """Column `col` parsed as finite ``float64[R]``; ValueError names file:line."""
  out = np.asarray(_convert(table, col, field, float, "a number"), np.float64)
  bad = np.flatnonzero(~np.isfinite(out))
  if bad.size:
    k = bad[0]
    raise ValueError(f"{table.path}:{table.lines[k]}: {field} "
                     f"{table.columns[col][k]!r} is not finite")
  return out


def check_range(values: np.ndarray, table: Table, field: str, low: float,
                high: float) -> None:
  """Raises ValueError at the first value outside ``[low, high]``."""
  bad = np.flatnonzero((values < low) | (values > high))
  if bad.size:
    k = bad[0]
    raise ValueError(f"{table.path}:{table.lines[k]}: {field} {values[k]:g} is "
                     f"outside [{low:g}, {high:g}]")


def codes(table: Table, col: int, field: str, vocab: dict[str, int]) -> np.ndarray:
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


def keep_last(user: np.ndarray, item: np.ndarray, timestamp: np.ndarray | None,
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


def find(sorted_ids: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Position of each value in `sorted_ids` (``int64[n]``) and whether it is there."""
  pos = np.minimum(np.searchsorted(sorted_ids, values), len(sorted_ids) - 1)
  return pos, sorted_ids[pos] == values


def side_rows(side: Side, wanted: np.ndarray, ratings: Table, raw: np.ndarray,
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
  pos, found = find(ids, wanted)
  missing = wanted[~found]
  if missing.size:
    k = np.flatnonzero(raw == missing[0])[0]
    raise ValueError(f"{ratings.path}:{ratings.lines[k]}: {what} id {missing[0]} "
                     f"has no line in {side.path.name} ({missing.size} such ids)")
  if len(ids) > len(wanted):
    warnings.warn(f"{side.path}: {len(ids) - len(wanted)} {what} ids never appear "
                  f"in {ratings.path.name}; dropped", stacklevel=3)
  return order[pos]


def assemble(name: str, ratings: Table, user_raw: np.ndarray,
             item_raw: np.ndarray, rating: np.ndarray,
             timestamp: np.ndarray | None, *, users: Side | None,
             items: Side | None, user_vocab_sizes: dict[str, int],
             item_vocab_sizes: dict[str, int], implicit: bool,
             rating_scale: tuple[float, float] | None,
             vocab_names: dict[str, list[str]]) -> Interactions:
  """Deduplicates, re-indexes and joins side tables into a validated result.

  Item text is the items side table's text, else the raw item id as a string.
  """
  keep = keep_last(user_raw, item_raw, timestamp, ratings.path)
  user_ids, user = np.unique(user_raw[keep], return_inverse=True)
  item_ids, item = np.unique(item_raw[keep], return_inverse=True)
  user_features, item_features, user_text = {}, {}, None
  item_text = np.asarray([str(i) for i in item_ids], dtype=str)
  if users is not None:
    rows = side_rows(users, user_ids, ratings, user_raw, "user")
    user_features = {k: v[rows] for k, v in users.features.items()}
    if users.text is not None:
      user_text = np.asarray([users.text[r] for r in rows], dtype=str)
  if items is not None:
    rows = side_rows(items, item_ids, ratings, item_raw, "item")
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


def multi_hot(lists: Sequence[Sequence[int]], width: int) -> tuple[np.ndarray, np.ndarray]:
  """Pads id lists to ``int32[R, width]`` (first `width` kept) + ``float32`` mask."""
  ids = np.zeros((len(lists), width), np.int32)
  for r, values in enumerate(lists):
    values = list(values)[:width]
    ids[r, :len(values)] = values
  return ids, (ids > 0).astype(np.float32)
