"""A training run from a config: the initial state, the loop, validation, checkpoints.

``experiments/meta_train.py`` is a thin command-line wrapper around :func:`train`.
The run's data is :func:`jaxrec.prepare.prepare`'s and its step
:func:`jaxrec.train_step.make_train_step`'s; validation scores through
:mod:`jaxrec.scoring`. Evaluation (through ``jaxrec.run``) reuses
:func:`model_of` and :func:`init_state` with that data, so that a checkpoint is
always read back with exactly the data, tables and model it was trained with;
serving rebuilds the model from the bundle :func:`train` writes
(``jaxrec.serving.bundle``).

A run directory (``workdir``) holds ``config.json``, ``provenance.json`` (the code
identity), ``warm_start.json`` (a warm start's chosen values), ``metrics.jsonl``
(one JSON object per logged step), ``checkpoints/`` (latest, for resuming) and
``best/`` (the best validation checkpoint). Restarting the same command resumes from the latest
checkpoint: the data-iterator position, the early-stopping record and the RNG-free
data pipeline make the resumed run end with the same parameters as an uninterrupted
one.

The module stays whole (about 500 lines, mostly docstrings) because it is
one idea, a training run: its start (model, initial or warm-started state), its
validation and its loop (``_set_up``, ``_resume``, ``_train_epoch``,
``_evaluate_and_save``) share the run's ``_Run`` and ``_Progress``; its data and
its step are their own modules.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

import jax
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from jaxrec import adapters
from jaxrec import baselines
from jaxrec import checkpoint
from jaxrec import meta
from jaxrec import metrics as metrics_lib
from jaxrec import models
from jaxrec import parallel
from jaxrec import prepare as prepare_lib
from jaxrec import provenance
from jaxrec import scoring
from jaxrec import train_step
from jaxrec.data import batching
from jaxrec.data import episodes as episodes_lib
from jaxrec.data import splits
from jaxrec.serving import bundle as serving_bundle


def model_of(config: ml_collections.ConfigDict,
             prepared: prepare_lib.Prepared | serving_bundle.Bundle) -> models.RecModel:
  """The config's model over the tables of ``prepared`` (its ``user_table``,
  ``item_table`` and ``vocab_sizes``: a ``Prepared``, or a serving bundle)."""
  return models.make_model(config.model.name, prepared.user_table, prepared.item_table,
                           prepared.vocab_sizes, **config.model.kwargs.to_dict())


def init_state(config: ml_collections.ConfigDict, model: models.RecModel,
               prepared: prepare_lib.Prepared | None = None, *,
               warm: Mapping[str, float] | None = None) -> meta.MetaState:
  """The initial meta-state (parameters from ``config.seed``).

  With ``config.model.warm_start`` (``foldin`` only) and ``prepared`` given, the
  parameters start as the tuned factor baseline (:func:`warm_params`) of
  ``warm``, by default :func:`choose_warm_start`'s; without ``prepared`` (a
  restore template) they are the random initialisation, and ``warm`` is not
  read.
  """
  params = model.init(jax.random.key(config.seed))
  if config.model.get("warm_start") and prepared is not None:  # foldin configs only
    if warm is None:
      warm = choose_warm_start(config, model, prepared)
    params = warm_params(warm, model, prepared, params)
  inner_lr = (meta.meta_sgd_init(params, config.meta.inner_lr)
              if train_step.algorithm_of(config).learns_inner_lr else None)
  return meta.init_meta_state(params, train_step.make_optimizer(config), inner_lr)


# The implicit warm start's fold-in penalty on the user bias: large, so that the
# bias stays ~0 as in implicit ALS (which has none); it is learned from there.
IMPLICIT_BIAS_REG = 1e4


# The warm start a run chose (choose_warm_start), in its workdir.
WARM_START_FILE = "warm_start.json"
# warm_start keys -> the factor baseline's constructor arguments, by data kind
# (MatrixFactorization for explicit data, ImplicitALS for implicit data), in the
# order of its grid in jaxrec.tuned_baselines.BASELINE_GRIDS (ties keep the
# earlier grid point).
_FACTOR_ARGS = {"explicit": {"reg": "reg", "foldin_reg": "fold_in_reg", "reg_bias": "reg_bias"},
                "implicit": {"reg": "reg", "alpha": "alpha"}}


def choose_warm_start(config: ml_collections.ConfigDict, model: models.RecModel,
                      prepared: prepare_lib.Prepared) -> dict[str, float] | None:
  """``config.model.warm_start`` with every factor value given as a sequence (a
  grid, e.g. ``"reg": (3.0, 10.0)``) chosen on this seed's validation users.

  Each point of the grid (the Cartesian product of the sequences; single values
  stay fixed) is the factor baseline :func:`warm_params` fits (at the model's
  ``rank``), scored by :func:`jaxrec.baselines.grid_search` on the validation
  users' ``new_users`` episodes (:func:`jaxrec.scoring.validation_batches`) by
  ``config.best_metric``, full-catalogue metrics over the training items: how
  :mod:`jaxrec.tuned_baselines` chooses ``mf_foldin`` / ``ials_foldin``, with the
  rank held at the model's. So the model starts from the factor baseline tuned
  on each seed's own validation users, not on one seed's.

  Returns:
    The warm start with single values (``content_l2`` as given), or None
    without one.

  Raises:
    ValueError: a sequence for a key that is not a factor hyperparameter of the
      data's kind (explicit: ``reg``, ``foldin_reg``, ``reg_bias``; implicit:
      ``reg``, ``alpha``), or as ``grid_search``.
  """
  given = config.model.get("warm_start")
  if not given:
    return None
  warm = given.to_dict() if isinstance(given, ml_collections.ConfigDict) else dict(given)
  sequences = {k for k, v in warm.items() if isinstance(v, (list, tuple))}
  if not sequences:
    return warm
  implicit = prepared.interactions.implicit
  names = _FACTOR_ARGS["implicit" if implicit else "explicit"]
  if sequences - set(names):
    raise ValueError(f"config.model.warm_start: only {list(names)} may be grids "
                     f"(sequences) for this data; got sequences for "
                     f"{sorted(sequences - set(names))}")
  grid = {names[k]: tuple(warm[k]) for k in names if k in sequences}
  fixed = {names[k]: warm[k] for k in names if k in warm and k not in sequences}
  factor_model = functools.partial(
      baselines.ImplicitALS if implicit else baselines.MatrixFactorization,
      **{"factors" if implicit else "rank": model.config["rank"]}, **fixed)
  found = baselines.grid_search(
      factor_model, grid, splits.training_rows(prepared.interactions, prepared.split),
      scoring.validation_batches(config, prepared), config.best_metric, implicit=implicit,
      candidates=prepared.split.train_items)
  return {**warm, **{k: found.best_params[names[k]] for k in sequences}}


def warm_params(warm: Mapping[str, float], model: models.RecModel,
                prepared: prepare_lib.Prepared, params: Any) -> Any:
  """``foldin`` parameters that *are* a factor baseline fit on the training rows.

  Explicit data: ``warm = {"reg", "foldin_reg"[, "reg_bias"]}``, the
  ``mf_foldin`` baseline (ALS of rank ``model.kwargs.rank``, penalties ``reg``,
  ``reg_bias``; fold-in penalties ``foldin_reg`` on the factors, ``reg_bias`` on
  the bias). Implicit data: ``warm = {"reg", "alpha"}``, the ``ials_foldin``
  baseline (``rank`` factors, confidence ``c = 1 + alpha`` on the positives).
  Its fold-in ``((c − 1) Σ_S y yᵀ + YᵀY + reg I) x = c Σ_S y``, divided by
  ``c − 1``, is the ``solve`` of :mod:`jaxrec.models.foldin` with unobserved
  weight ``w = 1 / (c − 1)`` and penalty ``reg / (c − 1)`` up to the factor
  ``c / (c − 1)`` on ``x`` (the same ranking), with ``μ = b_i = 0`` and the
  user bias held near 0 by ``IMPLICIT_BIAS_REG``
  (:func:`jaxrec.models.foldin.warm_start`). A model with the ``"friends"`` user
  field starts with the fit's training-user vectors (``[p_v, b_v]``; implicit:
  ``p_v (c − 1) / c``, the fold-in's scale) in its friends table, so that at 0
  ratings it serves the mean of the friends' vectors. With ``"content_l2"`` in
  ``warm`` (either kind), the content part of the fit's item vectors then moves
  into the side-field tables (:func:`jaxrec.models.foldin.side_from_factors`,
  ridge penalty ``content_l2``): items with training rows are scored as before,
  the others (held out of training, or never rated there) from their side
  features, by a map of the ``content_to_factor`` baseline's form.

  Raises:
    ValueError: a missing key in ``warm``, ``alpha = 0``, or as ``warm_start``
      and ``side_from_factors``.
  """
  fit_args = splits.training_rows(prepared.interactions, prepared.split)
  params = _factor_params(warm, model, prepared, fit_args, params)
  if "content_l2" in warm:
    from jaxrec.models.foldin import side_from_factors  # pylint: disable=import-outside-toplevel
    trained = np.bincount(fit_args[1], minlength=fit_args[4]) > 0
    params = side_from_factors(params, prepared.item_table, warm["content_l2"],
                               trained=trained, pooling=model.config["item_pooling"])
  return params


def _factor_params(warm: Mapping[str, float], model: models.RecModel,
                   prepared: prepare_lib.Prepared, fit_args: tuple, params: Any) -> Any:
  """:func:`warm_params` before the content ridge: the factor baseline fit on
  ``fit_args`` (``(user, item, rating, num_users, num_items)`` of the training rows)."""
  from jaxrec.models.foldin import warm_start  # pylint: disable=import-outside-toplevel
  inter = prepared.interactions
  item_id, rank = prepared.item_table["item_id"], model.config["rank"]

  def friends(users: np.ndarray) -> dict[str, np.ndarray]:
    """The friends table's warm rows: the training users' vectors of the fit."""
    if "friends" not in model.config.get("user_fields", ()):
      return {}
    return {"user_id": prepared.user_table["user_id"], "user_vectors": users}
  needed = ("reg", "alpha") if inter.implicit else ("reg", "foldin_reg")
  missing = [key for key in needed if key not in warm]
  if missing:
    kind = "implicit" if inter.implicit else "explicit"
    raise ValueError(f"config.model.warm_start for {kind} data needs {list(needed)}; "
                     f"{missing} missing in {dict(warm)}")
  if inter.implicit:
    if not warm["alpha"]:
      raise ValueError(f"config.model.warm_start for implicit data needs 'alpha' > 0, got "
                       f"{dict(warm)}")
    als = baselines.ImplicitALS(factors=rank, reg=warm["reg"],
                                alpha=warm["alpha"]).fit(*fit_args)
    scale = als.support_confidence - 1.0
    users = np.concatenate([als.user_factors * scale / als.support_confidence,
                            np.zeros((inter.num_users, 1))], axis=1)
    return warm_start(params, item_id, 0.0, als.item_factors, als.item_bias,
                      als.reg / scale, IMPLICIT_BIAS_REG, unobserved_weight=1.0 / scale,
                      **friends(users))
  mf = baselines.MatrixFactorization(
      rank=rank, reg=warm["reg"], **({"reg_bias": warm["reg_bias"]} if "reg_bias" in warm
                                     else {}),
      fold_in_reg=warm["foldin_reg"]).fit(*fit_args)
  return warm_start(params, item_id, mf.mu, mf.item_factors, mf.item_bias, mf.fold_in_reg,
                    mf.reg_bias,
                    **friends(np.concatenate([mf.user_factors, mf.user_bias[:, None]], 1)))


def validation_metric(config: ml_collections.ConfigDict, predict, state: meta.MetaState,
                      episodes: episodes_lib.Episodes, implicit: bool,
                      catalogue: Callable[[Any, Any], dict[str, float]] | None = None
                      ) -> dict[str, float]:
  """The query-set metrics (RMSE, nDCG, AUC, ...; at evaluation's cut-offs
  ``jaxrec.scoring.KS``) on the validation episodes and, with ``catalogue``, its
  full-catalogue metrics (``full_ndcg@10``, ...; :func:`catalogue_validation`),
  each keyed ``"val_<metric>"``."""
  rate = scoring.inner_rate(config, state)
  out = scoring.predict_episodes(predict, state.params, rate, config.meta.num_steps,
                                 episodes, batch_size=config.eval_batch_size,
                                 buckets=config.buckets)
  values = metrics_lib.evaluate_predictions(out["scores"], out["y"], out["mask"],
                                            ks=scoring.KS, implicit=implicit)
  if catalogue is not None:
    values.update(catalogue(state.params, rate))
  return {f"val_{k}": float(v) for k, v in values.items()}


def catalogue_validation(config: ml_collections.ConfigDict, prepared: prepare_lib.Prepared,
                         model: models.RecModel, adapter: adapters.Adapter,
                         episodes: episodes_lib.Episodes
                         ) -> Callable[[Any, Any], dict[str, float]]:
  """``metrics(params, inner_lr)``: the validation users' rankings of every
  training item (their support items excluded) scored as in evaluation
  (:func:`jaxrec.scoring.catalogue_metrics`: ``full_ndcg@10``, ``full_recall@10``,
  ...), for selecting on a full-catalogue metric (``config.best_metric =
  "full_ndcg@10"``)."""
  scorers = scoring.model_scoring(model, adapter)
  batches = list(batching.batch_iterator(episodes, config.eval_batch_size, shuffle=False,
                                         buckets=config.buckets))

  def metrics_of(params: Any, inner_lr: Any) -> dict[str, float]:
    score_all = scorers(params, inner_lr, config.meta.num_steps)[1]
    return scoring.catalogue_metrics(score_all, batches, prepared.split.train_items,
                                     prepared)[0]
  return metrics_of


def _append_jsonl(path: pathlib.Path, record: dict) -> None:
  with path.open("a") as f:
    f.write(json.dumps(record) + "\n")


def _truncate_log(path: pathlib.Path, step: int) -> None:
  """Drops log records after ``step`` (written by a run killed after its last
  checkpoint, and about to be redone)."""
  if not path.exists():
    return
  kept = [line for line in path.read_text().splitlines()
          if line and json.loads(line)["step"] <= step]
  path.write_text("".join(line + "\n" for line in kept))


@dataclasses.dataclass(frozen=True, eq=False)
class _Run:
  """The fixed parts of a training run (:func:`_set_up`).

  Attributes:
    config, workdir, prepared: the run's config, directory and data.
    chief: whether this process writes the run's files (process 0).
    mesh: the data-parallel device mesh.
    step: the sharded training step ``(state, batch) -> (state, metrics)``.
    validate: ``validate(state) -> {"val_<metric>": value}``
      (:func:`validation_metric` on the validation users' ``new_users`` episodes).
    best_key: ``"val_<config.best_metric>"``.
    latest, best: the checkpoint managers (:func:`jaxrec.checkpoint.managers`).
  """

  config: ml_collections.ConfigDict
  workdir: pathlib.Path
  prepared: prepare_lib.Prepared
  chief: bool
  mesh: jax.sharding.Mesh
  step: train_step.StepFn
  validate: Callable[[meta.MetaState], dict[str, float]]
  best_key: str
  latest: Any
  best: Any

  @property
  def log_path(self) -> pathlib.Path:
    return self.workdir / "metrics.jsonl"

  def episodes_of(self, epoch: int) -> episodes_lib.Episodes:
    """The training episodes of ``epoch``, their supports cut to sizes drawn from
    ``config.data.train_support_sizes`` when it is set
    (:func:`jaxrec.data.episodes.subsample_support`)."""
    episodes = episodes_lib.training_episodes(
        self.prepared.interactions, self.prepared.split, epoch=epoch,
        seed=self.config.seed, query_size=self.config.data.query_size,
        negatives=self.config.data.negatives)
    sizes = self.config.data.get("train_support_sizes", ())  # .get: older config.json
    if not sizes:
      return episodes
    return episodes_lib.subsample_support(episodes, sizes,
                                        seed=(self.config.seed, epoch, 1))


@dataclasses.dataclass(eq=False)
class _Progress:
  """Where a training run is.

  Attributes:
    state: the meta-state.
    step: its outer step, counted on the host (the loop never reads
      ``state.step`` back from the devices).
    record: saved with each checkpoint: ``{"epoch", "batch"`` (batches of the
      epoch done), ``"best"`` (best validation value), ``"best_step",
      "bad_evals"`` (validations since the last improvement)``}``.
    window: the step metrics (on device) since the last log line.
    bar: the progress bar.
  """

  state: meta.MetaState
  step: int
  record: dict[str, Any]
  window: list[dict[str, Any]]
  bar: Any


def _validator(config: ml_collections.ConfigDict, prepared: prepare_lib.Prepared,
               model: models.RecModel, adapter: adapters.Adapter
               ) -> Callable[[meta.MetaState], dict[str, float]]:
  """``validate(state)``: :func:`validation_metric` on the validation users'
  ``new_users`` episodes, with the full-catalogue metrics
  (:func:`catalogue_validation`) when ``config.best_metric`` is one. With
  ``config.data.train_support_sizes`` their supports are cut as the training
  supports are (:func:`jaxrec.data.episodes.subsample_support`, one fixed draw),
  so that selection sees the support sizes the run is trained for (a support
  positive cut away is then an ordinary candidate of the full-catalogue metrics,
  which exclude only the kept support: those figures are lower bounds, comparable
  between runs of such configs only)."""
  data = config.data
  episodes = episodes_lib.make_episodes(
      prepared.interactions, prepared.split, "new_users", group="val",
      query_size=data.query_size, negatives=data.negatives, seed=config.seed)
  if data.get("train_support_sizes", ()):
    episodes = episodes_lib.subsample_support(episodes, data.train_support_sizes,
                                              seed=(config.seed, 0, 2))
  catalogue = (catalogue_validation(config, prepared, model, adapter, episodes)
               if config.best_metric.startswith("full_") else None)
  predict = scoring.make_predict(model, adapter)
  implicit = prepared.interactions.implicit
  return lambda state: validation_metric(config, predict, state, episodes, implicit,
                                         catalogue)


def _set_up(config: ml_collections.ConfigDict, workdir: str | pathlib.Path
            ) -> tuple[_Run, meta.MetaState]:
  """A run's fixed parts and initial state (replicated over the mesh).

  Creates ``workdir``; prepares the data, model, mesh, training step and
  validation, and chooses the warm start (:func:`choose_warm_start`; a resumed
  run reads its ``WARM_START_FILE``); only then (the config has proved valid, so
  a failed start leaves no run behind) writes ``config.json``,
  ``provenance.json`` (the code the run started with) and ``WARM_START_FILE``
  when absent; initialises the state and opens the checkpoint managers.

  Raises:
    ValueError: ``workdir/config.json`` holds a different config, or the config
      is invalid (as :func:`jaxrec.prepare.prepare`,
      :func:`jaxrec.train_step.make_train_step`, ...).
  """
  parallel.initialize_distributed(config)
  chief = jax.process_index() == 0
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  config_path = workdir / "config.json"
  if (config_path.exists()
      and json.loads(config_path.read_text()) != json.loads(config.to_json())):
    raise ValueError(f"{config_path} holds a different config: resume with the same "
                     "config, or use a fresh --workdir")
  prepared = prepare_lib.prepare(config)
  model = model_of(config, prepared)
  mesh = parallel.make_mesh(config.num_devices or None)
  step = parallel.data_parallel_step(train_step.make_train_step(config, model), mesh)
  validate = _validator(config, prepared, model, scoring.make_adapter(config, model))
  best_mode = "max" if metrics_lib.higher_is_better(config.best_metric) else "min"
  warm_path = workdir / WARM_START_FILE  # a resumed run keeps its first choice
  warm = (json.loads(warm_path.read_text()) if warm_path.exists()
          else choose_warm_start(config, model, prepared))
  provenance_path = workdir / "provenance.json"
  if chief and not config_path.exists():
    config_path.write_text(config.to_json(indent=2))
  if chief and not provenance_path.exists():
    provenance_path.write_text(json.dumps(provenance.code_identity(), indent=2))
  if chief and warm and not warm_path.exists():
    warm_path.write_text(json.dumps(warm, indent=2))
  state = parallel.replicate(init_state(config, model, prepared, warm=warm), mesh)
  best_key = f"val_{config.best_metric}"
  latest, best = checkpoint.managers(workdir, best_metric=best_key, best_mode=best_mode)
  return _Run(config=config, workdir=workdir, prepared=prepared, chief=chief, mesh=mesh,
              step=step, validate=validate, best_key=best_key, latest=latest,
              best=best), state


def _resume(run: _Run, state: meta.MetaState, *, progress: bool) -> _Progress:
  """The run's progress: restored from the latest checkpoint when there is one
  (state and record; log lines after it, from a run killed before its next
  checkpoint and about to be redone, are dropped), else ``state`` at step 0."""
  record = {"epoch": 0, "batch": 0, "best": None, "best_step": 0, "bad_evals": 0}
  if run.latest.latest_step() is not None:
    state, saved = checkpoint.restore(run.latest, state,
                                      sharding=parallel.replicated(run.mesh))
    record = saved["record"]
  step = int(state.step)  # the one read of the step from the devices
  if run.chief and run.latest.latest_step() is not None:
    _truncate_log(run.log_path, step)
  config = run.config
  per_epoch = batching.num_batches(run.episodes_of(0), config.batch_size,
                                   buckets=config.buckets)
  bar = tqdm(total=per_epoch * config.num_epochs, initial=step,
             desc=f"{config.meta.algorithm}", disable=not (progress and run.chief))
  return _Progress(state=state, step=step, record=record, window=[], bar=bar)


def _train_epoch(run: _Run, progress: _Progress) -> bool:
  """Runs the rest of epoch ``record["epoch"]`` (from batch ``record["batch"]``):
  one step per batch, :func:`_evaluate_and_save` every ``config.eval_every`` steps.

  Returns:
    True when training stops early (``config.patience`` validations without
    improvement; the epoch stays unfinished), else False (the record moves on to
    the next epoch's first batch).
  """
  config, record = run.config, progress.record
  batches = batching.batch_iterator(
      run.episodes_of(record["epoch"]), config.batch_size,
      seed=config.seed * 100_003 + record["epoch"], buckets=config.buckets,
      start=record["batch"])
  for batch in batches:
    progress.state, step_metrics = run.step(
        progress.state, parallel.shard_batch(parallel.process_shard(batch), run.mesh))
    progress.step += 1
    record["batch"] += 1
    progress.bar.update(1)
    progress.window.append(step_metrics)
    if progress.step % config.eval_every == 0:
      _evaluate_and_save(run, progress)
      if record["bad_evals"] >= config.patience:
        return True
  record.update(epoch=record["epoch"] + 1, batch=0)
  return False


def _evaluate_and_save(run: _Run, progress: _Progress) -> None:
  """Validates the state, updates the early-stopping record, appends a log line
  (the validation metrics and the step metrics averaged since the previous line)
  and saves the latest checkpoint, and the best when ``config.best_metric``
  improved."""
  window = jax.device_get(progress.window)  # step metrics reach the host only here
  progress.window.clear()
  train_metrics = {f"train_{k}": float(np.mean([m[k] for m in window])) for k in
                   (window[0] if window else {})}
  val = run.validate(progress.state)
  record, step, key = progress.record, progress.step, run.best_key
  improved = metrics_lib.is_better(run.config.best_metric, val[key], record["best"])
  if improved:
    record.update(best=val[key], best_step=step, bad_evals=0)
  else:
    record["bad_evals"] += 1
  if run.chief:
    _append_jsonl(run.log_path, {"step": step, "epoch": record["epoch"],
                                 **train_metrics, **val})
  saved = {"record": record, "config": json.loads(run.config.to_json())}
  checkpoint.save(run.latest, step, progress.state, saved)
  if improved:
    checkpoint.save(run.best, step, progress.state, saved, metrics=val)
  progress.bar.set_postfix({key: f"{val[key]:.4f}"})


def train(config: ml_collections.ConfigDict, workdir: str | pathlib.Path, *,
          progress: bool = True) -> dict[str, Any]:
  """Meta-trains ``config`` in ``workdir``, resuming from its latest checkpoint.

  At the start of a fresh run (step 0: a warm start is a candidate too), every
  ``config.eval_every`` outer steps and at the end of training the current
  parameters are scored on the validation users' ``new_users``
  episodes; the checkpoint is saved as the latest and, when
  ``config.best_metric`` improves, as the best. Training stops after
  ``config.num_epochs`` epochs or ``config.patience`` validations without
  improvement. Each line of ``metrics.jsonl`` holds the validation metrics
  and the training-step metrics averaged over the steps since the previous line.

  Returns:
    ``{"step", "best_step", "best": {metric: value}, "stopped_early"}``.

  Raises:
    ValueError: as :func:`_set_up` (another config in ``workdir``, an invalid
      config).
  """
  run, state = _set_up(config, workdir)
  at = _resume(run, state, progress=progress)
  if run.latest.latest_step() is None:  # a fresh run: its start is a candidate too
    # (e.g. a warm start); a run resumed from its step-0 checkpoint has validated it
    _evaluate_and_save(run, at)
  stopped_early = False
  while at.record["epoch"] < config.num_epochs and not stopped_early:
    stopped_early = _train_epoch(run, at)
  if run.latest.latest_step() != at.step:
    _evaluate_and_save(run, at)
  at.bar.close()
  run.latest.close()
  run.best.close()
  if run.chief:  # what serving reads instead of the dataset (jaxrec.serving.bundle)
    serving_bundle.write_bundle(run.workdir, run.prepared)
  return {"step": at.step, "best_step": at.record["best_step"],
          "best": {run.best_key: at.record["best"]}, "stopped_early": stopped_early}
