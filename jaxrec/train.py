"""Meta-training from a config: data preparation, the training loop, checkpoints.

``experiments/meta_train.py`` is a thin command-line wrapper around :func:`train`;
``jaxrec.evaluate`` and ``jaxrec.recommend`` reuse :func:`prepare`,
:func:`build_model` and :func:`init_state` so that a checkpoint is always read back
with exactly the data, tables and model it was trained with.

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
from collections.abc import Callable, Sequence
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

# Metrics where larger is better; every other validation metric is minimised.
_MAXIMISED = ("auc", "ndcg", "precision", "recall", "f1", "full_")


@dataclasses.dataclass(frozen=True, eq=False)
class Prepared:
  """Everything a run derives from its config's data section.

  Attributes:
    interactions: the dataset.
    split: the cold-start split (seeded by ``config.seed``).
    user_table, item_table, vocab_sizes: the model's feature tables
      (:func:`jaxrec.data.splits.build_tables`, plus ``item_table["text"]`` when
      ``config.data.text_features``).
    popularity: ``float32[I]`` training interactions per item.
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
  if data.text_features:
    from jaxrec import text  # pylint: disable=import-outside-toplevel
    item_table["text"] = text.item_text_embeddings(
        interactions.item_text, model_path=data.text_model or None,
        cache_dir=data.cache_dir or None)
  return Prepared(interactions=interactions, split=split, user_table=user_table,
                  item_table=item_table, vocab_sizes=vocab_sizes,
                  popularity=splits.item_popularity(interactions, split))


