"""The serving bundle: everything serving reads of a run's data, in its run directory.

Training (:func:`jaxrec.train.train`) ends with :func:`write_bundle`, so that a run
directory serves new users without the dataset: :func:`read_bundle` needs neither
the raw files nor the split. Two files, each written atomically (a temporary file
in the run directory, then a rename):

- ``serving.npz`` (:func:`numpy.savez_compressed`, no pickles): the feature tables
  ``user_table/<field>`` and ``item_table/<field>`` (text vectors included), the
  raw item and user ids ``item_ids``, ``user_ids``, the item texts ``item_text``
  and titles ``titles``, the unit-norm explanation vectors ``item_vectors``, the
  training popularity ``popularity``, the item value names ``vocab_names/<field>``
  and, for a dataset with a friend graph, each training user's training items in
  CSR form (``train_offsets``, ``train_items``: what a new user's friends
  contribute, :mod:`jaxrec.serving.signals`);
- ``serving.json`` (written last): the format version, the dataset's name, the
  number of users, ``implicit``, ``rating_range``,
  ``vocab_sizes`` and the sha256 of ``serving.npz``, so that a pair from two
  different writes is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import pathlib
from typing import Any

import numpy as np

from jaxrec._io import atomic_write

ARRAYS = "serving.npz"
META = "serving.json"
FORMAT = 2
TITLE_SEPARATOR = " — "  # the readers' item text is "Title (Year) — Genre1, Genre2"


@dataclasses.dataclass(frozen=True, eq=False)
class Bundle:
  """A run's data as serving needs it (``train.model_of`` takes it in place of
  a ``Prepared``: it has the same ``user_table``, ``item_table``, ``vocab_sizes``).

  Attributes:
    dataset: the dataset's name.
    num_users: ``U``, the run's number of users.
    user_table, item_table, vocab_sizes: the run's feature tables
      (``[U]``/``[I]``-indexed; ``item_table["text"]`` when the run uses text).
    item_ids: ``[I]`` raw item ids.
    user_ids: ``[U]`` raw user ids.
    item_text: ``[I]`` the item texts (the language-model input of
      ``jaxrec.text``).
    titles: ``[I]`` item titles (the item text up to :data:`TITLE_SEPARATOR`).
    item_vectors: ``float32[I, d]`` unit-norm item vectors of the explanations
      (``jaxrec.prepare.item_vectors``, rows scaled to norm 1).
    popularity: ``float32[I]`` distinct training users per item.
    vocab_names: item field -> ``[vocab]`` names of its values (fields with names).
    implicit: implicit feedback.
    rating_range: ``(r_min, r_max)`` accepted ratings (``(0, 1)`` when implicit).
    train_offsets, train_items: ``int64[U + 1]``, ``int32[R]``: the training items
      of user ``u`` are ``train_items[train_offsets[u]:train_offsets[u + 1]]``
      (training users x training items; empty for held-out users); None for a
      dataset without a friend graph.
  """

  dataset: str
  num_users: int
  user_table: dict[str, np.ndarray]
  item_table: dict[str, np.ndarray]
  vocab_sizes: dict[str, int]
  item_ids: np.ndarray
  user_ids: np.ndarray
  item_text: np.ndarray
  titles: np.ndarray
  item_vectors: np.ndarray
  popularity: np.ndarray
  vocab_names: dict[str, np.ndarray]
  implicit: bool
  rating_range: tuple[float, float]
  train_offsets: np.ndarray | None = None
  train_items: np.ndarray | None = None

  @property
  def num_items(self) -> int:
    return len(self.item_ids)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
  """``float32[n, d]``: the rows scaled to unit L2 norm (zero rows stay zero)."""
  norms = np.linalg.norm(vectors, axis=1, keepdims=True)
  return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def titles(item_text: np.ndarray) -> np.ndarray:
  """``str[I]``: each item text up to the readers' :data:`TITLE_SEPARATOR`."""
  return np.asarray([str(t).split(TITLE_SEPARATOR)[0] for t in item_text])


