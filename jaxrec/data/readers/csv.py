"""Generic reader: any delimited file with a header (one row per interaction)."""

from __future__ import annotations

import pathlib

import numpy as np

from jaxrec.data.interactions import Interactions
from jaxrec.data.readers import _parse
from jaxrec.data.readers._parse import PathLike

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
  first = _parse.read_text(path, "utf-8").split("\n", 1)[0].rstrip("\r")
  if sep is None:
    sep = "\t" if "\t" in first else ","
  header = [h.strip() for h in first.split(sep)]
  table = _parse.read_table(path, sep, len(header), encoding="utf-8", header=header)
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
    rating = _parse.floats(table, columns["rating"], rating_col)
    if rating_scale is not None and not implicit:
      _parse.check_range(rating, table, rating_col, *rating_scale)
  timestamp = (None if columns["timestamp"] is None
               else _parse.ints(table, columns["timestamp"], timestamp_col))
  return _parse.assemble(
      name or path.stem, table, _raw_ids(table.columns[columns["user"]]),
      _raw_ids(table.columns[columns["item"]]), rating, timestamp, users=None,
      items=None, user_vocab_sizes={}, item_vocab_sizes={}, implicit=implicit,
      rating_scale=None if implicit else rating_scale, vocab_names={})

