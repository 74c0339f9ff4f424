"""experiments.tables (README blocks rendered from committed JSON, and --check) and its
results_tables and benchmark_tables."""

import math

import numpy as np
import pytest

from experiments import benchmark_tables
from experiments import results_tables
from experiments import tables


def _summary(code=None, stale_pooled=False):
  rows = []
  for method, rmse, seeds in (("melu-maml", 0.98, 5), ("mf_foldin", 0.95, 5),
                              ("user_mean", 1.03, 4)):
    rows.append({"method": method, "state": "new_users", "n_seeds": seeds,
                 "seeds": list(range(seeds)),
                 "metrics": {"rmse": rmse, "rmse_ci95": 0.02, "ndcg@3": 0.85,
                             "ndcg@3_ci95": math.nan, "auc": 0.6, "auc_ci95": 0.01,
                             "num_users": 58.0}})
  paired = [{"method": "melu-maml", "reference": "mf_foldin", "state": "new_users",
             "metric": "rmse", "lower_is_better": True, "n_seeds": 5, "mean": 0.0352,
             "ci95": 0.0108, "num_pairs": 290, "frac_better": 0.38, "frac_worse": 0.62},
            {"method": "user_mean", "reference": "mf_foldin", "state": "new_users",
             "metric": "rmse", "lower_is_better": True, "n_seeds": 4, "mean": -0.0804,
             "ci95": math.nan, "num_pairs": 232, "frac_better": 0.4, "frac_worse": 0.6}]
  pooled = [{"config": "maml", "seed": s} for s in range(5)]
  if stale_pooled:
    pooled[0]["stale"] = "trained: no code identity recorded"
  summary = {"metric": "rmse", "aggregated": rows, "paired": paired,
             "pooled_runs": pooled,
             "runs": [{"config": "maml", "seed": 5, "status": "failed"}]}
  if code is not None:
    summary.update(code=code, stale_runs=[p for p in pooled if "stale" in p])
  return summary


def test_state_table_renders_rows_deltas_and_stale_line():
  lines = results_tables.state_table(_summary(), "r.json", "new_users",
                                     ["melu-maml", "user_mean", "mf_foldin"], "New users")
  assert lines[0] == ("New users (58 test users per seed; Δ against MF (ALS) + fold-in, "
                      "the strongest baseline):")
  assert lines[4] == ("| MeLU + MAML (2nd order, 3 steps) | 0.980 ± 0.020 | 0.850 | "
                      "0.600 ± 0.010 | +0.035 ± 0.011 |")
  assert lines[5].endswith("| -0.080 |")   # one-seed-like NaN CI: mean alone
  assert lines[6].endswith("| — |")        # the reference itself
  assert "older code (stale)" in lines[-1] and "no code identity" in lines[-1]
  assert "user mean 4" in lines[-1] and "failed runs: maml seed 5" in lines[-1]


def test_text_pair_table_names_the_strongest_baseline_per_metric():
  rows = []
  for state in ("new_items", "new_users_new_items", "new_users", "warm"):
    for method, auc, recall in (("hybrid-text-maml", 0.80, 0.11),
                                ("hybrid-notext-maml", 0.78, 0.02),
                                ("content_to_factor_features", 0.89, 0.05),
                                ("ials_foldin", 0.50, 0.25)):
      rows.append({"method": method, "state": state, "n_seeds": 5,
                   "metrics": {"auc": auc, "full_recall@10": recall, "num_users": 10.0}})
  paired = [{"method": "hybrid-text-maml", "reference": "hybrid-notext-maml", "state": state,
             "metric": "auc", "mean": 0.02, "ci95": 0.01}
            for state in ("new_items", "new_users_new_items", "new_users", "warm")]
  summary = {"metric": "auc", "aggregated": rows, "paired": paired, "pooled_runs": []}
  lines = results_tables.text_pair_table(summary, "r.json", [("AUC", "auc")])
  assert lines[0].endswith("| best baseline AUC | best baseline full-catalogue recall@10 |")
  assert lines[2].endswith("| 0.890 (content-to-factor (features) + fold-in) | "
                           "0.250 (iALS + fold-in) |")


def test_pair_table_has_both_methods_and_their_paired_difference_per_state():
  states = ("new_users", "new_items", "new_users_new_items", "warm")
  rows = [{"method": m, "state": st, "metrics": {"rmse": v, "rmse_ci95": 0.01}}
          for st in states for m, v in (("foldin-solve", 0.9), ("foldin-maml", 0.92))]
  paired = [{"method": "foldin-solve", "reference": "foldin-maml", "state": st,
             "metric": "rmse", "mean": -0.02, "ci95": 0.005} for st in states]
  lines = results_tables.pair_table({"metric": "rmse", "aggregated": rows, "paired": paired},
                                    "foldin-solve", "foldin-maml", [("RMSE", "rmse")])
  assert lines[0] == ("| state | fold-in (closed-form solve) RMSE | fold-in (MAML steps) RMSE "
                      "| Δ RMSE, fold-in (closed-form solve) − fold-in (MAML steps) "
                      "(paired) |")
  assert lines[2] == "| new users | 0.900 ± 0.010 | 0.920 ± 0.010 | -0.020 ± 0.005 |"
  assert len(lines) == 2 + len(states)
  with pytest.raises(ValueError, match="no aggregated row"):
    results_tables.pair_table({"metric": "rmse", "aggregated": rows[:2], "paired": paired},
                              "foldin-solve", "foldin-maml", [("RMSE", "rmse")])


