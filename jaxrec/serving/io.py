"""The recommend CLI's files and output: rating files in, a plain-text table out
(used by ``experiments/recommend.py``)."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

from jaxrec.serving.records import Recommendation


def read_ratings(path: str | pathlib.Path) -> list[tuple[str, float]]:
  """Reads ``item,rating`` lines (comma- or tab-separated, header optional).

  Blank lines and lines starting with ``#`` are skipped; the first line is taken
  as a header when its rating field is not a number. Raw item ids are returned as
  strings (matched as ``str(raw id)`` by ``jaxrec.serving.server.recommend``).

  Returns:
    ``[(raw item id, rating), ...]`` in file order.

  Raises:
    FileNotFoundError: ``path`` does not exist.
    ValueError: a line without exactly two fields, or a non-numeric rating
      (naming the file and line).
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"ratings file {path} not found")
  out = []
  for number, line in enumerate(path.read_text().splitlines(), start=1):
    line = line.strip()
    if not line or line.startswith("#"):
      continue
    fields = [f.strip() for f in line.split("\t" if "\t" in line else ",")]
    if len(fields) != 2:
      raise ValueError(f"{path}:{number}: expected 2 fields 'item,rating', got "
                       f"{len(fields)} in {line!r}")
    try:
      rating = float(fields[1])
    except ValueError as e:
      if number == 1:
        continue
      raise ValueError(f"{path}:{number}: rating {fields[1]!r} is not a number") from e
    out.append((fields[0], rating))
  return out


def format_table(recommendations: Sequence[Recommendation]) -> str:
  """A plain-text table: rank, item id, score, title and explanation, one line per
  recommendation under a header and a rule."""
  header = ("rank", "item", "score", "title", "why")
  rows = [(str(r), str(rec.item_id), f"{rec.score:.3f}", rec.title,
           rec.explanation.text if rec.explanation else "")
          for r, rec in enumerate(recommendations, start=1)]
  widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
  lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
           for row in [header, *rows]]
  lines.insert(1, "  ".join("-" * w for w in widths))
  return "\n".join(lines)