def from_prepared(prepared: Any) -> Bundle:
  """The :class:`Bundle` of a ``jaxrec.prepare.Prepared`` (its interactions, tables
  and popularity)."""
  # Imported here: reading a bundle (serving) needs no data pipeline.
  from jaxrec import prepare  # pylint: disable=import-outside-toplevel
  from jaxrec.data import splits  # pylint: disable=import-outside-toplevel
  inter = prepared.interactions
  listening = {}
  if inter.friend_offsets is not None:
    rows = splits.training_mask(inter, prepared.split)
    pairs = np.unique(inter.user[rows].astype(np.int64) * inter.num_items + inter.item[rows])
    listening = {"train_offsets": np.searchsorted(
                     pairs // inter.num_items,
                     np.arange(inter.num_users + 1)).astype(np.int64),
                 "train_items": (pairs % inter.num_items).astype(np.int32)}
  return Bundle(
      dataset=inter.name, num_users=inter.num_users, user_table=prepared.user_table,
      item_table=prepared.item_table, vocab_sizes=dict(prepared.vocab_sizes),
      item_ids=inter.item_ids, user_ids=inter.user_ids,
      item_text=np.asarray(inter.item_text, str), titles=titles(inter.item_text),
      item_vectors=unit_rows(prepare.item_vectors(prepared)),
      popularity=prepared.popularity,
      vocab_names={k: np.asarray(v, str) for k, v in inter.vocab_names.items()
                   if k in prepared.item_table},
      implicit=bool(inter.implicit),
      rating_range=(0.0, 1.0) if inter.implicit else tuple(map(float, inter.rating_scale)),
      **listening)



def write_bundle(workdir: str | pathlib.Path, prepared: Any) -> None:
  """Writes ``serving.npz`` and ``serving.json`` of ``prepared`` (a
  ``jaxrec.prepare.Prepared``) into ``workdir`` (module docstring); replaces them."""
  bundle = from_prepared(prepared)
  arrays = {"item_ids": bundle.item_ids, "user_ids": bundle.user_ids,
            "item_text": bundle.item_text, "titles": bundle.titles,
            "item_vectors": bundle.item_vectors, "popularity": bundle.popularity,
            **{f"user_table/{k}": v for k, v in bundle.user_table.items()},
            **{f"item_table/{k}": v for k, v in bundle.item_table.items()},
            **{f"vocab_names/{k}": v for k, v in bundle.vocab_names.items()}}
  if bundle.train_offsets is not None:
    arrays.update(train_offsets=bundle.train_offsets, train_items=bundle.train_items)
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **arrays)
  data = buffer.getvalue()
  workdir = pathlib.Path(workdir)
  atomic_write(workdir / ARRAYS, lambda f: f.write(data))
  meta = {"format": FORMAT, "dataset": bundle.dataset, "num_users": bundle.num_users,
          "implicit": bundle.implicit, "rating_range": list(bundle.rating_range),
          "vocab_sizes": bundle.vocab_sizes,
          "arrays_sha256": hashlib.sha256(data).hexdigest()}
  atomic_write(workdir / META, lambda f: f.write(json.dumps(meta, indent=2).encode()))


def read_bundle(workdir: str | pathlib.Path) -> Bundle:
  """The :class:`Bundle` written by :func:`write_bundle` into ``workdir``.

  Raises:
    FileNotFoundError: ``serving.json`` or ``serving.npz`` is missing (a run
      trained before bundles existed: write one with
      ``write_bundle(workdir, jaxrec.prepare.prepare(config))``).
    ValueError: an unknown format version (a bundle of an older jaxrec: write it
      again as above), or a ``serving.npz`` whose sha256 is
      not the one ``serving.json`` records.
  """
  workdir = pathlib.Path(workdir)
  for name in (META, ARRAYS):
    if not (workdir / name).is_file():
      raise FileNotFoundError(
          f"{workdir / name} not found: the run has no serving bundle (training writes "
          "it; for an older run call jaxrec.serving.bundle.write_bundle(workdir, "
          "jaxrec.prepare.prepare(config)))")
  meta = json.loads((workdir / META).read_text())
  if meta.get("format") != FORMAT:
    raise ValueError(f"{workdir / META}: format {meta.get('format')!r}, expected {FORMAT} "
                     "(write the bundle again: jaxrec.serving.bundle.write_bundle(workdir, "
                     "jaxrec.prepare.prepare(config)))")
  data = (workdir / ARRAYS).read_bytes()
  if hashlib.sha256(data).hexdigest() != meta["arrays_sha256"]:
    raise ValueError(f"{workdir / ARRAYS}: sha256 differs from the one {workdir / META} "
                     "records (the two files come from different writes)")
  with np.load(io.BytesIO(data), allow_pickle=False) as npz:
    arrays = {k: npz[k] for k in npz.files}

  def group(prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) + 1:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}
  return Bundle(
      dataset=meta["dataset"], num_users=int(meta["num_users"]),
      user_table=group("user_table"), item_table=group("item_table"),
      vocab_sizes={k: int(v) for k, v in meta["vocab_sizes"].items()},
      item_ids=arrays["item_ids"], user_ids=arrays["user_ids"],
      item_text=arrays["item_text"], titles=arrays["titles"],
      item_vectors=arrays["item_vectors"], popularity=arrays["popularity"],
      vocab_names=group("vocab_names"), implicit=bool(meta["implicit"]),
      rating_range=tuple(map(float, meta["rating_range"])),
      train_offsets=arrays.get("train_offsets"), train_items=arrays.get("train_items"))