def test_provenance_line_names_the_code_or_the_stale_runs():
  code = {"code_hash": "0123456789abcdef", "git_commit": "fedcba9876543210",
          "dirty": False}
  assert "all of code 0123456789ab (commit fedcba987654)" in results_tables.provenance_line(
      _summary(code), "r.json")
  line = results_tables.provenance_line(_summary(code, stale_pooled=True), "r.json")
  assert "1 of them of older code than code 0123456789ab" in line and "stale" in line


def test_state_table_raises_on_a_missing_method():
  with pytest.raises(ValueError, match="melu-reptile"):
    results_tables.state_table(_summary(), "r.json", "new_users", ["melu-reptile"], "New users")


def test_compare_table_computes_ratios_and_megabytes():
  mib = 2 ** 20
  data = {"rows": [{"num_steps": 1, "batch_size": 32, "loop": 250, "func": 1000,
                    "jaxrec_none": 2000, "jaxrec_bucketed": 2500,
                    "jaxrec_bucketed_weights": 2400, "loop_peak_rss_growth": 32 * mib,
                    "func_peak_rss_growth": 58 * mib, "jaxrec_step_bytes": 31 * mib}]}
  assert benchmark_tables.compare_table(data)[-1] == (
      "| 1 | 32 | 250 | 1000 | 2000 | 2500 | 2400 | 10.0× | 2.5× | 32 / 58 / 31 |")


def test_cost_line_means_each_part_over_the_runs_that_recorded_it():
  summary = {"pooled_runs": [
      {"config": "b", "cpu_minutes": {"train": 1.0, "evaluate": 0.5}},
      {"config": "a", "cpu_minutes": {"train": 2.0}},
      {"config": "b", "cpu_minutes": {"train": 3.0}},
      {"config": "c"}]}
  assert results_tables.cost_line(summary).endswith(
      ": `b` 2.0 + 0.5 (2 runs), `a` 2.0 + — (1 run), `c` not recorded.")


def _final_summary(comparisons):
  """A final study's summary: each ``(state, metric, final, other, diff, ci,
  lower_is_better)`` gives the two means and the final comparison."""
  rows, finals = {}, []
  for state, metric, mine, other, diff, ci, lower in comparisons:
    for method, value in (("final", mine), ("other", other)):
      rows.setdefault((method, state), {})[metric] = value
    finals.append({"method": "final", "reference": "other", "state": state,
                   "metric": metric, "mean": diff, "ci95": ci, "lower_is_better": lower})
  return {"aggregated": [{"method": m, "state": st, "metrics": v}
                         for (m, st), v in rows.items()],
          "final": {"method": "final", "comparisons": finals}}


def test_targets_table_says_met_tied_or_lost_from_the_final_comparisons():
  cold = [(state, metric, 0.9, 0.9, 0.001, 0.01, metric == "rmse")
          for state in ("new_items", "new_users_new_items")
          for metric in ("rmse", "auc", "full_ndcg@10", "full_recall@10")]
  cold[2] = ("new_items", "full_ndcg@10", 0.1, 0.2, -0.08, 0.02, False)  # a loss
  cold[4] = ("new_users_new_items", "rmse", 0.9, 0.95, -0.05, 0.01, True)  # a win
  ml100k = _final_summary([
      ("new_users", "mae", 0.70, 0.75, -0.05, 0.01, True),
      ("new_users", "rmse", 0.90, 0.95, -0.05, 0.01, True),
      ("new_users", "full_ndcg@10", 0.07, 0.06, 0.01, 0.02, False), *cold])
  lastfm = _final_summary([
      ("new_users", "full_ndcg@10", 0.21, 0.20, 0.01, 0.005, False),
      ("new_users", "full_recall@10", 0.20, 0.19, 0.01, 0.002, False),
      *((state, metric, 0.2, 0.2, 0.0, math.nan, False)  # no CI: a tie
        for state in ("new_items", "new_users_new_items")
        for metric in ("full_ndcg@10", "full_recall@10"))])
  ranking = {"seeds": {"0": {"runs": {"final": {}}}}, "summary": {"paired": [
      {"method": "final", "reference": "ials_foldin", "metric": "ndcg@10",
       "mean": -0.2, "ci95": 0.05}]}}
  rows = results_tables.targets_table(ml100k, lastfm, ranking)
  assert rows[2].endswith("| MAE 0.933× (0.7000 against 0.7500, -0.0500 ± 0.0100), "
                          "RMSE -0.0500 ± 0.0100: wins |")
  assert rows[3].endswith("| +0.0100 ± 0.0200 against the rating models (ties); "
                          "-0.2000 ± 0.0500 against the iALS fold-in on rated movies "
                          "(loses) |")
  # both CIs exclude 0, but +5.0% is short of +10%
  assert rows[4].endswith("| +5.0% (+0.0100 ± 0.0050 and +0.0100 ± 0.0020): "
                          "wins, short of the goal |")
  assert rows[5].endswith("| wins on 1, ties on 10, loses on 1 of 12 metrics (closest: "
                          "ML-100K new users × new items RMSE -0.0500 ± 0.0100); loses: "
                          "ML-100K new items nDCG@10 -0.0800 ± 0.0200 against other |")
  ranking["seeds"]["0"]["runs"] = {"another": {}}
  with pytest.raises(ValueError, match="the ranking check scored 'another'"):
    results_tables.targets_table(ml100k, lastfm, ranking)


