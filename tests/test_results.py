"""Tests for jaxrec.results (statistics, pooling over seeds, comparisons, markdown) and
experiments/run_all.py."""

import json
import math
import pathlib
import sys

import numpy as np
import pytest

from jaxrec import provenance
from jaxrec import results

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # experiments/ is a folder of the repo, not installed
  sys.path.insert(0, str(REPO))

from experiments import run_all  # noqa: E402

# Student's t 0.975 quantiles (printed tables): df = 1, 2, 3, 10, 30.
T975 = {1: 12.706204736174707, 2: 4.302652729749464, 3: 3.182446305284263,
        10: 2.228138851986274, 30: 2.0422724563012373}


# The code identity every test sees as the current one (the working tree changes
# under concurrent edits, so the real one is tested in test_provenance.py).
CURRENT = {"code_hash": "c" * 64, "dirty": False, "git_commit": "1" * 40}
OLD = {"code_hash": "0" * 64, "dirty": True, "git_commit": "2" * 40}


@pytest.fixture(autouse=True)
def fixed_code_identity(monkeypatch):
  monkeypatch.setattr(provenance, "code_identity", lambda root=None: dict(CURRENT))


def _row(method, state, seed, **metrics):
  return {"method": method, "state": state, "seed": seed, "metrics": metrics}


def _run(seed, method, rmse, baseline_rmse, dataset="toy", code=CURRENT):
  """A results.json of one run: its method and the mf_foldin baseline, trained and
  evaluated with the code identity ``code``."""
  return {"dataset": dataset, "protocol": {"seed": seed, "code": code,
                                           "trained_code": code},
          "curves": {"metric": "rmse"},
          "results": [_row(method, "new_users", seed, rmse=rmse, num_users=4),
                      _row("mf_foldin", "new_users", seed, rmse=baseline_rmse,
                           num_users=4)]}


# ---------------------------------------------------------------- t quantiles, CIs

@pytest.mark.parametrize("df", sorted(T975))
def test_student_t_ppf_matches_tables(df):
  assert results.student_t_ppf(0.975, df) == pytest.approx(T975[df], abs=1e-9)
  assert results.student_t_ppf(0.025, df) == pytest.approx(-T975[df], abs=1e-9)


def test_student_t_ppf_matches_scipy_over_many_df():
  stats = pytest.importorskip("scipy.stats")
  for df in (1, 2, 4, 5, 7, 31, 100, 999, 5000):
    for p in (0.55, 0.9, 0.975, 0.9995):
      assert results.student_t_ppf(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9)


@pytest.mark.parametrize("p,df,match", [(1.0, 3, "p must be in"),
                                        (0.0, 3, "p must be in"),
                                        (0.9, 0, "df must be"), (0.9, 2.5, "df must be")])
def test_student_t_ppf_rejects_bad_arguments(p, df, match):
  with pytest.raises(ValueError, match=match):
    results.student_t_ppf(p, df)


def test_mean_ci95_hand_computed():
  # 1, 2, 3: mean 2, s = 1, half-width t_{0.975,2} * 1 / sqrt(3).
  mean, ci, n = results.mean_ci95([1.0, 2.0, np.nan, 3.0])
  assert (mean, n) == (2.0, 3)
  assert ci == pytest.approx(4.302652729749464 / math.sqrt(3))
  mean, ci, n = results.mean_ci95([5.0])
  assert (mean, n) == (5.0, 1) and math.isnan(ci)
  mean, ci, n = results.mean_ci95([np.nan])
  assert n == 0 and math.isnan(mean) and math.isnan(ci)


# ---------------------------------------------------------------- aggregate

def test_aggregate_means_cis_and_baseline_dedupe():
  runs = []
  for seed, (maml, joint, base) in enumerate([(1.0, 4.0, 2.0), (2.0, 4.0, 2.5),
                                              (3.0, 4.0, 3.0)]):
    runs += [_run(seed, "melu-maml", maml, base), _run(seed, "melu-joint", joint, base)]
  rows = {r["method"]: r for r in results.aggregate(runs)}
  assert list(rows) == ["melu-maml", "mf_foldin", "melu-joint"]
  maml, base, joint = rows["melu-maml"], rows["mf_foldin"], rows["melu-joint"]
  assert maml["seeds"] == [0, 1, 2] and maml["n_seeds"] == 3
  assert maml["metrics"]["rmse"] == pytest.approx(2.0)
  assert maml["metrics"]["rmse_ci95"] == pytest.approx(4.302652729749464 / math.sqrt(3))
  # The baseline appears in 6 runs but counts once per seed: 2, 2.5, 3.
  assert base["n_seeds"] == 3
  assert base["metrics"]["rmse"] == pytest.approx(2.5)
  assert base["metrics"]["rmse_ci95"] == pytest.approx(T975[2] * 0.5 / math.sqrt(3))
  assert joint["metrics"]["rmse_ci95"] == 0.0
  assert base["metrics"]["num_users"] == 4.0


