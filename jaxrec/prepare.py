"""A run's data, derived from its config's data section.

:func:`prepare` loads the dataset, splits it (seeded by ``config.seed``) and builds
the feature tables, optional text vectors and the training popularity: a pure
function of the config, so training (:func:`jaxrec.train.train`), evaluation
(through :func:`jaxrec.run.load_run`) and the serving bundle all see exactly the
same data. :func:`item_vectors` is the one featurisation of items by their
categorical fields (diversity, explanations, the content baselines).
"""

from __future__ import annotations

import dataclasses
import tempfile

import ml_collections
import numpy as np

from jaxrec import metrics as metrics_lib
from jaxrec.data import readers
from jaxrec.data import splits
from jaxrec.data import synthetic
from jaxrec.data import tags
from jaxrec.data.interactions import Interactions


@dataclasses.dataclass(frozen=True, eq=False)
class Prepared:
  """Everything a run derives from its config's data section.

  Attributes:
    interactions: the dataset.
    split: the cold-start split (seeded by ``config.seed``).
    user_table, item_table, vocab_sizes: the model's feature tables
      (:func:`jaxrec.data.splits.build_tables`, plus ``item_table["text"]`` when
      ``config.data.text_features``).
    popularity: ``float32[I]`` distinct training users per item
      (:func:`jaxrec.metrics.item_popularity` of the training ratings).
  """

  interactions: Interactions
  split: splits.ColdStartSplit
  user_table: dict[str, np.ndarray]
  item_table: dict[str, np.ndarray]
  vocab_sizes: dict[str, int]
  popularity: np.ndarray


# Synthetic datasets: name -> (writer into a folder, reader of that folder).
SYNTHETIC = {
    "synthetic": (synthetic.write_synthetic_movielens, readers.load_movielens_100k),
    "synthetic-lastfm": (synthetic.write_synthetic_lastfm, readers.load_lastfm),
}


def load_interactions(data: ml_collections.ConfigDict) -> Interactions:
  """The dataset named by ``data.dataset``.

  ``"synthetic"`` (``"synthetic-lastfm"``) writes the planted-taste ML-100K-format
  (HetRec Last.fm-format) files of :mod:`jaxrec.data.synthetic` (keyword
  arguments of its writer from the dict ``data.synthetic``, e.g. ``{"num_users":
  300, "seed": 0}``: seeded by ``data.synthetic["seed"]``) into a temporary folder
  and reads them with the dataset's reader; ``"csv:<path>"`` reads any CSV/TSV;
  other names go to :func:`jaxrec.data.readers.load_dataset` with
  ``data.data_dir`` (or ``$JAXREC_DATA_DIR``).
  """
  name = data.dataset
  if name in SYNTHETIC:
    write, read = SYNTHETIC[name]
    with tempfile.TemporaryDirectory() as tmp:
      return read(write(tmp, **dict(data.get("synthetic", {}))))
  if name.startswith("csv:"):
    return readers.load_csv(name[len("csv:"):])
  return readers.load_dataset(name, data.data_dir or None, download=data.download)


def prepare(config: ml_collections.ConfigDict) -> Prepared:
  """Loads the data, splits it (seed ``config.seed``) and builds the tables.

  Item tags from user assignments (Last.fm) are taken from the training users
  only (:func:`jaxrec.data.tags.with_item_tags`), in the tables, the item text
  (and so its text vectors) and ``Prepared.interactions`` alike.

  Raises:
    ValueError: ``config.data.split`` is neither ``"random"`` nor ``"time"``; as
      the dataset's reader and the split.
    FileNotFoundError: as the dataset's reader (missing files).
  """
  data = config.data
  interactions = load_interactions(data)
  split_args = dict(seed=config.seed, min_ratings=data.min_ratings,
                    max_ratings=data.max_ratings, query_size=data.query_size)
  if data.split == "random":
    split = splits.random_split(interactions, user_fractions=tuple(data.user_fractions),
                                item_fractions=tuple(data.item_fractions), **split_args)
  elif data.split == "time":
    split = splits.time_split(interactions, user_cutoff=data.user_cutoff,
                              item_cutoff=data.item_cutoff, **split_args)
  else:
    raise ValueError(f"config.data.split must be 'random' or 'time', got {data.split!r}")
  interactions = tags.with_item_tags(interactions, split.train_users)
  user_table, item_table, vocab_sizes = splits.build_tables(
      interactions, split, friends=data.get("friends", False))
  rows = splits.training_mask(interactions, split)
  popularity = metrics_lib.item_popularity(interactions.user[rows], interactions.item[rows],
                                           interactions.num_items).astype(np.float32)
  if data.text_features:
    from jaxrec import text  # pylint: disable=import-outside-toplevel
    item_table["text"] = text.item_text_embeddings(
        interactions.item_text, model_path=data.text_model or None,
        cache_dir=data.cache_dir or None)
  return Prepared(interactions=interactions, split=split, user_table=user_table,
                  item_table=item_table, vocab_sizes=vocab_sizes,
                  popularity=popularity)


def item_vectors(prepared: Prepared, items: np.ndarray | None = None) -> np.ndarray:
  """``float32[len(items), d]`` item vectors for diversity, explanations and the
  content baselines.

  The one-hot encoding of every categorical item field (multi-hot fields as sets,
  id 0 = unknown left out) plus one column that is 1 for an item with no feature
  at all (so every vector is non-zero: two featureless items are identical, a
  featureless and a described one are orthogonal). Text vectors are deliberately
  not used, so that diversity is measured the same way for every model on a
  dataset. ``items`` (default: all) selects the rows, which keeps the one-hot
  matrix small for large tag vocabularies.
  """
  table = prepared.item_table
  items = np.arange(prepared.interactions.num_items) if items is None else np.asarray(items)
  columns = []
  for name, values in table.items():
    if name.endswith("_mask") or name in ("item_id", "text"):
      continue
    ids = values[items].reshape(len(items), -1)
    mask = table.get(f"{name}_mask", np.ones(values.shape))[items].reshape(ids.shape)
    onehot = np.zeros((len(items), prepared.vocab_sizes[name]), np.float32)
    np.maximum.at(onehot, (np.repeat(np.arange(len(items)), ids.shape[1]), ids.ravel()),
                  (mask.ravel() > 0).astype(np.float32))
    columns.append(onehot[:, 1:])
  columns.append(np.zeros((len(items), 1), np.float32))
  vectors = np.concatenate(columns, axis=1)
  vectors[:, -1] = vectors.sum(axis=1) == 0
  return vectors
