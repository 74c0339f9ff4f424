"""Readers turning raw recommendation datasets into validated `Interactions`.

Supported sources: MovieLens 100K and 1M (`movielens`), HetRec 2011 Last.fm 2K
(`lastfm`), and any CSV/TSV with a header (`csv`); the shared table parsing is
in `_parse`. Parsing is plain Python + numpy (no pandas). This package holds the
registry of named datasets (`LOADERS`, `load_dataset`), `summary` and the CLI
``python -m jaxrec.data.readers --dataset=ml-100k``.

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
import json
import os
import pathlib
from collections.abc import Callable, Sequence

import numpy as np

from jaxrec.data import download as download_lib
from jaxrec.data.interactions import EM_DASH, Interactions, ItemTags
from jaxrec.data.readers._parse import PathLike
from jaxrec.data.readers.csv import load_csv
from jaxrec.data.readers.lastfm import LASTFM_YEARS, load_lastfm
from jaxrec.data.readers.movielens import (AGE_GROUP_STARTS, AGE_NAMES, GENDER_NAMES,
                                           MAX_GENRES, ML1M_OCCUPATIONS, ML_GENRES,
                                           YEAR_EDGES, YEAR_NAMES, load_movielens_100k,
                                           load_movielens_1m)

__all__ = [
    "AGE_GROUP_STARTS", "AGE_NAMES", "DATA_DIR_ENV", "EM_DASH", "GENDER_NAMES",
    "Interactions", "ItemTags", "LASTFM_YEARS", "LOADERS", "MAX_GENRES",
    "ML1M_OCCUPATIONS", "ML_GENRES", "PathLike", "YEAR_EDGES", "YEAR_NAMES",
    "dataset_dir", "load_csv", "load_dataset", "load_lastfm", "load_movielens_100k",
    "load_movielens_1m", "main", "summary",
]

DATA_DIR_ENV = "JAXREC_DATA_DIR"


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