def test_aggregate_single_seed_and_missing_metric():
  runs = [_run(0, "melu-maml", 1.0, 2.0), _run(1, "melu-maml", 3.0, 2.0)]
  runs[1]["results"][0]["metrics"]["auc"] = 0.7
  [maml, _] = results.aggregate(runs[:1])
  assert maml["n_seeds"] == 1 and math.isnan(maml["metrics"]["rmse_ci95"])
  [maml, _] = results.aggregate(runs)
  assert maml["metrics"]["auc"] == 0.7 and math.isnan(maml["metrics"]["auc_ci95"])


def test_aggregate_rejects_conflicting_duplicates_and_mixed_datasets():
  with pytest.raises(ValueError, match=r"run #1 has method 'mf_foldin', state "
                     r"'new_users', seed 0 with metrics different"):
    results.aggregate([_run(0, "melu-maml", 1.0, 2.0), _run(0, "melu-joint", 1.0, 2.1)])
  with pytest.raises(ValueError, match="different datasets"):
    results.aggregate([_run(0, "a-b", 1.0, 2.0), _run(1, "a-b", 1.0, 2.0, dataset="x")])


# ---------------------------------------------------------------- paired differences

def _per_user_runs():
  """Seed 0: method and reference in different runs, users in different orders;
  seed 1: both in one run. Seed 2 has only the reference (left out)."""
  nan = np.nan
  maml0 = {"new_users|user": np.array([3, 1, 2]),
           "melu-maml|new_users|rmse": np.array([0.5, 1.0, nan]),
           "mf_foldin|new_users|rmse": np.array([0.25, 1.5, 2.0])}
  joint0 = {"new_users|user": np.array([1, 2, 3]),
            "mf_foldin|new_users|rmse": np.array([1.5, 2.0, 0.25])}
  maml1 = {"new_users|user": np.array([7, 8]),
           "melu-maml|new_users|rmse": np.array([1.0, 2.0]),
           "mf_foldin|new_users|rmse": np.array([2.0, 2.0])}
  only2 = {"new_users|user": np.array([9]), "mf_foldin|new_users|rmse": np.array([1.0])}
  return [(0, joint0), (0, maml0), (1, maml1), (2, only2)]


def test_paired_differences_hand_computed():
  p = results.paired_differences(_per_user_runs(), "melu-maml", "mf_foldin",
                                 "new_users", "rmse")
  # Seed 0 (reference from the first run, matched by id): user 1: 1.0 - 1.5,
  # user 3: 0.5 - 0.25, user 2 excluded (NaN) -> mean -0.125 over 2 users.
  # Seed 1: 1 - 2, 2 - 2 -> mean -0.5.
  assert p["per_seed"] == [{"seed": 0, "mean": -0.125, "num_users": 2},
                           {"seed": 1, "mean": -0.5, "num_users": 2}]
  assert p["n_seeds"] == 2 and p["lower_is_better"]
  assert p["mean"] == pytest.approx(-0.3125)
  # s = 0.375 / sqrt(2), ci = t_{0.975,1} s / sqrt(2) = 12.7062 * 0.375 / 2.
  assert p["ci95"] == pytest.approx(12.706204736174707 * 0.375 / 2)
  # Pairs -0.5, 0.25, -1.0, 0.0: counted for information, no per-user CI.
  assert p["num_pairs"] == 4 and "pooled_ci95" not in p
  assert (p["frac_better"], p["frac_worse"]) == (0.5, 0.25)


