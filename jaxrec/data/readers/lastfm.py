"""HetRec 2011 Last.fm 2K reader: play counts, raw tag assignments, friend graph."""

from __future__ import annotations

import dataclasses
import pathlib
import warnings

import numpy as np

from jaxrec.data import graph
from jaxrec.data import tags as tags_lib
from jaxrec.data.interactions import Interactions, ItemTags
from jaxrec.data.readers import _parse
from jaxrec.data.readers._parse import PathLike

#: Tag-assignment years outside this range are reported as implausible (Last.fm
#: started in 2002; the HetRec release is from 2011).
LASTFM_YEARS = (2002, 2011)

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
  table = _parse.read_table(path, "\t", 2, header=("userID", "friendID"))
  ends = []
  for col, field in enumerate(("userID", "friendID")):
    raw = _parse.ints(table, col, field)
    pos, found = _parse.find(user_ids, raw)
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
  field is all 0 and the text is the name; ``jaxrec.prepare.prepare`` and
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
  ratings = _parse.read_table(path / "user_artists.dat", "\t", 3,
                              header=("userID", "artistID", "weight"))
  user_raw = _parse.ints(ratings, 0, "userID")
  item_raw = _parse.ints(ratings, 1, "artistID")
  weight = _parse.floats(ratings, 2, "weight")
  bad = np.flatnonzero(weight <= 0)
  if bad.size:
    raise ValueError(f"{ratings.path}:{ratings.lines[bad[0]]}: weight "
                     f"{weight[bad[0]]:g} is not a positive play count")

  tags = _parse.read_table(path / "tags.dat", "\t", 2, header=("tagID", "tagValue"))
  tag_raw = _parse.ints(tags, 0, "tagID")
  tag_order = np.argsort(tag_raw, kind="stable")
  tag_names = ["<pad>"] + [tags.columns[1][k] for k in tag_order]
  sorted_tags = tag_raw[tag_order]

  artists = _parse.read_table(path / "artists.dat", "\t", 4, encoding="utf-8",
                              header=("id", "name", "url", "pictureURL"))
  item_side = _parse.Side(artists.path, _parse.ints(artists, 0, "id"), artists.lines, {},
                          artists.columns[1])
  data = _parse.assemble(
      "lastfm", ratings, user_raw, item_raw, weight, None, users=None,
      items=item_side, user_vocab_sizes={}, item_vocab_sizes={"tag": len(tag_names)},
      implicit=True, rating_scale=None, vocab_names={"tag": tag_names})

  assigned = _parse.read_table(path / "user_taggedartists.dat", "\t", 6,
                               header=("userID", "artistID", "tagID", "day", "month",
                                       "year"))
  tagger = _parse.ints(assigned, 0, "userID")
  tagged = _parse.ints(assigned, 1, "artistID")
  tag = _parse.ints(assigned, 2, "tagID")
  year = _parse.ints(assigned, 5, "year")
  tag_pos, tag_found = _parse.find(sorted_tags, tag)
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
  item_pos, known = _parse.find(data.item_ids, tagged)
  user_pos, user_known = _parse.find(data.user_ids, tagger)
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

