"""TensorFlow-free TFDS builders of jaxrec's cold-start episode datasets.

Each builder reads the raw GroupLens files from a manual directory laid out as
for :func:`jaxrec.data.readers.load_dataset` (``<manual_dir>/ml-100k/u.data``,
``<manual_dir>/ml-1m/ratings.dat``,
``<manual_dir>/hetrec2011-lastfm-2k/user_artists.dat``), splits it with
:func:`jaxrec.data.splits.random_split`, builds the episodes with
:func:`jaxrec.data.episodes.make_episodes` / ``training_episodes`` and writes
them as ``array_record`` files, which ``tfds.data_source`` reads by random
access without TensorFlow::

  import tensorflow_datasets as tfds
  from jaxrec.data import tfds as jaxrec_tfds
  jaxrec_tfds.build("ml-100k", manual_dir="/data", data_dir="/tfds")
  source = tfds.data_source("jaxrec_ml100k/random", data_dir="/tfds")
  source["new_users_test"][0]
  # {"user": 17, "user_raw_id": 18,
  #  "support": {"item": int32[S], "y": float32[S]},
  #  "query": {"item": int32[Q], "y": float32[Q]}}

One example is one user episode; ids are jaxrec's internal ids (those of
``load_dataset`` on the same files). One TFDS split per episode set (see
:data:`SPLITS`): ``train`` (the meta-training episodes of epoch 0), ``warm``
and ``<state>_<group>`` for the new-user / new-item states of the validation
and test groups. Examples are stored in episode order, so example ``e`` of a
split is episode ``e`` of the corresponding :class:`Episodes`.

The module stays whole (over 400 lines) because it is one idea, the TFDS form of
the protocol: its config, split names, builders and reader all need the optional
``tensorflow-datasets`` import guarded at the top, and they share one split naming.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Iterator
from typing import Any

import numpy as np

try:
  import tensorflow_datasets as tfds
except ImportError as _error:  # The optional "tfds" extra.
  raise ImportError("jaxrec.data.tfds needs tensorflow-datasets, array-record and "
                    "importlib_resources (pip install 'jaxrec[tfds]'); TensorFlow "
                    "itself is not needed") from _error

from jaxrec.data import download as download_lib
from jaxrec.data import readers
from jaxrec.data.episodes import STATES, Episodes, make_episodes, training_episodes
from jaxrec.data.interactions import Interactions
from jaxrec.data.splits import ColdStartSplit, random_split

PathLike = str | os.PathLike

#: The evaluation groups that get one split per new-user / new-item state.
EVAL_GROUPS = ("val", "test")
#: TFDS split names, in build order.
SPLITS = ("train", "warm") + tuple(
    f"{state}_{group}" for group in EVAL_GROUPS for state in STATES[1:])

_MOVIELENS_CITATION = """\
@article{harper2015movielens,
  author = {Harper, F. Maxwell and Konstan, Joseph A.},
  title = {The MovieLens Datasets: History and Context},
  journal = {ACM Transactions on Interactive Intelligent Systems},
  volume = {5},
  number = {4},
  articleno = {19},
  year = {2015},
  doi = {10.1145/2827872},
}"""

_LASTFM_CITATION = """\
@inproceedings{cantador2011hetrec,
  author = {Cantador, Iv\\'{a}n and Brusilovsky, Peter and Kuflik, Tsvi},
  title = {Second Workshop on Information Heterogeneity and Fusion in
           Recommender Systems (HetRec 2011)},
  booktitle = {Proceedings of the 5th ACM Conference on Recommender Systems},
  series = {RecSys '11},
  year = {2011},
  doi = {10.1145/2043932.2044016},
}"""

_LICENCE = (
    "GroupLens usage licence: research use only, cite the dataset, no "
    "redistribution without permission. These builders ship no data: obtain the "
    "archive from GroupLens yourself, accept its licence, and do not publish the "
    "prepared files.")

_EPISODE_DESCRIPTION = (
    "One example per user episode of jaxrec's cold-start protocol: 'user' "
    "(internal id), 'user_raw_id' (id in the source files), and 'support' / "
    "'query' with 'item' (int32 internal item ids) and 'y' (float32 rating, or "
    "1 / 0 for implicit positives / sampled negatives). Splits: 'train' "
    "(meta-training episodes of epoch 0), 'warm', and '<state>_<group>' for "
    "states new_users, new_items, new_users_new_items and groups val, test. "
    "Metadata: the protocol, dataset sizes, group sizes and dropped users per "
    f"split.\n\n{_LICENCE}")

#: Fields of tfds.core.BuilderConfig itself (name, version, ...), not protocol.
_BASE_FIELDS = frozenset(f.name for f in dataclasses.fields(tfds.core.BuilderConfig))


@dataclasses.dataclass(eq=False, kw_only=True)
class ColdStartConfig(tfds.core.BuilderConfig):
  """A versioned split protocol: the arguments of the split and the episodes.

  Any change of a field changes the data, so a released config's fields are
  frozen; a new protocol is a new config name (or a new version with release
  notes).

  Attributes:
    seed: seed of ``random_split`` and of the episodes (``make_episodes``'
      ``seed``; ``training_episodes`` with ``seed`` and ``epoch=0``).
    user_fractions, item_fractions: train / val / test proportions.
    min_ratings, max_ratings: the inclusive rating-count filter on users.
    query_size: query ratings per episode (and warm hold-out per train user).
    min_support: minimum support ratings of an evaluation episode.
    negatives: sampled negatives per positive (implicit data only).
  """

  seed: int = 0
  user_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
  item_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
  min_ratings: int = 13
  max_ratings: int = 100
  query_size: int = 10
  min_support: int = 1
  negatives: int = 0

  def protocol(self) -> dict[str, Any]:
    """The protocol fields as a JSON-ready dict (tuples become lists)."""
    protocol = {}
    for field in dataclasses.fields(ColdStartConfig):
      if field.name not in _BASE_FIELDS:
        value = getattr(self, field.name)
        protocol[field.name] = list(value) if isinstance(value, tuple) else value
    return protocol


def _default_config(negatives: int = 0) -> ColdStartConfig:
  """The ``random`` config, version 1.0.0: the default protocol of
  ``jaxrec.config.get_config``."""
  return ColdStartConfig(
      name="random", version="1.0.0", negatives=negatives,
      release_notes={"1.0.0": "Initial protocol: seeded random joint 8:1:1 user "
                              "and item split, users with 13-100 ratings, "
                              f"query size 10, {negatives} negatives per positive, "
                              "seed 0."},
      description="Random 8:1:1 user/item split (MeLU / MAMO protocol), seed 0.")


def split_name(state: str, group: str) -> str:
  """The TFDS split holding the episodes of ``state`` for ``group``.

  ``("train", "train") -> "train"``, ``("warm", any) -> "warm"``, otherwise
  ``"<state>_<group>"``, e.g. ``"new_users_test"``.

  Raises:
    ValueError: for a state/group pair that has no split.
  """
  name = state if state in ("train", "warm") else f"{state}_{group}"
  if name not in SPLITS or (state == "train" and group != "train"):
    raise ValueError(f"no split for state {state!r} and group {group!r}; splits "
                     f"are {SPLITS}")
  return name


def state_and_group(split: str) -> tuple[str, str]:
  """Inverse of :func:`split_name`: ``"new_items_val" -> ("new_items", "val")``.

  Raises:
    ValueError: for a name not in :data:`SPLITS`.
  """
  if split not in SPLITS:
    raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
  if split in ("train", "warm"):
    return split, "train"
  state, group = split.rsplit("_", 1)
  return state, group


def protocol_episodes(interactions: Interactions, config: ColdStartConfig
                      ) -> tuple[ColdStartSplit, dict[str, Episodes]]:
  """The split and the episodes of every TFDS split under ``config``'s protocol.

  ``split = random_split(interactions, **protocol)``; ``"train"`` is
  ``training_episodes(epoch=0, seed=config.seed)`` and every other split
  ``make_episodes(state, group=group, seed=config.seed)`` with the config's
  ``query_size``, ``min_support`` and ``negatives``.

  Returns:
    ``(split, {split name: Episodes})`` in :data:`SPLITS` order.

  Raises:
    ValueError: from ``random_split`` / ``make_episodes`` (empty partition or
      state, negatives on explicit data, ...), prefixed with the split name.
  """
  split = random_split(
      interactions, user_fractions=config.user_fractions,
      item_fractions=config.item_fractions, seed=config.seed,
      min_ratings=config.min_ratings, max_ratings=config.max_ratings,
      query_size=config.query_size)
  episodes = {}
  for name in SPLITS:
    state, group = state_and_group(name)
    try:
      if state == "train":
        episodes[name] = training_episodes(
            interactions, split, epoch=0, seed=config.seed,
            query_size=config.query_size, negatives=config.negatives)
      else:
        episodes[name] = make_episodes(
            interactions, split, state, group=group, query_size=config.query_size,
            min_support=config.min_support, negatives=config.negatives,
            seed=config.seed)
    except ValueError as error:
      raise ValueError(f"config {config.name!r}, split {name!r}: {error}") from error
  return split, episodes


def _manual_instructions(dataset: str) -> str:
  """Where to put ``dataset``'s raw files (its MANUAL_DOWNLOAD_INSTRUCTIONS)."""
  archive = download_lib.ARCHIVES[dataset]
  return (f"Download {archive.url}, accept its licence and unpack it into the "
          f"manual directory so that <manual_dir>/{archive.folder}/"
          f"{readers.LOADERS[dataset][1][0]} exists (the layout of "
          "jaxrec.data.readers.load_dataset's data_dir).")


def _episode_part() -> dict[str, tfds.features.Tensor]:
  """Features of a support or query set: ``item int32[n]``, ``y float32[n]``."""
  return {"item": tfds.features.Tensor(shape=(None,), dtype=np.int32),
          "y": tfds.features.Tensor(shape=(None,), dtype=np.float32)}


class _ColdStartBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Shared logic; subclasses set ``name``, ``DATASET``, ``HOMEPAGE``,
  ``CITATION``, ``DESCRIPTION`` and ``BUILDER_CONFIGS``
  (``MANUAL_DOWNLOAD_INSTRUCTIONS`` follows from ``DATASET``)."""

  DATASET: str
  HOMEPAGE: str
  CITATION: str
  DESCRIPTION: str
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def __init_subclass__(cls, **kwargs: Any):
    """Sets a dataset builder's ``MANUAL_DOWNLOAD_INSTRUCTIONS`` from its
    ``DATASET``, then registers it with TFDS (unless ``skip_registration``)."""
    if "DATASET" in cls.__dict__:
      cls.MANUAL_DOWNLOAD_INSTRUCTIONS = _manual_instructions(cls.DATASET)
    super().__init_subclass__(**kwargs)

  def __init__(self, *, file_format: str | None = "array_record", **kwargs: Any):
    """As ``tfds.core.GeneratorBasedBuilder``, defaulting to ``array_record``."""
    super().__init__(file_format=file_format, **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=f"{self.DESCRIPTION}\n\n{_EPISODE_DESCRIPTION}",
        features=tfds.features.FeaturesDict({
            "user": np.int32, "user_raw_id": np.int64,
            "support": _episode_part(), "query": _episode_part()}),
        homepage=self.HOMEPAGE, citation=self.CITATION, license=_LICENCE,
        disable_shuffling=True, metadata=tfds.core.MetadataDict())

  def _raw_dir(self, dl_manager: tfds.download.DownloadManager) -> pathlib.Path:
    """``<manual_dir>/<folder>``, checked to hold the dataset's files."""
    try:
      manual_dir = dl_manager.manual_dir
    except AssertionError as error:
      raise FileNotFoundError(f"{self.name}: {error}") from error
    folder = readers.dataset_dir(self.DATASET, os.fspath(manual_dir))
    missing = [f for f in readers.LOADERS[self.DATASET][1]
               if not (folder / f).is_file()]
    if missing:
      raise FileNotFoundError(
          f"{self.name}: {', '.join(missing)} not found in {folder}. "
          f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    return folder

  def _split_generators(self, dl_manager: tfds.download.DownloadManager
                        ) -> dict[str, Iterator[tuple[int, dict[str, Any]]]]:
    """Reads the raw files, builds every split's episodes, records metadata."""
    loader = readers.LOADERS[self.DATASET][0]
    interactions = loader(self._raw_dir(dl_manager))
    config = self.builder_config
    split, episodes = protocol_episodes(interactions, config)
    self.info.metadata.update(
        protocol=config.protocol(), dataset=interactions.name,
        num_users=interactions.num_users, num_items=interactions.num_items,
        implicit=interactions.implicit,
        rating_scale=(None if interactions.rating_scale is None
                      else list(interactions.rating_scale)),
        group_sizes=split.sizes(),
        num_dropped={name: eps.num_dropped for name, eps in episodes.items()})
    return {name: self._generate_examples(interactions, eps)
            for name, eps in episodes.items()}

  def _generate_examples(self, interactions: Interactions, episodes: Episodes
                         ) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(e, example)`` for each episode ``e``, in episode order."""
    for e, user in enumerate(episodes.user):
      example = {"user": user, "user_raw_id": interactions.user_ids[user]}
      for part in ("support", "query"):
        item, y = episodes.part(part, e)
        example[part] = {"item": item, "y": y}
      yield e, example


class MovieLens100K(_ColdStartBuilder):
  """MovieLens 100K cold-start episodes (GroupLens, 100,000 ratings 1-5).

  Cite F. M. Harper and J. A. Konstan, "The MovieLens Datasets: History and
  Context", ACM TiiS 5(4), 2015. Licence: GroupLens research use, no
  redistribution; the user must obtain ``ml-100k.zip`` and unpack it into the
  manual directory (``<manual_dir>/ml-100k/u.data``).
  """

  name = "jaxrec_ml100k"
  DATASET = "ml-100k"
  HOMEPAGE = "https://grouplens.org/datasets/movielens/100k/"
  CITATION = _MOVIELENS_CITATION
  DESCRIPTION = ("MovieLens 100K (943 users, 1,682 movies, ratings 1-5) as "
                 "cold-start user episodes.")
  BUILDER_CONFIGS = [_default_config()]


class MovieLens1M(_ColdStartBuilder):
  """MovieLens 1M cold-start episodes (GroupLens, 1,000,209 ratings 1-5).

  Cite F. M. Harper and J. A. Konstan, "The MovieLens Datasets: History and
  Context", ACM TiiS 5(4), 2015. Licence: GroupLens research use, no
  redistribution; the user must obtain ``ml-1m.zip`` and unpack it into the
  manual directory (``<manual_dir>/ml-1m/ratings.dat``).
  """

  name = "jaxrec_ml1m"
  DATASET = "ml-1m"
  HOMEPAGE = "https://grouplens.org/datasets/movielens/1m/"
  CITATION = _MOVIELENS_CITATION
  DESCRIPTION = ("MovieLens 1M (6,040 users, 3,706 rated movies, ratings 1-5) as "
                 "cold-start user episodes.")
  BUILDER_CONFIGS = [_default_config()]


class LastFm(_ColdStartBuilder):
  """HetRec 2011 Last.fm 2K cold-start episodes (implicit listening counts).

  Positives have ``y = 1``; the default config stores one sampled negative
  (``y = 0``) per positive. Cite I. Cantador, P. Brusilovsky and T. Kuflik,
  "Second Workshop on Information Heterogeneity and Fusion in Recommender
  Systems (HetRec 2011)", RecSys 2011. Licence: GroupLens research use, no
  redistribution; the user must obtain ``hetrec2011-lastfm-2k.zip`` and unpack
  it into the manual directory
  (``<manual_dir>/hetrec2011-lastfm-2k/user_artists.dat``).
  """

  name = "jaxrec_lastfm"
  DATASET = "lastfm"
  HOMEPAGE = "https://grouplens.org/datasets/hetrec-2011/"
  CITATION = _LASTFM_CITATION
  DESCRIPTION = ("HetRec 2011 Last.fm 2K (1,892 users, 17,632 artists, implicit "
                 "play counts) as cold-start user episodes.")
  BUILDER_CONFIGS = [_default_config(negatives=1)]


#: jaxrec dataset name -> builder class.
BUILDERS: dict[str, type[_ColdStartBuilder]] = {
    cls.DATASET: cls for cls in (MovieLens100K, MovieLens1M, LastFm)}


def build(dataset: str, *, manual_dir: PathLike, data_dir: PathLike,
          config: str | ColdStartConfig | None = None) -> _ColdStartBuilder:
  """Prepares ``dataset``'s episodes under ``data_dir`` (a no-op when done).

  Args:
    dataset: ``"ml-100k"``, ``"ml-1m"`` or ``"lastfm"``.
    manual_dir: the folder holding the unpacked archive folder.
    data_dir: the TFDS data directory to write to.
    config: a registered config name, a custom :class:`ColdStartConfig` (give
      it a new name), or None for the default ``"random"``.

  Returns:
    The prepared builder (``builder.as_data_source(split)`` reads a split).

  Raises:
    ValueError: unknown dataset or config, or a protocol that leaves a split
      empty.
    FileNotFoundError: the manual directory or one of its files is missing.
  """
  if dataset not in BUILDERS:
    raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(BUILDERS)}")
  builder = BUILDERS[dataset](data_dir=os.fspath(data_dir), config=config)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=os.fspath(manual_dir)))
  return builder


def load_episodes(name: str, split: str, *, data_dir: PathLike) -> Episodes:
  """Reads one prepared split back into an :class:`Episodes` (no TensorFlow).

  Args:
    name: ``"<builder>/<config>"``, e.g. ``"jaxrec_ml100k/random"``.
    split: one of :data:`SPLITS`.
    data_dir: the TFDS data directory.

  Returns:
    ``Episodes`` with the state and group of ``split``, the episodes in stored
    order, ``num_dropped`` and ``negatives`` from the dataset metadata.

  Raises:
    ValueError: for an unknown split; tfds' errors for a dataset not prepared.
  """
  state, group = state_and_group(split)
  builder = tfds.builder(name, data_dir=os.fspath(data_dir))
  source = builder.as_data_source(split)
  metadata = builder.info.metadata
  examples = [source[e] for e in range(len(source))]
  fields = {"user": np.asarray([ex["user"] for ex in examples], np.int32)}
  for part in ("support", "query"):
    items = [ex[part]["item"] for ex in examples]
    fields[f"{part}_item"] = np.concatenate(items).astype(np.int32)
    fields[f"{part}_y"] = np.concatenate(
        [ex[part]["y"] for ex in examples]).astype(np.float32)
    fields[f"{part}_offsets"] = np.concatenate(
        [[0], np.cumsum([len(i) for i in items])]).astype(np.int64)
  return Episodes(state, group, **fields,
                  num_dropped=int(metadata["num_dropped"][split]),
                  negatives=int(metadata["protocol"]["negatives"]))