def test_paired_differences_ci_is_the_seed_level_t_interval():
  """Five seeds: the CI is the t-interval of the 5 per-seed mean differences, not
  one over the pooled users (here far narrower: 40 users, small spread per seed)."""
  stats = pytest.importorskip("scipy.stats")
  rng = np.random.default_rng(0)
  runs, seed_means = [], []
  for seed, shift in enumerate((0.1, -0.3, 0.4, 0.0, 0.2)):
    diff = shift + rng.normal(0.0, 0.01, 8)
    seed_means.append(diff.mean())
    runs.append((seed, {"s|user": np.arange(8), "a-b|s|mae": 1.0 + diff,
                        "c|s|mae": np.ones(8)}))
  p = results.paired_differences(runs, "a-b", "c", "s", "mae")
  m = np.mean(seed_means)
  lo, hi = stats.t.interval(0.95, 4, loc=m, scale=stats.sem(seed_means))
  assert p["n_seeds"] == 5 and p["num_pairs"] == 40
  assert p["mean"] == pytest.approx(m)
  assert p["ci95"] == pytest.approx((hi - lo) / 2, rel=1e-9)
  assert p["ci95"] == pytest.approx(
      stats.t.ppf(0.975, 4) * np.std(seed_means, ddof=1) / math.sqrt(5), rel=1e-9)
  assert [s["num_users"] for s in p["per_seed"]] == [8] * 5
  assert "95% CI over 5 seeds; worse, CI includes 0" in results.verdict(p)


def test_paired_differences_higher_is_better_metric():
  runs = [(0, {"s|user": np.array([2, 1]), "m-x|s|auc": np.array([0.9, 0.4]),
               "b|s|auc": np.array([0.8, 0.5])})]
  p = results.paired_differences(runs, "m-x", "b", "s", "auc")
  assert not p["lower_is_better"]
  assert p["per_seed"][0]["mean"] == pytest.approx(0.0)
  assert (p["frac_better"], p["frac_worse"]) == (0.5, 0.5)
  assert math.isnan(p["ci95"]) and p["num_pairs"] == 2  # one seed: no CI


def test_paired_differences_errors():
  with pytest.raises(ValueError, match="no seed has per-user 'rmse' of both 'melu-x'"):
    results.paired_differences(_per_user_runs(), "melu-x", "mf_foldin", "new_users",
                               "rmse")
  other = [(0, {"s|user": np.array([1, 2]), "a-b|s|rmse": np.array([1.0, 2.0])}),
           (0, {"s|user": np.array([1, 3]), "c|s|rmse": np.array([1.0, 2.0])})]
  with pytest.raises(ValueError, match=r"seed 0, state 's': the runs evaluated different "
                     r"users \(2 and 2 users, 1 in common\)"):
    results.paired_differences(other, "a-b", "c", "s", "rmse")
  repeated = [(0, {"s|user": np.array([1, 1]), "a-b|s|rmse": np.array([1.0, 2.0]),
                   "c|s|rmse": np.array([1.0, 2.0])})]
  with pytest.raises(ValueError, match="repeated user ids"):
    results.paired_differences(repeated, "a-b", "c", "s", "rmse")


# ---------------------------------------------------------------- baseline, markdown

def _aggregated():
  rows = []
  for state, values in (("new_users", {"melu-maml": 0.9, "mf_foldin": 1.0,
                                       "user_mean": 1.1}),
                        ("warm", {"melu-maml": 0.8, "mf_foldin": 0.7, "user_mean": 0.6})):
    for method, rmse in values.items():
      rows.append({"method": method, "state": state, "seeds": [0, 1], "n_seeds": 2,
                   "metrics": {"rmse": rmse, "rmse_ci95": 0.05, "auc": 2 - rmse,
                               "auc_ci95": 0.01, "num_users": 64.0,
                               "num_users_ci95": 0.0}})
  return rows


def test_strongest_baseline():
  agg = _aggregated()
  assert results.strongest_baseline(agg, "new_users", "rmse") == "mf_foldin"
  assert results.strongest_baseline(agg, "warm", "rmse") == "user_mean"
  assert results.strongest_baseline(agg, "warm", "auc") == "user_mean"
  assert results.strongest_baseline(agg, "warm", "rmse", ["mf_foldin"]) == "mf_foldin"
  # An explicit list can name a method that has a "-".
  assert results.strongest_baseline(agg, "warm", "rmse", ["melu-maml"]) == "melu-maml"
  with pytest.raises(ValueError,
                     match="no baseline has a finite 'ndcg@3' on state 'warm'"):
    results.strongest_baseline(agg, "warm", "ndcg@3")


