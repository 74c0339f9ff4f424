"""Metrics against hand-computed values and brute-force enumeration of tie orders."""

import itertools
import math

import numpy as np
import pytest

from jaxrec import metrics

LOG2_3 = math.log2(3.0)


def _brute_force(scores, y, k, threshold):
  """Averages the deterministic metrics over every order of the items.

  Each permutation is stably sorted by descending score, so every tie order
  occurs equally often. Returns [ndcg, ndcg_exp, precision, recall, f1, hit].
  """
  scores, y = np.asarray(scores, float), np.asarray(y, float)
  n = len(scores)
  k_eff = min(k, n)
  discount = 1.0 / np.log2(np.arange(k_eff) + 2.0)
  ideal = np.sort(y)[::-1][:k_eff]
  idcg, idcg_exp = ideal @ discount, (2.0 ** ideal - 1.0) @ discount
  num_relevant = (y >= threshold).sum()
  rows = []
  for perm in itertools.permutations(range(n)):
    top = y[sorted(perm, key=lambda i: -scores[i])][:k_eff]
    hits = (top >= threshold).sum()
    rows.append([top @ discount / idcg, (2.0 ** top - 1.0) @ discount / idcg_exp,
                 hits / k_eff, hits / num_relevant, 2 * hits / (k_eff + num_relevant),
                 float(hits > 0)])
  return np.mean(rows, axis=0)


# ---------------------------------------------------------------- rating metrics

def test_mae_rmse_per_user_then_averaged():
  scores = [[3.0, 4.0, 0.0], [2.0, 2.0, 2.0], [9.0, 9.0, 9.0]]
  y = [[4.0, 4.0, 1.0], [5.0, 1.0, 2.0], [0.0, 0.0, 0.0]]
  mask = [[1, 1, 0], [1, 1, 1], [0, 0, 0]]
  # user 0: errors |3-4| = 1, |4-4| = 0 (padded row ignored) -> mae 1/2, rmse sqrt(1/2)
  # user 1: errors 3, 1, 0 -> mae 4/3, rmse sqrt(10/3); user 2 has no query row.
  np.testing.assert_allclose(metrics.per_user_mae(scores, y, mask), [0.5, 4 / 3, np.nan])
  np.testing.assert_allclose(metrics.per_user_rmse(scores, y, mask),
                             [math.sqrt(0.5), math.sqrt(10 / 3), np.nan])
  # Averaged over the two users, not pooled over the 5 ratings (pooled MAE = 1).
  assert metrics.mae(scores, y, mask) == pytest.approx((0.5 + 4 / 3) / 2)
  assert metrics.rmse(scores, y, mask) == pytest.approx(
      (math.sqrt(0.5) + math.sqrt(10 / 3)) / 2)


def test_rating_metrics_nan_without_users():
  assert math.isnan(metrics.mae([[1.0]], [[2.0]], [[0.0]]))


# ---------------------------------------------------------------- nDCG

def test_ndcg_hand_computed():
  scores = [[0.9, 0.8, 0.1, 0.5], [0.7, 0.2, 5.0, 0.0]]
  y = [[3.0, 5.0, 4.0, 1.0], [2.0, 4.0, 5.0, 0.0]]
  mask = [[1, 1, 1, 1], [1, 1, 0, 0]]
  # user 0, k=2: predicted order y = 3, 5, 1, 4 -> DCG = 3 + 5/log2(3);
  #   ideal 5, 4 -> IDCG = 5 + 4/log2(3).
  # user 1 has 2 real items so k=2 -> 2; order y = 2, 4:
  #   DCG = 2 + 4/log2(3), IDCG = 4 + 2/log2(3) (the padded 5 never counts).
  expected = [(3 + 5 / LOG2_3) / (5 + 4 / LOG2_3), (2 + 4 / LOG2_3) / (4 + 2 / LOG2_3)]
  np.testing.assert_allclose(metrics.per_user_ndcg_at_k(scores, y, mask, 2), expected)
  # Exponential gains 2^y - 1: user 0 gains 7, 31, 15, 1; user 1 gains 3, 15.
  expected_exp = [(7 + 31 / LOG2_3) / (31 + 15 / LOG2_3),
                  (3 + 15 / LOG2_3) / (15 + 3 / LOG2_3)]
  np.testing.assert_allclose(metrics.per_user_ndcg_exp_at_k(scores, y, mask, 2),
                             expected_exp)
  assert metrics.ndcg_at_k(scores, y, mask, 2) == pytest.approx(np.mean(expected))
  assert metrics.ndcg_exp_at_k(scores, y, mask, 2) == pytest.approx(np.mean(expected_exp))
  # k beyond both users' counts equals k = count (truncation).
  np.testing.assert_allclose(metrics.per_user_ndcg_at_k(scores, y, mask, 10),
                             metrics.per_user_ndcg_at_k(scores, y, [[1, 1, 1, 1],
                                                                    [1, 1, 0, 0]], 4))


