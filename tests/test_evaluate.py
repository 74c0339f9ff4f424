"""Tests for the evaluation protocol's pieces (jaxrec.evaluate, the catalogue metrics of
jaxrec.scoring, the report of jaxrec.report) on tiny hand-built batches and episodes,
and the candidates of each state on a small synthetic dataset."""

import functools
import math
import types

import ml_collections
import numpy as np
import pytest

from experiments.configs import maml_synthetic
from jaxrec import evaluate
from jaxrec import prepare
from jaxrec import provenance
from jaxrec import report
from jaxrec import scoring
from jaxrec.data import episodes as episodes_lib

NUM_ITEMS = 12


def _prepared(implicit):
  """The parts of a ``prepare.Prepared`` that ``catalogue_metrics`` and ``protocol`` read."""
  split = types.SimpleNamespace(train_users=np.arange(5), params={"seed": 0},
                                sizes=lambda: {"train_users": 5})
  return types.SimpleNamespace(
      interactions=types.SimpleNamespace(num_items=NUM_ITEMS, implicit=implicit),
      popularity=np.zeros(NUM_ITEMS), split=split, item_table={}, vocab_sizes={})


def _part(user, item, y, mask):
  return {"user": np.asarray(user, np.int32), "item": np.asarray(item, np.int32),
          "y": np.asarray(y, np.float32), "mask": np.asarray(mask, np.float32)}


def _batch(implicit):
  """User 7: support item 0 (and, implicit, a sampled negative 3), query items 1
  (liked / listened) and 2 (disliked / sampled negative). User 3: nothing relevant
  in the query. Row 2 is a padded task."""
  liked, other = (1.0, 0.0) if implicit else (5.0, 2.0)
  support = _part([7, 3, 0], [[0, 3], [5, 0], [0, 0]],
                  [[liked, 0.0], [liked if implicit else 3.0, 0], [0, 0]],
                  [[1, 1 if implicit else 0], [1, 0], [0, 0]])
  query = _part([7, 3, 0], [[1, 2], [6, 0], [0, 0]],
                [[liked, other], [other, 0], [0, 0]], [[1, 1], [1, 0], [0, 0]])
  return {"support": support, "query": query}


def _scores(batch, candidates):
  """Item i scores -i, except item 0: 9, item 1: 5, item 2: 8, item 3: 10."""
  row = -np.arange(NUM_ITEMS, dtype=np.float64)
  row[[0, 1, 2, 3]] = [9.0, 5.0, 8.0, 10.0]
  return np.tile(row[candidates], (batch["query"]["user"].shape[0], 1))


@pytest.mark.parametrize("implicit", [False, True])
def test_catalogue_full_ranking_of_relevant_query_items(implicit):
  summary, per_user = scoring.catalogue_metrics(_scores, [_batch(implicit)],
                                                 np.arange(NUM_ITEMS), _prepared(implicit))
  # Explicit: support item 0 is excluded, so the ranking is 3 (10), 2 (8), 1 (5):
  # the liked item 1 is third, the disliked 2 stays a candidate above it. Implicit:
  # the sampled support negative 3 is not excluded either: same ranking.
  # Either way nDCG@10 = 1 / log2(4), recall@10 = hit@10 = 1.
  # Users come in id order (3, 7); user 3 has no relevant query item: NaN.
  np.testing.assert_allclose(per_user["full_ndcg@10"], [np.nan, 0.5])
  np.testing.assert_allclose(per_user["full_recall@10"], [np.nan, 1.0])
  np.testing.assert_allclose(per_user["full_hit@10"], [np.nan, 1.0])
  assert summary["full_ndcg@10"] == 0.5 and summary["full_users"] == 1
  assert summary["coverage@10"] == pytest.approx(11 / NUM_ITEMS)  # both lists, item 0 out


def test_catalogue_excludes_support_items_only():
  batch = _batch(False)
  batch["support"]["mask"][0] = [1, 1]  # item 3 now a rated support item: excluded
  batch["support"]["y"][0] = [5.0, 4.0]
  _, per_user = scoring.catalogue_metrics(_scores, [batch], np.arange(NUM_ITEMS),
                                           _prepared(False))
  assert per_user["full_ndcg@10"][1] == pytest.approx(1 / math.log2(3))  # 2, then 1


