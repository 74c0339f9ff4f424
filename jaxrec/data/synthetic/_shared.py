"""What both synthetic writers share: writing raw lines, and giving every item a rating."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import numpy as np


def write_lines(path: pathlib.Path, lines: list[str], *, encoding: str = "latin-1",
                newline: str = "\n") -> None:
  """Writes ``lines``, each terminated by ``newline``, in ``encoding``."""
  path.write_bytes("".join(line + newline for line in lines).encode(encoding))


def cover_every_item(chosen: Sequence[np.ndarray], num_items: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """``(user int[N], item int[N])`` pairs: user ``u`` with each item of
  ``chosen[u]``, then every item of ``[0, num_items)`` nobody chose with one user
  drawn uniformly (``rng.integers(len(chosen))``), so every item has a pair."""
  user = np.concatenate([np.full(len(c), u) for u, c in enumerate(chosen)])
  item = np.concatenate(chosen)
  unchosen = np.setdiff1d(np.arange(num_items), item)
  user = np.concatenate([user, rng.integers(len(chosen), size=len(unchosen))])
  return user, np.concatenate([item, unchosen])