def test_ndcg_excludes_users_without_gain():
  # user 1 has only zero gains: IDCG = 0, excluded (NaN), not counted as 0 or 1.
  per_user = metrics.per_user_ndcg_at_k([[1.0, 0.0], [1.0, 0.0]],
                                        [[1.0, 0.0], [0.0, 0.0]], [[1, 1], [1, 1]], 1)
  np.testing.assert_allclose(per_user, [1.0, np.nan])


def test_constant_predictor_gets_expected_random_value():
  # All scores tied: E[gain at rank 0] = mean(5, 1, 1) = 7/3; IDCG@1 = 5.
  scores, y, mask = [[0.0, 0.0, 0.0]], [[5.0, 1.0, 1.0]], [[1, 1, 1]]
  assert metrics.ndcg_at_k(scores, y, mask, 1) == pytest.approx(7 / 15)
  # One relevant item of three: E[hits@1] = 1/3 -> precision = recall = 1/3.
  assert metrics.precision_at_k(scores, y, mask, 1) == pytest.approx(1 / 3)
  assert metrics.recall_at_k(scores, y, mask, 1) == pytest.approx(1 / 3)
  # f1 = 2 * (1/3) / (1 + 1) = 1/3.
  assert metrics.f1_at_k(scores, y, mask, 1) == pytest.approx(1 / 3)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 6, 9])
def test_tie_aware_metrics_match_brute_force(k):
  scores = np.array([[2.0, 1.0, 2.0, 1.0, 1.0, 0.0, 7.0],
                     [0.5, 0.5, 0.5, 0.5, 3.0, 0.0, 0.0]])
  y = np.array([[5.0, 4.0, 1.0, 4.0, 2.0, 5.0, 5.0],
                [4.0, 1.0, 3.0, 5.0, 2.0, 0.0, 0.0]])
  mask = np.array([[1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0, 0]], float)
  got = np.stack([metrics.per_user_ndcg_at_k(scores, y, mask, k),
                  metrics.per_user_ndcg_exp_at_k(scores, y, mask, k),
                  metrics.per_user_precision_at_k(scores, y, mask, k, 4.0),
                  metrics.per_user_recall_at_k(scores, y, mask, k, 4.0),
                  metrics.per_user_f1_at_k(scores, y, mask, k, 4.0)], axis=1)
  for b in range(2):
    real = mask[b] == 1
    expected = _brute_force(scores[b, real], y[b, real], k, 4.0)
    np.testing.assert_allclose(got[b], expected[:5], rtol=1e-12)


def test_full_catalogue_hit_rate_matches_brute_force():
  scores = np.array([[1.0, 1.0, 1.0, 0.5, 1.0, 1.0, 2.0]])
  positives = [[1, 3]]
  exclude = [[6]]
  candidates = [0, 1, 2, 3, 4, 5]
  labels = np.isin(candidates, positives[0]).astype(float)
  for k in (1, 2, 4, 5, 6):
    got = metrics.per_user_full_catalogue(scores, positives, exclude, ks=k)
    expected = _brute_force(scores[0, candidates], labels, k, 1.0)
    assert got[f"hit@{k}"][0] == pytest.approx(expected[5], abs=1e-12)
    assert got[f"recall@{k}"][0] == pytest.approx(expected[3], abs=1e-12)
    assert got[f"ndcg@{k}"][0] == pytest.approx(expected[0], abs=1e-12)