def test_markdown_table_and_verdicts():
  paired = [results.paired_differences(_per_user_runs(), "melu-maml", "mf_foldin",
                                       "new_users", "rmse"),
            results.paired_differences(_per_user_runs(), "mf_foldin", "mf_foldin",
                                       "new_users", "rmse")]
  text = results.markdown_table(_aggregated(), paired)
  lines = text.splitlines()
  assert "## new_users (2 seeds, 64 test users per seed)" in lines
  assert "| method | rmse | auc | Δ rmse vs mf_foldin |" in lines
  assert ("| melu-maml | 0.9000 ± 0.0500 | 1.1000 ± 0.0100 | -0.3125 ± 2.3824 |"
          in lines)
  assert "| user_mean | 1.1000 ± 0.0500 | 0.9000 ± 0.0100 | — |" in lines
  assert ("- new_users: melu-maml vs mf_foldin: RMSE difference -0.3125 ± 2.3824 "
          "(95% CI over 2 seeds; better, CI includes 0); melu-maml better for 50% of "
          "users.") in lines
  # The warm table has no paired column and no verdict; baselines get no verdict.
  assert "| method | rmse | auc |" in lines
  assert sum(line.startswith("- ") for line in lines) == 1


def test_verdict_single_seed_has_no_ci():
  runs = [(0, {"s|user": np.array([1, 2, 3]), "a-b|s|rmse": np.array([2.0, 2.1, 2.2]),
               "c|s|rmse": np.array([1.0, 1.0, 1.0])})]
  p = results.paired_differences(runs, "a-b", "c", "s", "rmse")
  assert results.verdict(p) == (
      "s: a-b vs c: RMSE difference +1.1000 (1 seed; worse, no CI); a-b better for 0% "
      "of users.")
  assert "| a-b | n/a | +1.1000 |" in results.markdown_table(
      [{"method": "a-b", "state": "s", "n_seeds": 1, "metrics": {"rmse": math.nan}}], [p])


# ---------------------------------------------------------------- run_all helpers

def test_parse_and_apply_overrides():
  config = run_all.load_config(REPO / "experiments/configs/maml_synthetic.py")
  overrides = [run_all.parse_override(s) for s in
               ("num_epochs=2", "data.synthetic.num_users=50", "buckets=(16, 32)",
                "model.name=two_tower", "optimizer.learning_rate=1")]
  assert overrides[2] == ("buckets", (16, 32)) and overrides[3] == ("model.name",
                                                                    "two_tower")
  run_all.apply_overrides(config, overrides)
  assert config.num_epochs == 2 and config.data.synthetic.num_users == 50
  assert config.buckets == (16, 32) and config.model.name == "two_tower"
  assert config.optimizer.learning_rate == 1.0
  with pytest.raises(ValueError, match="expected key=value"):
    run_all.parse_override("num_epochs")
  with pytest.raises(ValueError, match="the config has no field 'data.nope'"):
    run_all.apply_overrides(config, [("data.nope.x", 1)])
  with pytest.raises(ValueError, match="--set num_epochs='many'"):
    run_all.apply_overrides(config, [("num_epochs", "many")])


def test_load_config_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="nope.py not found"):
    run_all.load_config(tmp_path / "nope.py")
  (tmp_path / "empty.py").write_text("x = 1\n")
  with pytest.raises(ValueError, match="empty.py defines no get_config"):
    run_all.load_config(tmp_path / "empty.py")


def _write_fake_run(root, config, seed, maml_rmse, base_rmse, code=CURRENT):
  workdir = run_all.run_dir(root, f"{config}.py", seed)
  workdir.mkdir(parents=True)
  (workdir / "results.json").write_text(json.dumps(
      _run(seed, f"melu-{config}", float(np.mean(maml_rmse)), float(np.mean(base_rmse)),
           code=code)))
  np.savez(workdir / "per_user.npz", **{
      "new_users|user": np.arange(len(maml_rmse)),
      f"melu-{config}|new_users|rmse": np.asarray(maml_rmse),
      "mf_foldin|new_users|rmse": np.asarray(base_rmse)})
  (workdir / "k_shot.png").write_bytes(f"{config} {seed}".encode())
  return workdir