def test_latency_sentence_names_a_real_data_run_not_a_synthetic_stand_in():
  data = {"model": "foldin", "adapter": "solve", "user_fields": [], "support": 10,
          "num_steps": 0, "num_items": 1682, "p50_ms": 0.55, "p99_ms": 0.7,
          "method": "foldin-solve", "dataset": "ml-100k", "seed": 0,
          "run_code_hash": "a39112afe82641bb"}
  real, stand_in = benchmark_tables.latency_sentence([data, {**data, "dataset": "synthetic"}])
  assert real.startswith("foldin (solve adapter), the foldin-solve run on ml-100k (seed 0, code "
                         "a39112afe826): ")
  assert stand_in.startswith("foldin (solve adapter): one run")
  assert real.endswith("p50 0.6 ms, p99 0.7 ms.")


def test_fill_and_differing_name_the_stale_block():
  text = ("a\n<!-- tables:x -->\nold\n<!-- /tables:x -->\nb\n"
          "<!-- tables:y -->\nsame\n<!-- /tables:y -->\n")
  blocks = {"x": "new\nlines", "y": "same"}
  assert tables.differing(text, blocks) == ["x"]
  filled = tables.fill(text, blocks)
  assert filled == text.replace("old", "new\nlines")
  assert tables.differing(filled, blocks) == []
  empty = "a\n<!-- tables:x -->\n<!-- /tables:x -->\nb\n"  # a new block, not yet filled
  assert tables.differing(empty, {"x": "new"}) == ["x"]
  assert tables.fill(empty, {"x": "new"}) == "a\n<!-- tables:x -->\nnew\n<!-- /tables:x -->\nb\n"
  with pytest.raises(ValueError, match="'z'"):
    tables.fill(text, {**blocks, "z": "?"})
  with pytest.raises(ValueError, match="not generated"):
    tables.fill(text + "<!-- tables:w -->\n", blocks)


def test_every_block_starts_with_the_note_and_benchmarks_name_their_source():
  blocks = tables.render_blocks()
  assert all(b.startswith(tables.NOTE + "\n") for b in blocks.values())
  assert "python benchmarks/compare.py" in blocks["perf_compare"]
  assert "python benchmarks/meta_step.py" in blocks["perf_memory"]
  assert "python benchmarks/meta_step.py" in blocks["perf_meta_step"]
  assert "runs, all of code " in blocks["ml100k_new_users"]


def test_readme_matches_the_committed_json(capsys):
  assert tables.main(["--check"]) == 0, capsys.readouterr().err


def test_check_fails_on_a_hand_edit(tmp_path, capsys):
  readme = (tables.ROOT / "README.md").read_text()
  edited = tmp_path / "README.md"
  edited.write_text(readme.replace("| MF (ALS) + fold-in | 0.946",
                                   "| MF (ALS) + fold-in | 0.900", 1))
  assert tables.main(["--check", "--readme", str(edited)]) == 1
  assert "ml100k_new_users" in capsys.readouterr().err


def test_sentence_tables_add_what_recommend_serves_at_zero_ratings():
  """The fold-in of a sentence's nearest items at k = 0 is paired with popularity
  from the JSON's per-user figures and enters the unrelated-sentence check."""
  source = tables.ROOT / "experiments/results/zero_ratings/sentences_lastfm.json"
  data = tables.load_json(source)
  text = "\n".join(results_tables.sentence_tables(data, "s.json"))
  row = next(line for line in text.splitlines() if line.startswith(
      "| fold-in + the unrelated sentence's nearest items − popularity | 0 |"))
  per_seed = [np.nanmean(np.subtract(run["per_user"]["foldin+unrelated"]["0"]["ndcg@10"],
                                     run["per_user"]["popularity"]["0"]["ndcg@10"]))
              for run in data["seeds"].values()]
  assert f"{np.mean(per_seed):+.3f}" in row
  assert ("fold-in + the unrelated sentence's nearest items − popularity at k = 0: "
          "lower bound") in text
