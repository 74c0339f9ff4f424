"""Meta-training from a config: data preparation, the training loop, checkpoints.

``experiments/meta_train.py`` is a thin command-line wrapper around :func:`train`;
``jaxrec.evaluate`` (through ``jaxrec.run``) reuses :func:`prepare`,
:func:`model_of` and :func:`init_state` so that a checkpoint is always read back
with exactly the data, tables and model it was trained with; serving rebuilds the
model from the bundle :func:`train` writes (``jaxrec.serving.bundle``).

A run directory (``workdir``) holds ``config.json``, ``metrics.jsonl`` (one JSON
object per logged step), ``checkpoints/`` (latest, for resuming) and ``best/`` (the
best validation checkpoint). Restarting the same command resumes from the latest
checkpoint: the data-iterator position, the early-stopping record and the RNG-free
data pipeline make the resumed run end with the same parameters as an uninterrupted
one.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from tqdm.auto import tqdm

from jaxrec import adapters
from jaxrec import checkpoint
from jaxrec import meta
from jaxrec import metrics as metrics_lib
from jaxrec import models
from jaxrec import parallel
from jaxrec import provenance
from jaxrec.data import batching
from jaxrec.data import episodes as episodes_lib
from jaxrec.data import readers
from jaxrec.data import splits
from jaxrec.data import synthetic
from jaxrec.data import tags
from jaxrec.data.interactions import Interactions
from jaxrec.serving import bundle as serving_bundle

StepFn = Callable[[meta.MetaState, dict], tuple[meta.MetaState, dict]]


@dataclasses.dataclass(frozen=True, eq=False)
class Prepared:
  """Everything a run derives from its config's data section.

  Attributes:
    interactions: the dataset.
    split: the cold-start split (seeded by ``config.seed``).
    user_table, item_table, vocab_sizes: the model's feature tables
      (:func:`jaxrec.data.splits.build_tables`, plus ``item_table["text"]`` when
      ``config.data.text_features``).
    popularity: ``float32[I]`` distinct training users per item
      (:func:`jaxrec.metrics.item_popularity` of the training ratings).
  """

  interactions: Interactions
  split: splits.ColdStartSplit
  user_table: dict[str, np.ndarray]
  item_table: dict[str, np.ndarray]
  vocab_sizes: dict[str, int]
  popularity: np.ndarray


# Synthetic datasets: name -> (writer into a folder, reader of that folder).
SYNTHETIC = {
    "synthetic": (synthetic.write_synthetic_movielens, readers.load_movielens_100k),
    "synthetic-lastfm": (synthetic.write_synthetic_lastfm, readers.load_lastfm),
}


def load_interactions(data: ml_collections.ConfigDict) -> Interactions:
  """The dataset named by ``data.dataset``.

  ``"synthetic"`` (``"synthetic-lastfm"``) writes the planted-taste ML-100K-format
  (HetRec Last.fm-format) files of :mod:`jaxrec.data.synthetic` (keyword
  arguments of its writer from the dict ``data.synthetic``, e.g. ``{"num_users":
  300, "seed": 0}``: seeded by ``data.synthetic["seed"]``) into a temporary folder
  and reads them with the dataset's reader; ``"csv:<path>"`` reads any CSV/TSV;
  other names go to :func:`jaxrec.data.readers.load_dataset` with
  ``data.data_dir`` (or ``$JAXREC_DATA_DIR``).
  """
  name = data.dataset
  if name in SYNTHETIC:
    write, read = SYNTHETIC[name]
    with tempfile.TemporaryDirectory() as tmp:
      return read(write(tmp, **dict(data.get("synthetic", {}))))
  if name.startswith("csv:"):
    return readers.load_csv(name[len("csv:"):])
  return readers.load_dataset(name, data.data_dir or None, download=data.download)


def prepare(config: ml_collections.ConfigDict) -> Prepared:
  """Loads the data, splits it (seed ``config.seed``) and builds the tables.

  Item tags from user assignments (Last.fm) are taken from the training users
  only (:func:`jaxrec.data.tags.with_item_tags`), in the tables, the item text
  (and so its text vectors) and ``Prepared.interactions`` alike.
  """
  data = config.data
  interactions = load_interactions(data)
  split_args = dict(seed=config.seed, min_ratings=data.min_ratings,
                    max_ratings=data.max_ratings, query_size=data.query_size)
  if data.split == "random":
    split = splits.random_split(interactions, user_fractions=tuple(data.user_fractions),
                                item_fractions=tuple(data.item_fractions), **split_args)
  elif data.split == "time":
    split = splits.time_split(interactions, user_cutoff=data.user_cutoff,
                              item_cutoff=data.item_cutoff, **split_args)
  else:
    raise ValueError(f"config.data.split must be 'random' or 'time', got {data.split!r}")
  interactions = tags.with_item_tags(interactions, split.train_users)
  user_table, item_table, vocab_sizes = splits.build_tables(interactions, split)
  rows = splits.training_mask(interactions, split)
  popularity = metrics_lib.item_popularity(interactions.user[rows], interactions.item[rows],
                                           interactions.num_items).astype(np.float32)
  if data.text_features:
    from jaxrec import text  # pylint: disable=import-outside-toplevel
    item_table["text"] = text.item_text_embeddings(
        interactions.item_text, model_path=data.text_model or None,
        cache_dir=data.cache_dir or None)
  return Prepared(interactions=interactions, split=split, user_table=user_table,
                  item_table=item_table, vocab_sizes=vocab_sizes,
                  popularity=popularity)


def model_of(config: ml_collections.ConfigDict,
             prepared: Prepared | serving_bundle.Bundle) -> models.RecModel:
  """The config's model over the tables of ``prepared`` (its ``user_table``,
  ``item_table`` and ``vocab_sizes``: a ``Prepared``, or a serving bundle)."""
  return models.make_model(config.model.name, prepared.user_table, prepared.item_table,
                           prepared.vocab_sizes, **config.model.kwargs.to_dict())


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam with global-norm clipping (``config.optimizer``) and, with
  ``optimizer.weight_decay > 0``, decoupled weight decay (AdamW) on the matrices
  (embedding tables, kernels), not on biases, vectors or scalars."""
  opt = config.optimizer
  decay = opt.get("weight_decay", 0.0)  # .get: config.json of runs older than the field
  adam = (optax.adamw(opt.learning_rate, weight_decay=decay,
                      mask=lambda params: jax.tree.map(lambda x: jnp.ndim(x) > 1, params))
          if decay else optax.adam(opt.learning_rate))
  return optax.chain(optax.clip_by_global_norm(opt.grad_clip), adam)