def test_pool_runs_and_failed_runs_are_reported(tmp_path, capsys):
  root, out = tmp_path / "root", tmp_path / "out"
  _write_fake_run(root, "maml", 0, [1.0, 2.0], [1.5, 2.5])
  _write_fake_run(root, "maml", 1, [1.0, 1.0], [1.0, 2.0])
  (root / "maml" / "seed_2").mkdir()  # unfinished: not pooled
  bad = tmp_path / "bad.py"
  bad.write_text("from experiments.configs import default\n\ndef get_config():\n"
                 "  c = default.get_config()\n  c.data.dataset = 'csv:/nonexistent.csv'\n"
                 "  return c\n")
  summary = run_all.run_all([str(bad)], [3], root, out, command="cmd", progress=False)
  assert "bad/seed_3 failed" in capsys.readouterr().err
  [failed] = summary["runs"]
  assert failed["status"] == "failed" and failed["config"] == "bad"
  assert "nonexistent" in failed["error"]
  assert [(r["config"], r["seed"]) for r in summary["pooled_runs"]] == [("maml", 0),
                                                                        ("maml", 1)]
  saved = json.loads((out / "results.json").read_text())
  assert saved["command"] == "cmd" and saved["metric"] == "rmse"
  [p] = saved["paired"]
  assert (p["method"], p["reference"], p["state"]) == ("melu-maml", "mf_foldin",
                                                       "new_users")
  assert [s["mean"] for s in p["per_seed"]] == [-0.5, -0.5]
  assert p["mean"] == -0.5 and p["ci95"] == 0.0
  markdown = (out / "results.md").read_text()
  assert markdown.startswith("# toy\n\n`cmd`\n")
  assert "| melu-maml | 1.2500 ± 3.1766 | -0.5000 ± 0.0000 |" in markdown
  assert (out / "maml_k_shot.png").read_bytes() == b"maml 0"


def test_run_cost_adds_up_over_sittings_and_is_pooled(tmp_path):
  root = tmp_path / "root"
  workdir = _write_fake_run(root, "maml", 0, [1.0, 2.0], [1.5, 2.5])
  run_all._add_cost(workdir, "train", 60.0)
  run_all._add_cost(workdir, "train", 30.0)  # a resumed run's second sitting
  run_all._add_cost(workdir, "evaluate", 12.0)
  _write_fake_run(root, "maml", 1, [1.0, 1.0], [1.0, 2.0])  # no cost recorded
  summary = run_all.pool_runs(root, root, command="cmd")
  first, second = summary["pooled_runs"]
  assert first["cpu_minutes"] == {"train": 1.5, "evaluate": 0.2}
  assert "cpu_minutes" not in second


def test_pool_runs_reports_requested_pairs(tmp_path):
  root = tmp_path / "root"
  for seed, (maml, other) in enumerate((([1.0, 2.0], [1.5, 1.5]), ([1.0, 1.0], [2.0, 1.0]))):
    _write_fake_run(root, "maml", seed, maml, [3.0, 3.0])
    _write_fake_run(root, "fomaml", seed, other, [3.0, 3.0])
  summary = run_all.pool_runs(root, root, command="cmd",
                              pairs=[("melu-maml", "melu-fomaml"), ("melu-maml", "absent")])
  [pair] = [p for p in summary["paired"] if p["reference"] == "melu-fomaml"]
  # seed 0: (1 - 1.5, 2 - 1.5) -> 0; seed 1: (1 - 2, 1 - 1) -> -0.5
  assert [s["mean"] for s in pair["per_seed"]] == [0.0, -0.5]
  assert pair["mean"] == -0.25 and pair["frac_better"] == 0.5
  assert "Δ rmse vs melu-fomaml" in (root / "results.md").read_text()
  with pytest.raises(SystemExit):
    run_all.main(["--configs=x.py", f"--root={root}", "--pair", "no-colon"])


def test_stale_reason():
  assert results.stale_reason({"trained": CURRENT, "evaluated": CURRENT}, CURRENT) is None
  assert results.stale_reason({"trained": None, "evaluated": OLD}, CURRENT) == (
      "trained: no code identity recorded; evaluated: code 000000000000 (commit "
      "222222222222, dirty), current cccccccccccc")
  # A commit that leaves jaxrec/ and the configs alone keeps the code current.
  assert results.stale_reason({"trained": {**CURRENT, "git_commit": "3" * 40}},
                              CURRENT) is None
  assert "not a git checkout" in results.stale_reason({"trained": CURRENT},
                                                      {"code_hash": None})