def build_model(config: ml_collections.ConfigDict,
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
  decay = opt.get("weight_decay", 0.0)
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

  With ``config.model.warm_start`` (a dict ``{"reg", "foldin_reg"}``, ``foldin``
  only) and ``prepared`` given, the parameters start as an ALS matrix
  factorisation of the training ratings (rank ``model.kwargs.rank``, penalty
  ``reg``) with fold-in penalty ``foldin_reg``
  (:func:`jaxrec.models.foldin.warm_start`); without ``prepared`` (a restore
  template) they are the random initialisation.
  """
  params = model.init(jax.random.key(config.seed))
  warm = config.model.get("warm_start")
  if warm and prepared is not None:
    from jaxrec import baselines  # pylint: disable=import-outside-toplevel
    from jaxrec.models.foldin import warm_start  # pylint: disable=import-outside-toplevel
    inter = prepared.interactions
    rows = splits.training_mask(inter, prepared.split)
    mf = baselines.MatrixFactorization(
        rank=model.config["rank"], reg=warm["reg"], reg_bias=warm["reg"],
        seed=config.seed).fit(inter.user[rows], inter.item[rows], inter.rating[rows],
                              inter.num_users, inter.num_items)
    params = warm_start(params, prepared.item_table["item_id"], mf.mu,
                               mf.item_factors, mf.item_bias, warm["foldin_reg"])
  inner_lr = (meta.meta_sgd_init(params, config.meta.inner_lr)
              if config.meta.algorithm == "meta_sgd" else None)
  return meta.init_meta_state(params, make_optimizer(config), inner_lr)


def make_train_step(config: ml_collections.ConfigDict, model: models.RecModel):
  """The jitted ``step(state, batch) -> (state, metrics)`` of ``config.meta``.

  ``"joint"`` is the no-meta-learning reference: the same network trained on every
  rating of a task (support and query together) with no inner loop.
  """
  m = config.meta
  if m.algorithm == "joint":
    maml_step = meta.make_maml_step(model.loss, make_optimizer(config), inner_lr=0.0,
                                    num_steps=0)
    def joint_step(state, batch):
      task = meta.concat_support_query(batch)
      return maml_step(state, {"support": task, "query": task})
    return joint_step
  kwargs = dict(inner_lr=m.inner_lr, num_steps=m.num_steps,
                trainable=trainable(config, model), microbatches=m.microbatches,
                unroll=m.unroll)
  start = make_adapter(config, model).start
  if m.algorithm in ("maml", "fomaml", "meta_sgd", "anil"):
    kwargs.update(remat=m.remat, start=start)
  elif start is not None:
    raise ValueError(f"config.meta.adapter={m.adapter!r} needs a MAML-family algorithm "
                     f"(maml, fomaml, meta_sgd, anil), got {m.algorithm!r}")
  if m.algorithm == "meta_sgd":
    del kwargs["inner_lr"]
  optimizer = None if m.algorithm == "model_average" else make_optimizer(config)
  return meta.make_meta_step(m.algorithm, model.loss, optimizer, **kwargs)


def inner_rate(config: ml_collections.ConfigDict, state: meta.MetaState) -> Any:
  """The inner learning rate used at test time (learned for Meta-SGD)."""
  return config.meta.inner_lr if state.inner_lr is None else state.inner_lr


def make_adapter(config: ml_collections.ConfigDict, model: models.RecModel
                 ) -> adapters.Adapter:
  """The config's adapter (``config.meta.adapter``, default ``"gradient"``) over
  the leaves :func:`trainable` selects; see :mod:`jaxrec.adapters`."""
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
  from jaxrec import metrics  # pylint: disable=import-outside-toplevel
  rate = inner_rate(config, state)
  out = predict_episodes(predict, state.params, rate, config.meta.num_steps, episodes,
                         batch_size=config.eval_batch_size, buckets=config.buckets)
  values = metrics.evaluate_predictions(out["scores"], out["y"], out["mask"],
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


def is_better(metric: str, new: float, best: float | None) -> bool:
  """Whether ``new`` improves on ``best`` for ``metric`` (min or max by its name)."""
  if best is None:
    return True
  return new > best if metric.startswith(_MAXIMISED) else new < best


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
  """
  parallel.initialize_distributed(config)
  chief = jax.process_index() == 0
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  config_path = workdir / "config.json"
  if config_path.exists():
    saved = json.loads(config_path.read_text())
    if saved != json.loads(config.to_json()):
      raise ValueError(f"{config_path} holds a different config: resume with the same "
                       "config, or use a fresh --workdir")
  log_path = workdir / "metrics.jsonl"

  prepared = prepare(config)
  model = build_model(config, prepared)
  mesh = parallel.make_mesh(config.num_devices or None)
  step_fn = parallel.data_parallel_step(make_train_step(config, model), mesh)
  adapter = make_adapter(config, model)
  predict = make_predict(model, adapter)
  # written once the config has proved valid, so a failed start leaves no run behind
  provenance_path = workdir / "provenance.json"
  if chief and not config_path.exists():
    config_path.write_text(config.to_json(indent=2))
  if chief and not provenance_path.exists():  # the code the run started with
    provenance_path.write_text(json.dumps(provenance.code_identity(), indent=2))
  state = parallel.replicate(init_state(config, model, prepared), mesh)
  implicit = prepared.interactions.implicit
  data = config.data
  val_episodes = episodes_lib.make_episodes(
      prepared.interactions, prepared.split, "new_users", group="val",
      query_size=data.query_size, negatives=data.negatives, seed=config.seed)
  catalogue = (catalogue_validation(config, prepared, model, adapter, val_episodes)
               if config.best_metric.startswith("full_") else None)
  best_key = f"val_{config.best_metric}"
  latest, best_manager = checkpoint.managers(
      workdir, best_metric=best_key,
      best_mode="max" if config.best_metric.startswith(_MAXIMISED) else "min")

  record = {"epoch": 0, "batch": 0, "best": None, "best_step": 0, "bad_evals": 0}
  if latest.latest_step() is not None:
    state, saved_meta = checkpoint.restore(latest, state,
                                           sharding=parallel.replicated(mesh))
    record = saved_meta["record"]
    if chief:
      _truncate_log(log_path, int(state.step))

  def episodes_of(epoch):
    return episodes_lib.training_episodes(
        prepared.interactions, prepared.split, epoch=epoch, seed=config.seed,
        query_size=data.query_size, negatives=data.negatives)

  per_epoch = batching.num_batches(episodes_of(0), config.batch_size,
                                   buckets=config.buckets)
  total = per_epoch * config.num_epochs
  bar = tqdm(total=total, initial=int(state.step), desc=f"{config.meta.algorithm}",
             disable=not (progress and chief))

  def evaluate_and_save(window):
    train_metrics = {f"train_{k}": float(np.mean([m[k] for m in window])) for k in
                     (window[0] if window else {})}
    window.clear()
    val = validation_metric(config, predict, state, val_episodes, implicit, catalogue)
    step = int(state.step)
    improved = is_better(config.best_metric, val[best_key], record["best"])
    if improved:
      record.update(best=val[best_key], best_step=step, bad_evals=0)
    else:
      record["bad_evals"] += 1
    if chief:
      _append_jsonl(log_path, {"step": step, "epoch": record["epoch"], **train_metrics,
                               **val})
    saved_meta = {"record": record, "config": json.loads(config.to_json())}
    checkpoint.save(latest, step, state, saved_meta)
    if improved:
      checkpoint.save(best_manager, step, state, saved_meta, metrics=val)
    bar.set_postfix({best_key: f"{val[best_key]:.4f}"})

  stopped_early = False
  window = []  # step metrics since the last log line, averaged into it
  while record["epoch"] < config.num_epochs and not stopped_early:
    batches = batching.batch_iterator(
        episodes_of(record["epoch"]), config.batch_size,
        seed=config.seed * 100_003 + record["epoch"], buckets=config.buckets,
        start=record["batch"])
    for batch in batches:
      state, metrics = step_fn(state, parallel.shard_batch(parallel.process_shard(batch),
                                                           mesh))
      record["batch"] += 1
      bar.update(1)
      window.append(metrics)
      if int(state.step) % config.eval_every == 0:
        evaluate_and_save(window)
        if record["bad_evals"] >= config.patience:
          stopped_early = True
          break
    else:
      record.update(epoch=record["epoch"] + 1, batch=0)
  if latest.latest_step() != int(state.step):
    evaluate_and_save(window)
  bar.close()
  latest.close()
  best_manager.close()
  if chief:  # what serving reads instead of the dataset (jaxrec.serving.bundle)
    serving_bundle.write_bundle(workdir, prepared)
  return {"step": int(state.step), "best_step": record["best_step"],
          "best": {best_key: record["best"]}, "stopped_early": stopped_early}