def trainable(config: ml_collections.ConfigDict, model: models.RecModel) -> Any:
  """The inner loop's adapted leaves: ``config.meta.adapt`` is ``"model"`` (the
  model's ``adapt_mask``), ``"all"`` (None: every leaf) or ``"head"`` (ANIL: only
  the output layer the model declares, its ``head_mask``).

  Returns:
    A pytree of Python bools shaped like the params, or None.

  Raises:
    ValueError: ``config.meta.adapt`` is none of these.
  """
  adapt = config.meta.adapt
  if adapt == "model":
    return model.adapt_mask
  if adapt == "all":
    return None
  if adapt == "head":
    return model.head_mask
  raise ValueError(f"config.meta.adapt must be 'model', 'all' or 'head', got {adapt!r}")


def init_state(config: ml_collections.ConfigDict, model: models.RecModel,
               prepared: Prepared | None = None) -> meta.MetaState:
  """The initial meta-state (parameters from ``config.seed``).

  With ``config.model.warm_start`` (``foldin`` only) and ``prepared`` given, the
  parameters start as the tuned factor baseline (:func:`warm_params`); without
  ``prepared`` (a restore template) they are the random initialisation.
  """
  params = model.init(jax.random.key(config.seed))
  warm = config.model.get("warm_start")  # optional: foldin configs only
  if warm and prepared is not None:
    params = warm_params(warm, model, prepared, params)
  inner_lr = (meta.meta_sgd_init(params, config.meta.inner_lr)
              if algorithm_of(config).learns_inner_lr else None)
  return meta.init_meta_state(params, make_optimizer(config), inner_lr)


