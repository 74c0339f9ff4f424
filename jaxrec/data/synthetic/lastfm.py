"""A synthetic HetRec 2011 Last.fm 2K with planted tastes, tags and friendships."""

from __future__ import annotations

import os
import pathlib
import urllib.parse

import numpy as np

from jaxrec.data.synthetic._shared import cover_every_item, write_lines

_TAG_WORDS = ("rock", "pop", "jazz", "metal", "indie", "electronic", "folk",
              "hip-hop", "ambient", "punk", "soul", "blues", "classical",
              "música latina", "dance", "trip-hop", "shoegaze", "grunge", "emo",
              "chillout")
# Artist names; UTF-8 in artists.dat, including characters outside latin-1.
_ARTIST_WORDS = ("Echo", "Björk", "Sigur", "東京", "Velvet", "Neon", "Æther",
                 "Kraft", "Łódź", "Moon", "Ørn", "Static")


def _lastfm_model(rng: np.random.Generator, num_users: int, num_artists: int,
                  num_tags: int, taste_scale: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Draws the artists' true tags ``float[A, T]`` (0/1), their popularity
  ``float[A]`` and the users' tastes ``float[U, T]`` (see `write_synthetic_lastfm`)."""
  tags = np.zeros((num_artists, num_tags))
  for a in range(num_artists):
    tags[a, rng.choice(num_tags, min(rng.integers(1, 5), num_tags),
                       replace=False)] = 1.0
  popularity = rng.normal(size=num_artists)
  taste = rng.normal(0.0, taste_scale, (num_users, num_tags))
  return tags, popularity, taste


def _draw_friends(favourite: np.ndarray, friends_per_user: tuple[int, int],
                  homophily: float, rng: np.random.Generator) -> np.ndarray:
  """``int[E, 2]`` sorted friendships ``(u, v)``, ``u < v``, between user indices.

  User u draws ``n_u ~ U{friends_per_user}`` partners (with replacement, never
  u): each, with probability `homophily`, uniformly among the other users with
  u's `favourite` tag (when there are any), else uniformly among all others.
  """
  num_users = len(favourite)
  pairs = []
  for u in range(num_users):
    same = np.flatnonzero((favourite == favourite[u]) & (np.arange(num_users) != u))
    others = np.delete(np.arange(num_users), u)
    for _ in range(rng.integers(friends_per_user[0], friends_per_user[1] + 1)):
      pool = same if same.size and rng.random() < homophily else others
      v = pool[rng.integers(len(pool))]
      pairs.append((min(u, v), max(u, v)))
  return np.unique(np.asarray(pairs, np.int64).reshape(-1, 2), axis=0)


def write_synthetic_lastfm(directory: str | os.PathLike, *, num_users: int = 100,
                           num_artists: int = 300, num_tags: int = 20,
                           seed: int = 0,
                           artists_per_user: tuple[int, int] = (5, 50),
                           taste_scale: float = 3.0, noise: float = 0.5,
                           tag_probability: float = 0.3,
                           orphan_tagged_artists: int = 0,
                           implausible_years: int = 0,
                           friends_per_user: tuple[int, int] = (1, 8),
                           homophily: float = 0.8) -> pathlib.Path:
  """Writes a synthetic HetRec 2011 Last.fm 2K in its raw format.

  Files (tab-separated, with headers): ``user_artists.dat``, ``tags.dat`` and
  ``user_friends.dat`` with CRLF line endings, ``artists.dat`` and
  ``user_taggedartists.dat`` with LF, like the real release; ``artists.dat``
  is UTF-8 (names include characters outside latin-1), ``tags.dat`` latin-1
  (includes "música latina"). User ids start at 2 and artist ids have gaps,
  as in the release.

  Generative model: artist a has 1-4 true tags ``t_a in {0,1}^T`` and a
  popularity ``p_a ~ N(0, 1)``; user u has taste ``w_u ~ N(0,
  taste_scale^2 I_T)``; affinity ``s_ua = w_u . t_a / |t_a| + p_a``. User u
  listens to ``n_u ~ U{artists_per_user}`` distinct artists drawn with
  probability ``∝ exp(s_ua)`` (artists nobody drew go to a random user) with
  play count ``max(1, round(exp(4 + s_ua + eps)))``, ``eps ~ N(0, noise^2)``.
  Each listened pair is tagged with probability `tag_probability` using 1-2
  of the artist's true tags, dated 2005-2011. Friends follow the tastes: with
  ``f_u = argmax_t w_ut`` (u's favourite tag), user u draws ``n_u ~
  U{friends_per_user}`` partners v != u, each with probability `homophily`
  uniformly among the other users with ``f_v = f_u`` (when there are any),
  else uniformly among all other users; every friendship is written in both
  directions, sorted by user then friend, like the real file.

  Quirks of the real file, off by default: `orphan_tagged_artists` extra
  artist ids that only appear in ``user_taggedartists.dat`` (one assignment
  each) and `implausible_years` assignments dated 1956.

  Args:
    directory: created if needed.
    num_users, num_artists: sizes; num_tags: tag vocabulary size (<= 20).
    seed: seed of ``numpy.random.default_rng``.
    artists_per_user: inclusive ``(low, high)`` artists per user.
    taste_scale, noise, tag_probability: model parameters above.
    orphan_tagged_artists, implausible_years: quirk counts.
    friends_per_user: inclusive ``(low, high)`` partners drawn per user, low >= 1.
    homophily: probability in ``[0, 1]`` that a partner shares the favourite tag.

  Returns:
    `directory` as a Path.

  Raises:
    ValueError: invalid sizes, `artists_per_user`, `friends_per_user` or
      `homophily`.
  """
  low, high = artists_per_user
  if not 1 <= low <= high <= num_artists:
    raise ValueError(f"artists_per_user {artists_per_user} must satisfy "
                     f"1 <= low <= high <= num_artists={num_artists}")
  if not 1 <= num_tags <= len(_TAG_WORDS):
    raise ValueError(f"num_tags must be in [1, {len(_TAG_WORDS)}], got {num_tags}")
  if num_users < 2:
    raise ValueError(f"num_users must be >= 2 (friendships need two users), got "
                     f"{num_users}")
  if not 1 <= friends_per_user[0] <= friends_per_user[1]:
    raise ValueError(f"friends_per_user {friends_per_user} must satisfy "
                     "1 <= low <= high")
  if not 0.0 <= homophily <= 1.0:
    raise ValueError(f"homophily must be in [0, 1], got {homophily}")
  rng = np.random.default_rng(seed)
  user_ids = np.arange(num_users) + 2
  artist_ids = np.arange(num_artists) + 1 + np.arange(num_artists) // 7  # gaps

  tags, popularity, taste = _lastfm_model(rng, num_users, num_artists, num_tags,
                                          taste_scale)
  score = taste @ (tags / tags.sum(1, keepdims=True)).T + popularity  # [U, A]

  chosen = []
  for u in range(num_users):
    p = np.exp(score[u] - score[u].max())
    chosen.append(rng.choice(num_artists, rng.integers(low, high + 1),
                             replace=False, p=p / p.sum()))
  user, artist = cover_every_item(chosen, num_artists, rng)
  weight = np.maximum(1, np.round(np.exp(
      4.0 + score[user, artist] + rng.normal(0.0, noise, len(user))))).astype(int)

  directory = pathlib.Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  write_lines(directory / "user_artists.dat", ["userID\tartistID\tweight"] + [
      f"{user_ids[u]}\t{artist_ids[a]}\t{w}" for u, a, w in
      zip(user, artist, weight)], newline="\r\n")
  names = [f"{_ARTIST_WORDS[rng.integers(len(_ARTIST_WORDS))]} "
           f"{_ARTIST_WORDS[rng.integers(len(_ARTIST_WORDS))]} {a}"
           for a in artist_ids]
  write_lines(directory / "artists.dat", ["id\tname\turl\tpictureURL"] + [
      f"{a}\t{n}\thttp://www.last.fm/music/{urllib.parse.quote_plus(n)}\t"
      for a, n in zip(artist_ids, names)], encoding="utf-8")
  write_lines(directory / "tags.dat", ["tagID\ttagValue"] + [
      f"{t + 1}\t{_TAG_WORDS[t]}" for t in range(num_tags)], newline="\r\n")

  assignments = []
  for u, a in zip(user, artist):
    if rng.random() < tag_probability:
      own = np.flatnonzero(tags[a])
      for t in rng.choice(own, min(len(own), rng.integers(1, 3)), replace=False):
        assignments.append((user_ids[u], artist_ids[a], t + 1,
                            rng.integers(2005, 2012)))
  orphan_ids = artist_ids[-1] + 1 + np.arange(orphan_tagged_artists)
  assignments += [(user_ids[rng.integers(num_users)], a, rng.integers(num_tags) + 1,
                   rng.integers(2005, 2012)) for a in orphan_ids]
  for k in range(min(implausible_years, len(assignments))):
    assignments[k] = assignments[k][:3] + (1956,)
  write_lines(directory / "user_taggedartists.dat",
         ["userID\tartistID\ttagID\tday\tmonth\tyear"] + [
             f"{u}\t{a}\t{t}\t1\t{rng.integers(1, 13)}\t{y}"
             for u, a, t, y in assignments])
  pairs = _draw_friends(taste.argmax(1), friends_per_user, homophily, rng)
  both = np.unique(np.concatenate([pairs, pairs[:, ::-1]]), axis=0)
  write_lines(directory / "user_friends.dat", ["userID\tfriendID"] + [
      f"{user_ids[u]}\t{user_ids[v]}" for u, v in both], newline="\r\n")
  return directory