def test_pool_runs_refuses_to_pool_stale_runs(tmp_path, capsys):
  root = tmp_path / "root"
  _write_fake_run(root, "maml", 0, [1.0, 2.0], [1.5, 2.5])
  _write_fake_run(root, "maml", 1, [1.0, 1.0], [1.0, 2.0], code=OLD)
  old_eval = _run(2, "melu-maml", 1.0, 2.0)  # trained with the current code,
  old_eval["protocol"].pop("code")  # evaluated by code that recorded no identity
  _write_fake_run(root, "maml", 2, [1.0, 1.0], [2.0, 2.0])
  (root / "maml" / "seed_2" / "results.json").write_text(json.dumps(old_eval))
  summary = run_all.pool_runs(root, tmp_path / "out", command="cmd")
  assert [r["seed"] for r in summary["pooled_runs"]] == [0]
  assert [r["seed"] for r in summary["stale_runs"]] == [1, 2]
  assert summary["stale_runs"][1]["stale"] == "evaluated: no code identity recorded"
  assert summary["pooled_runs"][0]["code"] == {"trained": CURRENT, "evaluated": CURRENT}
  assert summary["code"] == CURRENT and not summary["include_stale"]
  [row] = [r for r in summary["aggregated"] if r["method"] == "melu-maml"]
  assert row["seeds"] == [0]
  markdown = (tmp_path / "out" / "results.md").read_text()
  assert "Code cccccccccccc (commit 111111111111)." in markdown
  assert "- maml seed 1: trained: code 000000000000" in markdown
  assert "not pooled" in markdown and "not pooled" in capsys.readouterr().err
  saved = json.loads((tmp_path / "out" / "results.json").read_text())
  assert [r["seed"] for r in saved["stale_runs"]] == [1, 2]

  pooled = run_all.pool_runs(root, tmp_path / "out", command="cmd", include_stale=True)
  assert [r["seed"] for r in pooled["pooled_runs"]] == [0, 1, 2]
  assert [r["seed"] for r in pooled["stale_runs"]] == [1, 2]
  assert "pooled anyway (--include_stale)" in (tmp_path / "out" / "results.md").read_text()

  only_stale = tmp_path / "only_stale"
  _write_fake_run(only_stale, "maml", 0, [1.0], [1.0], code=OLD)
  with pytest.raises(ValueError, match="none of the 1 finished runs .* is of the current "
                     "code .* pass --include_stale"):
    run_all.pool_runs(only_stale, only_stale, command="cmd")
  with pytest.raises(ValueError, match="--include_stale"):
    run_all.main(["--configs=", f"--root={only_stale}"])
  assert run_all.main(["--configs=", f"--root={only_stale}", "--include_stale"]) == 0


def _write_final_runs(root):
  """Seeds 0-2 of three configs: maml (the final method), joint, and the mf_foldin
  baseline; per-user rmse and ndcg@10 of two users."""
  values = {  # seed -> method -> (rmse per user, ndcg@10 per user)
      0: {"melu-maml": ([1.0, 1.0], [0.5, 0.5]), "melu-joint": ([1.2, 1.0], [0.6, 0.6]),
          "mf_foldin": ([1.5, 1.5], [0.2, 0.2])},
      1: {"melu-maml": ([1.1, 0.9], [0.4, 0.6]), "melu-joint": ([1.1, 1.3], [0.7, 0.5]),
          "mf_foldin": ([1.4, 1.6], [0.3, 0.1])},
      2: {"melu-maml": ([0.9, 0.9], [0.5, 0.3]), "melu-joint": ([1.0, 1.2], [0.6, 0.6]),
          "mf_foldin": ([1.6, 1.4], [0.2, 0.2])}}
  for seed, methods in values.items():
    for config in ("maml", "joint"):
      workdir = run_all.run_dir(root, f"{config}.py", seed)
      workdir.mkdir(parents=True)
      own = f"melu-{config}"
      rows = [_row(m, "new_users", seed, rmse=float(np.mean(r)), **{
          "ndcg@10": float(np.mean(n)), "coverage@10": 0.5, "num_users": 2})
              for m, (r, n) in methods.items() if m in (own, "mf_foldin")]
      (workdir / "results.json").write_text(json.dumps(
          {"dataset": "toy", "protocol": {"seed": seed, "code": CURRENT,
                                          "trained_code": CURRENT},
           "curves": {"metric": "rmse"}, "results": rows}))
      arrays = {"new_users|user": np.array([5, 6])}
      for m in (own, "mf_foldin"):
        arrays[f"{m}|new_users|rmse"] = np.array(methods[m][0])
        arrays[f"{m}|new_users|ndcg@10"] = np.array(methods[m][1])
      np.savez(workdir / "per_user.npz", **arrays)
  return values