# The implicit warm start's fold-in penalty on the user bias: large, so that the
# bias stays ~0 as in implicit ALS (which has none); it is learned from there.
IMPLICIT_BIAS_REG = 1e4


def warm_params(warm: Mapping[str, float], model: models.RecModel, prepared: Prepared,
                params: Any) -> Any:
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
  (:func:`jaxrec.models.foldin.warm_start`).

  Raises:
    ValueError: a missing key in ``warm``, ``alpha = 0``, or as ``warm_start``.
  """
  from jaxrec import baselines  # pylint: disable=import-outside-toplevel
  from jaxrec.models.foldin import warm_start  # pylint: disable=import-outside-toplevel
  inter = prepared.interactions
  rows = splits.training_mask(inter, prepared.split)
  fit_args = (inter.user[rows], inter.item[rows], inter.rating[rows], inter.num_users,
              inter.num_items)
  item_id, rank = prepared.item_table["item_id"], model.config["rank"]
  if inter.implicit:
    if not warm.get("alpha"):
      raise ValueError(f"config.model.warm_start for implicit data needs 'reg' and "
                       f"'alpha' > 0, got {dict(warm)}")
    als = baselines.ImplicitALS(factors=rank, reg=warm["reg"],
                                alpha=warm["alpha"]).fit(*fit_args)
    scale = als.support_confidence - 1.0
    return warm_start(params, item_id, 0.0, als.item_factors, als.item_bias,
                      als.reg / scale, IMPLICIT_BIAS_REG, unobserved_weight=1.0 / scale)
  mf = baselines.MatrixFactorization(
      rank=rank, reg=warm["reg"], **({"reg_bias": warm["reg_bias"]} if "reg_bias" in warm
                                     else {}),
      fold_in_reg=warm["foldin_reg"]).fit(*fit_args)
  return warm_start(params, item_id, mf.mu, mf.item_factors, mf.item_bias, mf.fold_in_reg,
                    mf.reg_bias)


def _meta_step(config: ml_collections.ConfigDict, model: models.RecModel) -> StepFn:
  """:func:`jaxrec.meta.make_meta_step` of ``config.meta.algorithm`` with the
  config's inner loop (``config.meta``: rate, steps, adapted leaves, microbatches,
  unroll; for an algorithm that ``adapts_from_start``, ``remat`` and the adapter's
  start) and outer optimizer.

  Raises:
    ValueError: ``config.meta.adapter`` has a start (not ``"gradient"``) and the
      algorithm does not adapt from one; as :func:`jaxrec.meta.make_meta_step`.
  """
  m, algorithm = config.meta, algorithm_of(config)
  kwargs = dict(num_steps=m.num_steps, trainable=trainable(config, model),
                microbatches=m.microbatches, unroll=m.unroll)
  if not algorithm.learns_inner_lr:
    kwargs["inner_lr"] = m.inner_lr
  start = make_adapter(config, model).start
  if algorithm.adapts_from_start:
    kwargs.update(remat=m.remat, start=start)
  elif start is not None:
    names = ", ".join(n for n, a in TRAINING_ALGORITHMS.items() if a.adapts_from_start)
    raise ValueError(f"config.meta.adapter={m.adapter!r} needs a MAML-family algorithm "
                     f"({names}), got {m.algorithm!r}")
  optimizer = make_optimizer(config) if algorithm.uses_optimizer else None
  return meta.make_meta_step(m.algorithm, model.loss, optimizer, **kwargs)


def _joint_step(config: ml_collections.ConfigDict, model: models.RecModel) -> StepFn:
  """The no-meta-learning reference: the same network trained on every rating of a
  task (support and query together) with no inner loop (so with the gradient
  adapter only: a solve would be used at test time but never trained through)."""
  if make_adapter(config, model).start is not None:
    raise ValueError(f"config.meta.adapter={config.meta.adapter!r} needs a MAML-family "
                     "algorithm; 'joint' trains without adaptation")
  maml_step = meta.make_maml_step(model.loss, make_optimizer(config), inner_lr=0.0,
                                  num_steps=0)

  def joint_step(state, batch):
    task = meta.concat_support_query(batch)
    return maml_step(state, {"support": task, "query": task})
  return joint_step


@dataclasses.dataclass(frozen=True)
class Algorithm:
  """What training needs to know of one ``config.meta.algorithm``.

  Attributes:
    make_step: ``make_step(config, model) -> step``, the jitted
      ``step(state, batch) -> (state, metrics)``.
    adapts_from_start: a MAML-family inner loop: the step takes ``remat`` and
      the adapter's start (``config.meta.adapter = "solve"`` needs one).
    learns_inner_lr: the inner rate is a learned state leaf (Meta-SGD: it starts
      as ``meta_sgd_init(params, config.meta.inner_lr)``; the step takes none).
    uses_optimizer: the outer update is the optax optimizer's (False: model
      averaging's fixed update).
  """

  make_step: Callable[[ml_collections.ConfigDict, models.RecModel], StepFn]
  adapts_from_start: bool = False
  learns_inner_lr: bool = False
  uses_optimizer: bool = True


# Every training algorithm by its config name: jaxrec.meta's meta-learners
# (meta.ALGORITHMS) and "joint". Adding one is one entry here.
TRAINING_ALGORITHMS: dict[str, Algorithm] = {
    "maml": Algorithm(_meta_step, adapts_from_start=True),
    "fomaml": Algorithm(_meta_step, adapts_from_start=True),
    "meta_sgd": Algorithm(_meta_step, adapts_from_start=True, learns_inner_lr=True),
    "anil": Algorithm(_meta_step, adapts_from_start=True),
    "reptile": Algorithm(_meta_step),
    "model_average": Algorithm(_meta_step, uses_optimizer=False),
    "joint": Algorithm(_joint_step),
}


def algorithm_of(config: ml_collections.ConfigDict) -> Algorithm:
  """The :data:`TRAINING_ALGORITHMS` entry of ``config.meta.algorithm``.

  Raises:
    ValueError: the name is not in :data:`TRAINING_ALGORITHMS`.
  """
  name = config.meta.algorithm
  if name not in TRAINING_ALGORITHMS:
    raise ValueError(f"config.meta.algorithm: unknown algorithm {name!r}; expected one "
                     f"of {tuple(TRAINING_ALGORITHMS)}")
  return TRAINING_ALGORITHMS[name]


def make_train_step(config: ml_collections.ConfigDict, model: models.RecModel) -> StepFn:
  """The jitted ``step(state, batch) -> (state, metrics)`` of ``config.meta``
  (its :data:`TRAINING_ALGORITHMS` entry's ``make_step``).

  Raises:
    ValueError: as :func:`algorithm_of` and the entry's ``make_step``.
  """
  return algorithm_of(config).make_step(config, model)


def inner_rate(config: ml_collections.ConfigDict, state: meta.MetaState) -> Any:
  """The inner learning rate used at test time (learned for Meta-SGD)."""
  return config.meta.inner_lr if state.inner_lr is None else state.inner_lr


def make_adapter(config: ml_collections.ConfigDict, model: models.RecModel
                 ) -> adapters.Adapter:
  """The config's adapter (``config.meta.adapter``, default ``"gradient"``) over
  the leaves :func:`trainable` selects; see :mod:`jaxrec.adapters`."""
  # .get: config.json of runs older than the field (evaluated and served) lacks it
  return adapters.make_adapter(config.meta.get("adapter", "gradient"), model,
                               trainable(config, model))


def make_predict(model: models.RecModel, adapter: adapters.Adapter):
  """Jitted ``predict(params, inner_lr, num_steps, batch) -> float32[B, Q]``.

  Each task is adapted on its support set (``adapter`` with ``num_steps``
  gradient steps, static) and scores its query items.
  """
  def one(params, inner_lr, num_steps, support, query):
    phi = adapter(params, inner_lr, num_steps, support)
    return model.predict(phi, query["user"], query["item"])

  @functools.partial(jax.jit, static_argnums=2)
  def predict(params, inner_lr, num_steps, batch):
    return jax.vmap(one, in_axes=(None, None, None, 0, 0))(
        params, inner_lr, num_steps, batch["support"], batch["query"])
  return predict


def query_arrays(batches: Sequence[dict], scores: Sequence[np.ndarray]
                  ) -> dict[str, np.ndarray]:
  """Concatenates per-batch ``float[B, Q]`` query scores with the batches' query
  users, labels and masks, dropping padded tasks, in user order.

  Returns:
    ``{"user": int32[E], "scores", "y", "mask": float[E, Q]}`` (``Q`` the widest
    batch's; narrower batches are zero-padded), ready for :mod:`jaxrec.metrics`.
  """
  q = max(b["query"]["item"].shape[1] for b in batches)
  pad = lambda x: np.pad(x, ((0, 0), (0, q - x.shape[1])))  # noqa: E731
  out = {k: [] for k in ("user", "scores", "y", "mask")}
  for batch, s in zip(batches, scores):
    real = batch["query"]["mask"].sum(axis=1) > 0
    out["user"].append(batch["query"]["user"][real])
    out["scores"].append(pad(np.asarray(s, np.float64)[real]))
    out["y"].append(pad(batch["query"]["y"][real]))
    out["mask"].append(pad(batch["query"]["mask"][real]))
  arrays = {k: np.concatenate(v) for k, v in out.items()}
  order = np.argsort(arrays["user"], kind="stable")
  return {k: v[order] for k, v in arrays.items()}


def predict_episodes(predict, params, inner_lr, num_steps: int,
                     episodes: episodes_lib.Episodes, *, batch_size: int,
                     buckets: Any = "pow2") -> dict[str, np.ndarray]:
  """Scores every episode's query set after adapting on its support set.

  Returns:
    :func:`query_arrays` of the episodes' batches, in user order.
  """
  batches = list(batching.batch_iterator(episodes, batch_size, shuffle=False,
                                         buckets=buckets))
  return query_arrays(batches, [predict(params, inner_lr, num_steps, b) for b in batches])


def validation_metric(config: ml_collections.ConfigDict, predict, state: meta.MetaState,
                      episodes: episodes_lib.Episodes, implicit: bool,
                      catalogue: Callable[[Any, Any], dict[str, float]] | None = None
                      ) -> dict[str, float]:
  """The query-set metrics (RMSE, nDCG, AUC, ...) on the validation episodes and,
  with ``catalogue``, its full-catalogue metrics (``full_ndcg@10``, ...;
  :func:`catalogue_validation`), each keyed ``"val_<metric>"``."""
  rate = inner_rate(config, state)
  out = predict_episodes(predict, state.params, rate, config.meta.num_steps, episodes,
                         batch_size=config.eval_batch_size, buckets=config.buckets)
  values = metrics_lib.evaluate_predictions(out["scores"], out["y"], out["mask"],
                                        implicit=implicit)
  if catalogue is not None:
    values.update(catalogue(state.params, rate))
  return {f"val_{k}": float(v) for k, v in values.items()}


def catalogue_validation(config: ml_collections.ConfigDict, prepared: Prepared,
                         model: models.RecModel, adapter: adapters.Adapter,
                         episodes: episodes_lib.Episodes
                         ) -> Callable[[Any, Any], dict[str, float]]:
  """``metrics(params, inner_lr)``: the validation users' rankings of every
  training item (their support items excluded) scored as in evaluation
  (:func:`jaxrec.evaluate.catalogue_metrics`: ``full_ndcg@10``, ``full_recall@10``,
  ...), for selecting on a full-catalogue metric (``config.best_metric =
  "full_ndcg@10"``)."""
  from jaxrec import evaluate  # pylint: disable=import-outside-toplevel
  scorers = evaluate.model_scoring(model, adapter)
  batches = list(batching.batch_iterator(episodes, config.eval_batch_size, shuffle=False,
                                         buckets=config.buckets))

  def metrics_of(params: Any, inner_lr: Any) -> dict[str, float]:
    score_all = scorers(params, inner_lr, config.meta.num_steps)[1]
    return evaluate.catalogue_metrics(score_all, batches, prepared.split.train_items,
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
  prepared: Prepared
  chief: bool
  mesh: jax.sharding.Mesh
  step: StepFn
  validate: Callable[[meta.MetaState], dict[str, float]]
  best_key: str
  latest: Any
  best: Any

  @property
  def log_path(self) -> pathlib.Path:
    return self.workdir / "metrics.jsonl"

  def episodes_of(self, epoch: int) -> episodes_lib.Episodes:
    """The training episodes of ``epoch``."""
    return episodes_lib.training_episodes(
        self.prepared.interactions, self.prepared.split, epoch=epoch,
        seed=self.config.seed, query_size=self.config.data.query_size,
        negatives=self.config.data.negatives)


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


def _validator(config: ml_collections.ConfigDict, prepared: Prepared,
               model: models.RecModel, adapter: adapters.Adapter
               ) -> Callable[[meta.MetaState], dict[str, float]]:
  """``validate(state)``: :func:`validation_metric` on the validation users'
  ``new_users`` episodes, with the full-catalogue metrics
  (:func:`catalogue_validation`) when ``config.best_metric`` is one."""
  data = config.data
  episodes = episodes_lib.make_episodes(
      prepared.interactions, prepared.split, "new_users", group="val",
      query_size=data.query_size, negatives=data.negatives, seed=config.seed)
  catalogue = (catalogue_validation(config, prepared, model, adapter, episodes)
               if config.best_metric.startswith("full_") else None)
  predict = make_predict(model, adapter)
  implicit = prepared.interactions.implicit
  return lambda state: validation_metric(config, predict, state, episodes, implicit,
                                         catalogue)


def _set_up(config: ml_collections.ConfigDict, workdir: str | pathlib.Path
            ) -> tuple[_Run, meta.MetaState]:
  """A run's fixed parts and initial state (replicated over the mesh).

  Creates ``workdir``; prepares the data, model, mesh, training step and
  validation; only then (the config has proved valid, so a failed start leaves no
  run behind) writes ``config.json`` and ``provenance.json`` (the code the run
  started with) when absent; initialises the state and opens the checkpoint
  managers.

  Raises:
    ValueError: ``workdir/config.json`` holds a different config, or the config
      is invalid (as :func:`prepare`, :func:`make_train_step`, ...).
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
  prepared = prepare(config)
  model = model_of(config, prepared)
  mesh = parallel.make_mesh(config.num_devices or None)
  step = parallel.data_parallel_step(make_train_step(config, model), mesh)
  validate = _validator(config, prepared, model, make_adapter(config, model))
  best_mode = "max" if metrics_lib.higher_is_better(config.best_metric) else "min"
  provenance_path = workdir / "provenance.json"
  if chief and not config_path.exists():
    config_path.write_text(config.to_json(indent=2))
  if chief and not provenance_path.exists():
    provenance_path.write_text(json.dumps(provenance.code_identity(), indent=2))
  state = parallel.replicate(init_state(config, model, prepared), mesh)
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

  Every ``config.eval_every`` outer steps (and at the end of training) the
  current parameters are scored on the validation users' ``new_users``
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
  if at.step == 0:  # the starting point is a candidate too (e.g. a warm start)
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