def _episodes(support, negatives=0):
  """Episodes of users 0..E-1 with the given support ``y`` lists, one query rating."""
  sizes = [len(s) for s in support]
  return episodes_lib.Episodes(
      state="new_users", group="test", user=np.arange(len(support), dtype=np.int32),
      support_item=np.arange(sum(sizes), dtype=np.int32) % NUM_ITEMS,
      support_y=np.concatenate(support).astype(np.float32),
      support_offsets=np.r_[0, np.cumsum(sizes)].astype(np.int64),
      query_item=np.full(len(support), 11, np.int32),
      query_y=np.full(len(support), 4.0, np.float32),
      query_offsets=np.arange(len(support) + 1, dtype=np.int64), negatives=negatives)


def _zero_scorer(batch):
  return np.zeros(batch["query"]["item"].shape)


def test_k_shot_curve_ends_at_the_largest_support():
  scorers = {"zero": (_zero_scorer, None)}
  curve = evaluate.k_shot_curve(scorers, _episodes([[5.0], [3.0, 4.0, 5.0], [1.0, 2.0]]),
                                (4, 4, 1), False, "rmse", seed=0)
  assert curve["k"] == [1, 2, 3] and curve["users"] == [3, 2, 1]
  assert curve["values"]["zero"] == [4.0, 4.0, 4.0]
  # Implicit: the sampled negatives (y = 0) do not count: at most 2 positives.
  implicit = _episodes([[1.0, 0.0], [1.0, 1.0, 0.0, 0.0]], negatives=1)
  curve = evaluate.k_shot_curve(scorers, implicit, (4, 4, 1), True, "auc", seed=0)
  assert curve["k"] == [1, 2] and curve["users"] == [2, 1]


def test_k_shot_curve_does_not_swallow_other_errors(monkeypatch):
  def broken(*args, **kwargs):
    raise ValueError("a bug in truncation")
  monkeypatch.setattr(episodes_lib, "truncate_support", broken)
  with pytest.raises(ValueError, match="a bug in truncation"):
    evaluate.k_shot_curve({"zero": (_zero_scorer, None)}, _episodes([[5.0]]),
                          (4, 4, 1), False, "rmse", seed=0)


def _finetune_scorers(best_query, best_ranking):
  """Fake ``model_scoring`` scorers: the query scores are 2 (else 0) and item 1 is
  ranked first (else third, as in ``_scores``) only at the given grid points."""
  def scorers(params, lr, steps):
    del params
    query = 2.0 if (lr, steps) == best_query else 0.0

    def score_all(batch, candidates):
      scores = _scores(batch, candidates)
      if (lr, steps) == best_ranking:
        scores[:, candidates == 1] = 20.0
      return scores
    return (lambda batch: np.full(batch["query"]["item"].shape, query)), score_all
  return scorers


def test_tune_finetuning_picks_the_best_grid_point():
  batches = [_batch(False)]
  scorers = _finetune_scorers((1e-2, 5), (1e-1, 10))
  # RMSE: scores of 2 fit the query ratings (5, 2 / 2) better than 0.
  assert evaluate.tune_finetuning(scorers, None, batches, "rmse", False) == {
      "inner_lr": 1e-2, "num_steps": 5}
  catalogue = functools.partial(scoring.catalogue_metrics, candidates=np.arange(NUM_ITEMS),
                                prepared=_prepared(False))
  assert evaluate.tune_finetuning(scorers, None, batches, "full_ndcg@10", False,
                                  catalogue=catalogue) == {"inner_lr": 1e-1, "num_steps": 10}
  with pytest.raises(ValueError, match="ranks the catalogue"):
    evaluate.tune_finetuning(scorers, None, batches, "full_ndcg@10", False)