def test_final_method_against_the_strongest_other_method(tmp_path):
  root = tmp_path / "root"
  values = _write_final_runs(root)
  summary = run_all.pool_runs(root, root, command="cmd", final="melu-maml")
  comparisons = {p["metric"]: p for p in summary["final"]["comparisons"]}
  assert summary["final"]["method"] == "melu-maml"
  # coverage@10 has no per-user values: not compared.
  assert set(comparisons) == {"rmse", "ndcg@10"}
  # The strongest other method is joint on both metrics (not the strongest
  # baseline): RMSE means 1.1333 vs mf_foldin 1.5, nDCG@10 0.6 vs 0.2.
  rmse, ndcg = comparisons["rmse"], comparisons["ndcg@10"]
  assert rmse["reference"] == "melu-joint" and ndcg["reference"] == "melu-joint"
  seed_diffs = [np.mean(values[s]["melu-maml"][1]) - np.mean(values[s]["melu-joint"][1])
                for s in range(3)]
  assert [p["mean"] for p in ndcg["per_seed"]] == pytest.approx(seed_diffs)
  assert ndcg["ci95"] == pytest.approx(T975[2] * np.std(seed_diffs, ddof=1) / math.sqrt(3))
  lines = (root / "results.md").read_text().splitlines()
  assert "## Final method: melu-maml vs the strongest other method" in lines
  assert ("| new_users | rmse | 0.9667 ± 0.1434 | melu-joint | 1.1333 ± 0.1434 | "
          "-0.1667 ± 0.1434 (3 seeds) | better, CI excludes 0 |") in lines
  assert ("| new_users | ndcg@10 | 0.4667 ± 0.1434 | melu-joint | 0.6000 ± 0.0000 | "
          "-0.1333 ± 0.1434 (3 seeds) | worse, CI includes 0 |") in lines
  with pytest.raises(ValueError, match="final method 'melu-x' is not among the pooled "
                     "methods"):
    run_all.pool_runs(root, root, command="cmd", final="melu-x")


def test_a_variant_of_the_final_method_is_never_its_strongest_other(tmp_path):
  root = tmp_path / "root"
  _write_final_runs(root)
  summary = run_all.pool_runs(root, root, command="cmd", final="melu-maml",
                              variants=["melu-joint"])
  assert summary["final"]["variants"] == ["melu-joint"]
  assert {p["reference"] for p in summary["final"]["comparisons"]} == {"mf_foldin"}
  assert {r["method"] for r in summary["aggregated"]} >= {"melu-joint"}  # still reported


def test_support_table_in_the_pooled_report():
  rows = [{"method": m, "state": "new_users", "n_seeds": 2, "metrics": {
      "mae": 0.8, "mae_support_1-10": mae, "mae_support_1-10_ci95": 0.1,
      "mae_support_31+": mae / 2, "mae_support_31+_ci95": math.nan,
      "num_users_support_1-10": 3.5, "num_users_support_31+": 2.0}}
          for m, mae in (("melu-maml", 0.9), ("mf_foldin", 1.0))]
  assert results.support_table(rows) == [
      "### MAE by support size (support ratings per user)", "",
      "| method | 1-10 (n=3.5) | 31+ (n=2) |", "|---|---|---|",
      "| melu-maml | 0.9000 ± 0.1000 | 0.4500 |", "| mf_foldin | 1.0000 ± 0.1000 | 0.5000 |",
      ""]
  assert "| melu-maml | 0.9000 ± 0.1000 | 0.4500 |" in results.markdown_table(rows, [])
  assert results.support_table([{"method": "a", "metrics": {"mae": 1.0}}]) == []


