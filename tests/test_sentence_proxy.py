"""The proxy sentence of a new user and its methods (jaxrec.sentence_proxy)."""

import functools
import json
import re
import zlib

import numpy as np
import pytest

from experiments import results_tables
from experiments.configs import maml_synthetic
from jaxrec import baselines
from jaxrec import prepare
from jaxrec import sentence_proxy
from jaxrec import text
from jaxrec import zero_ratings
from jaxrec.data import kshot
from jaxrec.text import testing


class BagOfWords:
  """A stand-in sentence encoder: unit-norm word counts hashed into 256 slots, so
  a sentence is near the item texts sharing its words."""

  model_hash = "bag-of-words"

  def encode(self, texts, *, batch_size=64, progress=True):
    del batch_size, progress
    out = np.zeros((len(texts), 256), np.float32)
    for row, words in enumerate(texts):
      for word in re.findall(r"[\w-]+", words.lower()):
        out[row, zlib.crc32(word.encode()) % 256] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@functools.cache
def prepared(dataset="synthetic-lastfm"):
  config = maml_synthetic.get_config()
  config.data.dataset = dataset
  config.data.synthetic = ({"num_users": 400, "num_artists": 150, "num_tags": 8, "seed": 0,
                            "artists_per_user": (25, 50), "taste_scale": 6.0}
                           if dataset == "synthetic-lastfm" else
                           {"num_users": 300, "num_items": 200, "seed": 0,
                            "ratings_per_user": (40, 80), "taste_scale": 3.0})
  config.data.negatives = 0
  config.data.min_ratings = 1
  return prepare.prepare(config)


def _history(inter, user):
  return set(inter.item[inter.user == user].tolist())


@pytest.mark.parametrize("dataset", ["synthetic-lastfm", "synthetic"])
def test_sentences_describe_items_outside_the_pool_and_query(dataset):
  p = prepared(dataset)
  inter = p.interactions
  pools = kshot.kshot_pools(inter, p.split, "test", seed=1)
  sentences, drawn = sentence_proxy.proxy_sentences(inter, pools, seed=1)
  again, drawn_again = sentence_proxy.proxy_sentences(inter, pools, seed=1)
  assert sentences == again and (drawn == drawn_again).all()
  assert not (drawn == sentence_proxy.proxy_sentences(inter, pools, seed=2)[1]).all()
  for b, user in enumerate(pools.users):
    items = set(drawn[b][drawn[b] >= 0].tolist())
    assert items and items <= _history(inter, user), (b, items)
    assert not items & set(pools.pool[b].tolist())
    assert not items & set(pools.query[b][pools.query_mask[b] > 0].tolist())
    assert sentences[b]
  if dataset == "synthetic":  # genres and a decade of liked movies
    assert all(re.search(r"\d{4}s|any decade", s) for s in sentences)
    for b, user in enumerate(pools.users):
      for item in drawn[b][drawn[b] >= 0]:
        assert inter.rating[(inter.user == user) & (inter.item == item)].max() >= 4


def test_own_tags_come_first_else_training_top_tags():
  inter = prepared().interactions
  tags = inter.item_tags
  names = inter.vocab_names[tags.field]
  user, item = int(tags.user[0]), int(tags.item[0])
  own = {names[t] for t in tags.tag[(tags.user == user) & (tags.item == item)]}
  assert set(sentence_proxy._item_terms(inter, user, item)) == own
  stranger = inter.num_users + 1  # no assignment of its own: the training top tags
  top = [names[t] for t in inter.item_features[tags.field][item] if t]
  assert sentence_proxy._item_terms(inter, stranger, item) == top


def test_unrelated_sentence_is_another_users():
  for count in (2, 3, 17):
    d = sentence_proxy.derangement(count, seed=count)
    assert sorted(d.tolist()) == list(range(count)) and (d != np.arange(count)).all()
  assert (sentence_proxy.derangement(17, 0) != sentence_proxy.derangement(17, 1)).any()
  with pytest.raises(ValueError, match="at least 2"):
    sentence_proxy.derangement(1, 0)


def test_unrelated_methods_read_the_deranged_sentences():
  p = prepared()
  pools, ratings, _ = sentence_proxy.group_pools(p.interactions, p.split, "test", 0)
  rng = np.random.default_rng(0)
  sentences = rng.normal(size=(len(pools.users), 8))
  items = rng.normal(size=(p.interactions.num_items, 8))
  popularity = rng.uniform(size=p.interactions.num_items)
  group = sentence_proxy._Group(p.interactions, pools, ratings, sentences, items,
                                p.split.train_items)
  d = sentence_proxy.derangement(len(pools.users), 0)
  score = lambda method: sentence_proxy._scores(method, 0, group, popularity, None,
                                                {"blend": 0.3}, d)
  np.testing.assert_allclose(score("unrelated"), (sentences @ items.T)[d])
  np.testing.assert_allclose(score("unrelated+popularity"),
                             0.7 * (sentences @ items.T)[d] + 0.3 * popularity)
  np.testing.assert_allclose(score("sentence"), sentences @ items.T)