def test_full_catalogue_pruning_matches_brute_force_on_tied_random_scores():
  # 9 items, 2 excluded per user: 7 candidates ranked with many ties, k < 7, so
  # only the columns that can reach the top k are kept before sorting.
  rng = np.random.default_rng(3)
  scores = rng.integers(0, 3, (12, 9)).astype(float)
  items = np.stack([rng.permutation(9) for _ in range(12)])
  positives, exclude = items[:, :2], items[:, 7:]
  got = metrics.per_user_full_catalogue(scores, positives, exclude, ks=(1, 2, 4))
  for b in range(12):
    candidates = np.sort(items[b, :7])
    labels = np.isin(candidates, positives[b]).astype(float)
    for k in (1, 2, 4):
      expected = _brute_force(scores[b, candidates], labels, k, 1.0)
      np.testing.assert_allclose([got[f"{m}@{k}"][b] for m in ("ndcg", "recall", "hit")],
                                 expected[[0, 3, 5]], atol=1e-12)


# ---------------------------------------------------------------- precision / recall / F1

def test_precision_recall_f1_hand_computed():
  scores = [[3.0, 1.0, 2.0], [2.0, 1.0, 0.0], [1.0, 2.0, 0.0]]
  y = [[5.0, 4.0, 1.0], [5.0, 3.0, 0.0], [2.0, 3.0, 0.0]]
  mask = [[1, 1, 1], [1, 1, 0], [1, 1, 0]]
  # k = 2. user 0: top-2 = items 0 (5, relevant), 2 (1) -> hits 1; P = 1/2,
  #   R = 1/2 (two relevant), F1 = 2*1/(2+2) = 1/2.
  # user 1: 2 real items so k -> 2: top-2 = 5, 3 -> hits 1; P = 1/2, R = 1/1, F1 = 2/3.
  # user 2: no relevant item: P = 0 (counted), R and F1 excluded.
  np.testing.assert_allclose(metrics.per_user_precision_at_k(scores, y, mask, 2),
                             [0.5, 0.5, 0.0])
  np.testing.assert_allclose(metrics.per_user_recall_at_k(scores, y, mask, 2),
                             [0.5, 1.0, np.nan])
  np.testing.assert_allclose(metrics.per_user_f1_at_k(scores, y, mask, 2),
                             [0.5, 2 / 3, np.nan])
  assert metrics.precision_at_k(scores, y, mask, 2) == pytest.approx(1 / 3)
  assert metrics.recall_at_k(scores, y, mask, 2) == pytest.approx(0.75)
  assert metrics.f1_at_k(scores, y, mask, 2) == pytest.approx((0.5 + 2 / 3) / 2)
  # threshold 3 makes user 2's item 1 relevant and ranked first: P@1 = 1, R@1 = 1.
  assert metrics.per_user_recall_at_k(scores, y, mask, 1, relevance_threshold=3.0)[2] == 1


def test_precision_divides_by_truncated_k():
  # 2 real items, both relevant, k = 5: precision = 2 / min(5, 2) = 1, not 2/5.
  assert metrics.precision_at_k([[1.0, 2.0, 0.0]], [[5.0, 4.0, 0.0]], [[1, 1, 0]], 5) == 1.0


# ---------------------------------------------------------------- masks and padding

def test_padded_rows_and_tasks_never_count():
  scores = np.array([[0.3, 0.9, 0.2], [0.1, 0.4, 0.8]])
  y = np.array([[1.0, 5.0, 4.0], [4.0, 2.0, 5.0]])
  mask = np.ones((2, 3))
  base = metrics.evaluate_predictions(scores, y, mask, ks=(1, 2))
  # Padded rows with extreme scores/labels (and NaN scores), plus a padded task.
  pad_scores = np.array([[np.nan, 100.0], [100.0, -100.0], [5.0, 5.0]])
  pad_y = np.array([[5.0, 5.0], [1.0, 5.0], [5.0, 1.0]])
  padded = metrics.evaluate_predictions(
      np.concatenate([np.vstack([scores, [[0, 0, 0]]]), pad_scores], axis=1),
      np.concatenate([np.vstack([y, [[5, 5, 5]]]), pad_y], axis=1),
      np.concatenate([np.vstack([mask, [[0, 0, 0]]]), np.zeros((3, 2))], axis=1),
      ks=(1, 2))
  assert padded == pytest.approx(base)
  assert padded["num_users"] == 2


# ---------------------------------------------------------------- AUC