def test_one_cell_format_for_means_and_paired_differences():
  """The report's and the README's cells share one formatter (only the decimals differ)."""
  assert results.fmt_mean_ci(0.5, 0.25) == "0.5000 ± 0.2500"
  assert results.fmt_mean_ci(0.5, 0.25, digits=3, sign=True) == "+0.500 ± 0.250"
  assert results.fmt_mean_ci(-0.5) == "-0.5000"
  assert results.fmt_mean_ci(math.nan, 0.1) == "n/a"
  assert results.metric_cell({"rmse": 0.9, "rmse_ci95": 0.1}, "rmse", 2) == "0.90 ± 0.10"
  assert results.metric_cell({"rmse": 0.9}, "rmse") == "0.9000"
  assert results.metric_cell({}, "auc") == "—"  # a method that does not report it
  assert results.metric_cell({"auc": math.nan}, "auc") == "n/a"
  assert results.paired_cell({"mean": 0.01, "ci95": math.nan}) == "+0.0100"
  assert results.paired_cell(None) == "—"


def test_results_package_re_exports_through_all():
  assert results.__all__ and len(set(results.__all__)) == len(results.__all__)
  for name in results.__all__:
    assert getattr(results, name) is not None, name


def test_pool_runs_without_runs(tmp_path):
  with pytest.raises(FileNotFoundError, match="no finished run"):
    run_all.pool_runs(tmp_path, tmp_path / "out", command="")


@pytest.mark.slow
def test_run_all_synthetic_end_to_end_and_resume(tmp_path, capsys):
  root, out = tmp_path / "runs", tmp_path / "report"
  argv = [f"--configs={REPO / 'experiments/configs/maml_synthetic.py'}", "--seeds=0,1",
          f"--root={root}", f"--out={out}", "--set", "num_epochs=1", "--set",
          "eval_every=5", "--set", "data.synthetic.num_users=80", "--set",
          "data.synthetic.num_items=100", "--set", "meta.num_steps=1",
          "--final", "melu-maml"]
  assert run_all.main(argv) == 0
  first = json.loads((out / "results.json").read_text())
  assert [r["status"] for r in first["runs"]] == ["done", "done"]
  for seed in (0, 1):
    workdir = root / "maml_synthetic" / f"seed_{seed}"
    assert (workdir / "results.json").exists()
    assert json.loads((workdir / "provenance.json").read_text()) == CURRENT
    with np.load(workdir / "per_user.npz") as arrays:
      assert {"melu-maml|new_users|full_ndcg@10", "mf_foldin|warm|full_recall@10"} <= set(
          arrays.files)
  assert first["stale_runs"] == []
  assert first["pooled_runs"][0]["code"] == {"trained": CURRENT, "evaluated": CURRENT}
  final_states = {p["state"] for p in first["final"]["comparisons"]}
  assert final_states == {"warm", "new_users", "new_items", "new_users_new_items"}
  new_users = {(r["method"], r["state"]): r for r in first["aggregated"]}[
      "melu-maml", "new_users"]["metrics"]
  assert 0 < new_users["full_users"] <= new_users["num_users"]
  assert math.isfinite(new_users["full_ndcg@10"])
  assert sum(new_users[f"num_users_support_{b}"] for b in ("1-10", "11-30", "31+")) == (
      new_users["num_users"])
  assert first["command"].startswith("python -m experiments.run_all --configs=")
  rows = {(r["method"], r["state"]): r for r in first["aggregated"]}
  assert rows["melu-maml", "new_users"]["n_seeds"] == 2
  assert rows["mf_foldin", "warm"]["seeds"] == [0, 1]
  assert math.isfinite(rows["melu-maml", "new_users"]["metrics"]["rmse_ci95"])
  states = {p["state"] for p in first["paired"]}
  assert states == {"warm", "new_users", "new_items", "new_users_new_items"}
  for name in ("k_shot", "learning_curves", "inner_steps", "mae_by_support"):
    assert (out / f"maml_synthetic_{name}.png").stat().st_size > 0
  markdown = (out / "results.md").read_text()
  assert "## new_users (2 seeds" in markdown and "- new_users: melu-maml vs" in markdown
  assert "### MAE by support size" in markdown and "## Final method: melu-maml" in markdown
  assert "| melu-maml |" in capsys.readouterr().out

  assert run_all.main(argv) == 0  # everything finished: nothing is retrained
  second = json.loads((out / "results.json").read_text())
  assert [r["status"] for r in second["runs"]] == ["skipped", "skipped"]
  assert json.dumps(second["aggregated"]) == json.dumps(first["aggregated"])