def test_weighted_mf_fold_in_is_the_fold_in_at_unit_weights():
  rng = np.random.default_rng(0)
  users, items = rng.integers(0, 20, 300), rng.integers(0, 40, 300)
  mf = baselines.MatrixFactorization(rank=4, reg=2.0, fold_in_reg=3.0).fit(
      users, items, rng.integers(1, 6, 300).astype(float), 20, 40)
  support, y = rng.integers(0, 40, (3, 5)), rng.integers(1, 6, (3, 5)).astype(float)
  p, _ = mf.fold_in(support, y, np.ones((3, 5)))
  np.testing.assert_allclose(
      sentence_proxy.mf_fold_in_weighted(mf, support, y, np.ones((3, 5))), p, rtol=1e-10)
  padded = np.concatenate([support, np.zeros((3, 2), int)], axis=1)
  np.testing.assert_allclose(sentence_proxy.mf_fold_in_weighted(
      mf, padded, np.concatenate([y, 5 * np.ones((3, 2))], 1),
      np.concatenate([np.ones((3, 5)), np.zeros((3, 2))], 1)), p, rtol=1e-10)
  with pytest.raises(ValueError, match=">= 0"):
    sentence_proxy.mf_fold_in_weighted(mf, support, y, -np.ones((3, 5)))


@pytest.mark.parametrize("dataset", ["synthetic-lastfm", "synthetic"])
def test_planted_tastes_make_the_sentence_beat_popularity(dataset):
  """Synthetic Last.fm listening follows the tags the sentence names: at k = 0 the
  sentence beats popularity. Synthetic MovieLens users pick movies by popularity and
  rate them by genre taste: there the sentence beats another user's. The choices are
  the validation users' best among those passing the unrelated check there."""
  p = prepared(dataset)
  vectors = BagOfWords().encode(list(p.interactions.item_text))
  run = sentence_proxy.evaluate_seed(p.interactions, p.split, seed=0, encoder=BagOfWords(),
                                     item_vectors=vectors)
  per_user = run["per_user"]
  assert run["users"]["test"] > 10 and set(per_user) == set(sentence_proxy.METHODS)
  assert set(per_user["foldin"]) == {3}
  mean = lambda method, k=0: np.mean(per_user[method][k]["ndcg@10"])
  if dataset == "synthetic-lastfm":
    assert mean("sentence") > mean("popularity") + 0.03, run["chosen"]
  assert mean("sentence") > mean("unrelated") + 0.03
  validation, chosen = run["validation"], run["chosen"]
  lows = validation["unrelated_low"]

  def safe_best(scores, low):
    passing = {v: score for v, score in scores.items() if low[v] > sentence_proxy.UNRELATED_FLOOR}
    return max(passing, key=passing.get)
  assert chosen["blend"] == safe_best(validation["blend"], lows["blend"])
  assert lows["blend"][1.0] == 0.0  # beta = 1: no sentence, no harm
  assert str(chosen["sentence"][0]) == max(validation["sentence"][0],  # not checked at 0
                                           key=validation["sentence"][0].get)
  assert lows["sentence"][3][str([5, 0.0])] == pytest.approx(0.0, abs=1e-9)
  assert str(chosen["sentence"][3]) == safe_best(validation["sentence"][3], lows["sentence"][3])
  assert str(chosen["foldin"]) == max(validation["foldin"], key=validation["foldin"].get)
  summary = zero_ratings.pool_seeds({0: run, 1: run}, sentence_proxy.METHODS,
                                    sentence_proxy.K_SHOTS, sentence_proxy.COMPARISONS)
  paired = {(d["method"], d["reference"], d["k"], d["metric"]): d for d in summary["paired"]}
  gain = paired[("sentence", "popularity", 0, "ndcg@10")]
  assert gain["mean"] == pytest.approx(mean("sentence") - mean("popularity"))
  assert gain["ci95"] == 0.0 and gain["low"] == gain["mean"]
  data = json.loads(json.dumps({"ks": sentence_proxy.K_SHOTS, "metrics": sentence_proxy.METRICS,
                                "summary": summary, "seeds": {0: run, 1: run},
                                "command": "cmd", "cpu_minutes": 0.1,
                                "unrelated_floor": sentence_proxy.UNRELATED_FLOOR}))
  text_lines = "\n".join(results_tables.sentence_tables(data, "src.json"))
  unrelated = paired[("foldin+unrelated", "foldin", 3, "ndcg@10")]
  verdict = "above" if unrelated["low"] > -0.005 else "not above"
  assert f"{unrelated['low']:+.3f}, {verdict}" in text_lines and run["examples"][0] in text_lines


def test_a_real_encoder_encodes_the_sentences(tmp_path):
  """The proxy goes through jaxrec.text's Encoder (a tiny random BERT here)."""
  p = prepared()
  encoder = text.load_encoder(testing.tiny_bert(tmp_path / "bert"))
  vectors = text.cached_embeddings(encoder, p.interactions.item_text, tmp_path / "cache",
                                   progress=False)
  pools = kshot.kshot_pools(p.interactions, p.split, "val")
  sentences, _ = sentence_proxy.proxy_sentences(p.interactions, pools, seed=0)
  encoded = encoder.encode(sentences, progress=False)
  assert encoded.shape == (len(sentences), vectors.shape[1])
  np.testing.assert_allclose(np.linalg.norm(encoded, axis=1), 1.0, rtol=1e-5)