def test_auc_with_ties_hand_computed():
  scores = [[0.9, 0.5, 0.5, 0.1], [0.3, 0.2, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]]
  y = [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]
  mask = [[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]]
  # user 0: pairs (0.9>0.5) 1, (0.9>0.1) 1, (0.5=0.5) 1/2, (0.5>0.1) 1 -> 3.5/4.
  # user 1: no real negative -> excluded. user 2: one tied pair -> 1/2.
  np.testing.assert_allclose(metrics.per_user_auc(scores, y, mask), [0.875, np.nan, 0.5])
  assert metrics.auc(scores, y, mask) == pytest.approx((0.875 + 0.5) / 2)


def test_auc_matches_pairwise_definition():
  rng = np.random.default_rng(0)
  scores = rng.integers(0, 4, (5, 9)).astype(float)  # many ties
  y = rng.integers(1, 6, (5, 9)).astype(float)
  mask = (rng.random((5, 9)) < 0.8).astype(float)
  got = metrics.per_user_auc(scores, y, mask, relevance_threshold=4.0)
  for b in range(5):
    real = mask[b] == 1
    pos, neg = scores[b, real & (y[b] >= 4)], scores[b, real & (y[b] < 4)]
    if len(pos) and len(neg):
      pairs = (pos[:, None] > neg[None]) + 0.5 * (pos[:, None] == neg[None])
      assert got[b] == pytest.approx(pairs.mean())
    else:
      assert math.isnan(got[b])


# ---------------------------------------------------------------- full catalogue