def test_protocol_records_the_code_identity(monkeypatch):
  identity = {"code_hash": "ab" * 32, "dirty": False}
  monkeypatch.setattr(provenance, "code_identity", lambda root=None: identity)
  config = ml_collections.ConfigDict({"seed": 3, "data": {"query_size": 10}})
  out = evaluate.protocol(config, _prepared(False))
  assert out["code"] == identity and out["seed"] == 3
  assert out["relevance_threshold"] == 4.0
  assert evaluate.protocol(config, _prepared(True))["relevance_threshold"] == 1.0


def _output():
  rows = []
  for method, maes in (("melu-maml", (0.9, 0.8, 0.7)), ("mf_foldin", (1.0, 0.9, 0.6))):
    metrics = {"mae": 0.8, "rmse": 1.0, "full_recall@10": 0.25, "full_ndcg@10": 0.125,
               "num_users": 6, "full_users": 4}
    for label, mae, n in zip(("1-10", "11-30", "31+"), maes, (3, 2, 1)):
      metrics[f"mae_support_{label}"], metrics[f"num_users_support_{label}"] = mae, n
    rows.append({"method": method, "state": "new_users", "seed": 0, "metrics": metrics})
  curves = {"metric": "rmse", "k_shot": {"k": [1, 2], "users": [6, 5],
                                         "values": {"melu-maml": [1.0, 0.9]}},
            "inner_steps": {"steps": [0, 1], "values": [1.1, 1.0]}}
  return {"dataset": "toy", "results": rows, "curves": curves}


def test_results_markdown_full_catalogue_and_support_table():
  lines = report.results_markdown(_output()).splitlines()
  assert "## new_users (6 test users; full_* over the 4 with a relevant query item)" in lines
  assert "| method | rmse | mae | full_recall@10 | full_ndcg@10 |" in lines
  assert "| method | 1-10 (n=3) | 11-30 (n=2) | 31+ (n=1) |" in lines
  assert "| mf_foldin | 1.0000 | 0.9000 | 0.6000 |" in lines


def test_results_markdown_cells_are_the_pooled_reports():
  """results.md's cells are jaxrec.results.metric_cell's: "—" for a metric the method
  does not report (a ranking-only baseline's RMSE), "n/a" for a NaN mean."""
  output = _output()
  ranking_only, nan_auc = output["results"]
  del ranking_only["metrics"]["rmse"], ranking_only["metrics"]["mae"]
  nan_auc["metrics"]["rmse"] = math.nan
  lines = report.results_markdown(output).splitlines()
  assert "| melu-maml | — | — | 0.2500 | 0.1250 |" in lines
  assert "| mf_foldin | n/a | 0.8000 | 0.2500 | 0.1250 |" in lines


def test_plot_all_draws_mae_by_support(tmp_path):
  report.plot_all(tmp_path, _output())
  for name in ("k_shot.png", "inner_steps.png", "mae_by_support.png"):
    assert (tmp_path / name).stat().st_size > 0
  output = _output()
  for r in output["results"]:  # implicit data: no MAE, no plot
    r["metrics"] = {k: v for k, v in r["metrics"].items() if "support" not in k}
  (tmp_path / "implicit").mkdir()
  report.plot_all(tmp_path / "implicit", output)
  assert not (tmp_path / "implicit" / "mae_by_support.png").exists()


@pytest.mark.parametrize("state", episodes_lib.STATES)
def test_candidates_are_the_item_group_of_the_states_queries(state):
  """Full-catalogue metrics rank the training items for warm and new-user states
  and the held-out test items for the new-item states: every test query item is
  a candidate, and no item of the other group is."""
  config = maml_synthetic.get_config()
  config.data.synthetic = {"num_users": 80, "num_items": 60, "seed": 0,
                           "ratings_per_user": (15, 40)}
  prepared = prepare.prepare(config)
  candidates = evaluate._candidates(prepared, state)  # pylint: disable=protected-access
  episodes = episodes_lib.make_episodes(prepared.interactions, prepared.split, state,
                                        group="test", query_size=config.data.query_size,
                                        negatives=config.data.negatives, seed=config.seed)
  queried = np.unique(episodes.query_item)
  assert len(queried) and np.isin(queried, candidates).all()
  new_items = state in ("new_items", "new_users_new_items")
  other = prepared.split.train_items if new_items else prepared.split.test_items
  assert not np.isin(candidates, other).any()