def test_full_catalogue_hand_computed_and_input_forms():
  scores = np.array([[0.1, 0.9, 0.8, 0.7, 0.2, 0.3],
                     [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
                     [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]])
  # user 0: item 1 excluded; candidates ranked 2, 3*, 5*, 4, 0 (* = positive).
  #   k=2: hits 1 -> recall 1/2, hit 1, nDCG = (1/log2 3) / (1 + 1/log2 3).
  # user 1: 5 tied candidates (item 5 excluded), positives 0 and 2; k=2:
  #   E[hits] = 2 * 2/5 -> recall 0.4; P(miss) = C(3,2)/C(5,2) = 3/10 -> hit 0.7;
  #   E[DCG] = (2/5)(1 + 1/log2 3), IDCG = 1 + 1/log2 3 -> nDCG 0.4.
  # user 2: no positives -> excluded.
  positives, positives_mask = np.array([[3, 5], [0, 2], [0, 0]]), [[1, 1], [1, 1], [0, 0]]
  exclude, exclude_mask = np.array([[1, 0], [5, 0], [0, 0]]), [[1, 0], [1, 0], [0, 0]]
  out = metrics.full_catalogue_ranking(scores, positives, exclude, ks=(2,),
                                       positives_mask=positives_mask,
                                       exclude_mask=exclude_mask)
  ndcg_user0 = (1 / LOG2_3) / (1 + 1 / LOG2_3)
  assert out["recall@2"] == pytest.approx((0.5 + 0.4) / 2)
  assert out["hit@2"] == pytest.approx((1.0 + 0.7) / 2)
  assert out["ndcg@2"] == pytest.approx((ndcg_user0 + 0.4) / 2)
  assert out["num_users"] == 2
  ragged = metrics.full_catalogue_ranking(scores, [[3, 5], [0, 2], []], [[1], [5], []],
                                          ks=2)
  assert ragged == pytest.approx(out)


def test_full_catalogue_rejects_excluded_positive():
  with pytest.raises(ValueError, match="item 3 is both in 'positives' and 'exclude'"):
    metrics.full_catalogue_ranking(np.zeros((1, 5)), [[3]], [[3]], ks=1)
  with pytest.raises(ValueError, match="'positives' row 0 has item id 7 outside"):
    metrics.full_catalogue_ranking(np.zeros((1, 5)), [[7]], ks=1)


# ---------------------------------------------------------------- catalogue metrics

def test_top_k_items_breaks_ties_by_id_and_excludes():
  scores = np.array([[0.5, 0.9, 0.5, 0.5], [1.0, 2.0, 3.0, 4.0]])
  exclude = np.array([[False, False, True, False], [False, False, False, True]])
  np.testing.assert_array_equal(metrics.top_k_items(scores, 3, exclude),
                                [[1, 0, 3], [2, 1, 0]])
  with pytest.raises(ValueError, match="user row 0 has 3 eligible items, fewer than k=4"):
    metrics.top_k_items(scores, 4, exclude)


def test_coverage_novelty_diversity_hand_computed():
  topk = np.array([[0, 1], [1, 2]])
  # items 0, 1, 2 of 5 appear -> 3/5.
  assert metrics.coverage_at_k(topk, 5) == pytest.approx(0.6)
  # 4 training users; counts c = [4, 0, 2]; p = (c + 1) / 6 = 5/6, 1/6, 3/6.
  novelty = (-math.log2(5 / 6) - 2 * math.log2(1 / 6) - math.log2(3 / 6)) / 4
  assert metrics.novelty_at_k(topk, [4, 0, 2], num_users=4) == pytest.approx(novelty)
  # cos(v0, v1) = 0 -> distance 1; cos(v1, v2) = 1/sqrt(2) -> 1 - 1/sqrt(2).
  vectors = np.array([[1.0, 0.0], [0.0, 3.0], [2.0, 2.0]])
  assert metrics.diversity_at_k(topk, vectors) == pytest.approx(
      (1 + 1 - 1 / math.sqrt(2)) / 2)
  # One list of 3: distances 1, 1 - 1/sqrt(2), 1 - 1/sqrt(2) averaged over 3 pairs.
  assert metrics.diversity_at_k([[0, 1, 2]], vectors) == pytest.approx(
      (3 - 2 / math.sqrt(2)) / 3)


def test_diversity_of_wide_vectors_is_computed_in_chunks_exactly():
  # 300,000-wide vectors, k = 3: users go through in chunks of 4; the result is
  # the plain mean over every user's pairs.
  rng = np.random.default_rng(0)
  vectors = np.zeros((6, 300_000))
  vectors[np.arange(6)[:, None], rng.integers(0, 40, (6, 3))] = 1.0
  topk = np.stack([rng.permutation(6)[:3] for _ in range(10)])
  unit = vectors[:, :40] / np.linalg.norm(vectors, axis=1, keepdims=True)
  pairs = [1 - unit[row[a]] @ unit[row[b]] for row in topk for a, b in ((0, 1), (0, 2), (1, 2))]
  assert metrics.diversity_at_k(topk, vectors) == pytest.approx(np.mean(pairs), abs=1e-12)


def test_item_popularity_counts_distinct_users():
  # item 1: users 0 (twice, counts once) and 1 -> 2; item 2: users 2 and 0 -> 2.
  np.testing.assert_array_equal(
      metrics.item_popularity([0, 0, 1, 2, 0], [1, 1, 1, 2, 2], 4), [0, 2, 2, 0])


def test_catalogue_errors():
  with pytest.raises(ValueError, match="'topk' has item id 5 outside"):
    metrics.coverage_at_k([[0, 5]], 5)
  with pytest.raises(ValueError, match=r"popularity\[1\] = 9.0 is outside"):
    metrics.novelty_at_k([[0]], [1, 9], num_users=4)
  with pytest.raises(ValueError, match=r"item 1 \(topk\[0, 1\]\) has a zero vector"):
    metrics.diversity_at_k([[0, 1]], [[1.0, 0.0], [0.0, 0.0]])
  with pytest.raises(ValueError, match="at least 2 items"):
    metrics.diversity_at_k([[0]], [[1.0, 0.0]])


# ---------------------------------------------------------------- evaluate_predictions

def test_evaluate_predictions_keys_and_consistency():
  rng = np.random.default_rng(1)
  scores, y = rng.normal(size=(4, 6)), rng.integers(1, 6, (4, 6)).astype(float)
  mask = (rng.random((4, 6)) < 0.8).astype(float)
  out = metrics.evaluate_predictions(scores, y, mask, ks=(1, 3))
  expected_keys = {"mae", "rmse", "auc", "num_users", "num_users_with_relevant",
                   "num_users_auc"} | {f"{m}@{k}" for m in
                                       ("ndcg", "ndcg_exp", "precision", "recall", "f1")
                                       for k in (1, 3)}
  assert set(out) == expected_keys
  assert out["ndcg@3"] == pytest.approx(metrics.ndcg_at_k(scores, y, mask, 3))
  assert out["recall@1"] == pytest.approx(metrics.recall_at_k(scores, y, mask, 1, 4.0))
  assert out["auc"] == pytest.approx(metrics.auc(scores, y, mask, 4.0))
  assert out["rmse"] == pytest.approx(metrics.rmse(scores, y, mask))


def test_evaluate_predictions_implicit_uses_threshold_one():
  scores, y, mask = [[0.9, 0.1, 0.5]], [[1.0, 0.0, 0.0]], [[1, 1, 1]]
  out = metrics.evaluate_predictions(scores, y, mask, ks=(1,), implicit=True)
  assert "mae" not in out and "rmse" not in out
  assert out["precision@1"] == 1.0 and out["auc"] == 1.0


def test_summarize_pools_batches_of_different_widths():
  rng = np.random.default_rng(2)
  batches = [(rng.normal(size=(3, w)), rng.integers(1, 6, (3, w)).astype(float),
              (rng.random((3, w)) < 0.9).astype(float)) for w in (4, 7)]
  pooled = metrics.summarize([metrics.per_user_metrics(*b, ks=(2,)) for b in batches])
  # The same users padded to one width give the same user averages.
  wide = [np.concatenate([np.pad(b[i], ((0, 0), (0, 7 - b[i].shape[1]))) for b in batches])
          for i in range(3)]
  assert pooled == pytest.approx(metrics.evaluate_predictions(*wide, ks=(2,)))
  with pytest.raises(ValueError, match="keys"):
    metrics.summarize([{"mae": np.zeros(1)}, {"rmse": np.zeros(1)}])


# ---------------------------------------------------------------- input errors

@pytest.mark.parametrize("args, message", [
    (([[1.0, 2.0]], [[1.0]], [[1, 1]]), r"'y' has shape \(1, 1\), 'scores' has \(1, 2\)"),
    (([[1.0]], [[1.0]], [[2.0]]), r"'mask' must be 0/1; mask\[0, 0\] = 2.0"),
    (([[1.0, np.nan]], [[1.0, 2.0]], [[1, 1]]), r"non-finite 'scores'.*scores\[0, 1\]"),
    (([1.0], [1.0], [1.0]), "must be 2-D"),
])
def test_malformed_inputs_raise(args, message):
  with pytest.raises(ValueError, match=message):
    metrics.evaluate_predictions(*args)


def test_bad_k_and_negative_gain_raise():
  with pytest.raises(ValueError, match="'k' must be an integer >= 1, got 0"):
    metrics.ndcg_at_k([[1.0]], [[1.0]], [[1]], 0)
  with pytest.raises(ValueError, match=r"non-negative gains; y\[0, 1\] = -1.0"):
    metrics.ndcg_at_k([[1.0, 2.0]], [[1.0, -1.0]], [[1, 1]], 1)


# ---------------------------------------------------------------- by support size

def test_mean_by_support_size_hand_computed():
  # Support sizes 1, 10, 11, 30, 31, 200, 5 (the last user excluded: NaN MAE).
  values = [1.0, 3.0, 0.5, 1.5, 2.0, 4.0, np.nan]
  sizes = [1, 10, 11, 30, 31, 200, 5]
  out = metrics.mean_by_support_size(values, sizes)
  assert list(out) == ["1-10", "11-30", "31+"]
  assert out["1-10"] == (2.0, 2) and out["11-30"] == (1.0, 2) and out["31+"] == (3.0, 2)
  empty = metrics.mean_by_support_size([1.0], [3], bins=((1, 2), (3, 3), (4, None)))
  assert empty["3-3"] == (1.0, 1) and empty["4+"][1] == 0 and np.isnan(empty["4+"][0])


@pytest.mark.parametrize("values, sizes, bins, message", [
    ([1.0], [1, 2], metrics.SUPPORT_BINS, "1-D of one length"),
    ([1.0], [1], ((0, 3),), r"support bin \(0, 3\) must have 1 <= lo"),
    ([1.0], [1], ((1, 10), (5, 20)), r"support bin \(5, 20\).*ending at 10"),
    ([1.0], [1], ((1, None), (5, 20)), r"support bin \(5, 20\)"),
    ([1.0], [1], ((4, 3),), r"support bin \(4, 3\)"),
])
def test_mean_by_support_size_errors(values, sizes, bins, message):
  with pytest.raises(ValueError, match=message):
    metrics.mean_by_support_size(values, sizes, bins)
