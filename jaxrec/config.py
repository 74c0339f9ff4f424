"""The config schema: every field a run reads, with its default.

Experiment configs (``experiments/configs/*.py``) start from :func:`get_config` and
change what they need. A run's ``config.json`` is the full config it was trained
with; configs saved before a field existed are still read (the code reads such
fields with ``.get(name, default)``, see the comments there).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  """The default config: every field ``train``, ``evaluate`` and ``recommend`` read.

  Two optional fields are absent here and set only by the configs that use them:
  ``data.synthetic`` (a dict of keyword arguments of the synthetic writer, for
  ``data.dataset = "synthetic"`` / ``"synthetic-lastfm"``) and
  ``model.warm_start`` (``foldin`` only: ``{"reg", "foldin_reg"}`` starts it as the
  ALS fold-in of ratings, ``{"reg", "alpha"}`` as the implicit-ALS fold-in; a
  sequence of values is a grid chosen on the seed's validation users,
  ``jaxrec.train.choose_warm_start``; with ``"content_l2"`` its side-field tables
  also start as the content-to-factor ridge map; ``jaxrec.train.warm_params``).

  Returns:
    A fresh ``ml_collections.ConfigDict`` (each call a new one), to be changed by
    the experiment configs (``experiments/configs/*.py``).
  """
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.name = ""                       # method name in results; "" -> "<model>-<algorithm>"

  c.data = ml_collections.ConfigDict()
  # ml-100k | ml-1m | lastfm | synthetic | synthetic-lastfm | csv:<path>
  c.data.dataset = "ml-100k"
  c.data.data_dir = ""              # '' -> $JAXREC_DATA_DIR
  c.data.download = False           # fetch + sha256-verify the official archive if missing
  c.data.split = "random"           # random | time
  c.data.user_fractions = (0.8, 0.1, 0.1)
  c.data.item_fractions = (0.8, 0.1, 0.1)
  c.data.min_ratings = 13
  c.data.max_ratings = 100
  c.data.query_size = 10
  c.data.negatives = 0              # sampled negatives per positive (implicit data)
  c.data.train_support_sizes = ()   # k-shot training: cut each support to a size drawn
                                    # from these (0: empty); () keeps whole supports
  c.data.friends = False            # add user_table["friends"], the training friends (friend graph)
  c.data.text_features = False      # add frozen LM vectors of item text as item_table["text"]
  c.data.text_model = ""            # '' -> the installed all-MiniLM-L6-v2 wheel
  c.data.cache_dir = ""             # '' -> $JAXREC_CACHE_DIR/text, else ~/.cache/jaxrec/text

  c.model = ml_collections.ConfigDict()
  c.model.name = "melu"             # melu | hybrid | two_tower | foldin
  c.model.kwargs = ml_collections.ConfigDict({"embed_dim": 32})

  c.meta = ml_collections.ConfigDict()
  # maml | fomaml | reptile | model_average | meta_sgd | anil | joint
  c.meta.algorithm = "maml"
  c.meta.inner_lr = 0.01
  c.meta.num_steps = 1
  c.meta.adapt = "model"            # model (the model's adapt_mask) | all | head (ANIL)
  c.meta.adapter = "gradient"       # gradient (from θ) | solve (from the model's closed-form solve)
  c.meta.remat = "none"             # none | steps | recompute: second-order memory (meta.adapt)
  c.meta.microbatches = 1           # task slices per step, run one after the other (memory)
  c.meta.unroll = 1                 # lax.scan unroll of the inner loop (True: all;
                                    # not with remat=steps)

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.learning_rate = 1e-3
  c.optimizer.grad_clip = 10.0
  c.optimizer.weight_decay = 0.0    # AdamW decay of the matrices (0: plain Adam)
  c.optimizer.trainable = ()        # top-level parameters that learn; () = all

  c.batch_size = 32
  c.num_epochs = 30
  c.eval_every = 50                 # steps between validation runs (and checkpoints)
  c.patience = 10                   # validation runs without improvement before stopping
  c.best_metric = "rmse"            # validated on new_users of the validation users
  c.eval_batch_size = 256
  c.buckets = (16, 32, 64, 128)     # support-length buckets
  c.num_devices = 0                 # 0: every device (data-parallel over tasks; the
                                    # batch size must be a multiple of the device count)
  c.distributed = ml_collections.ConfigDict({  # multi-host: jax.distributed.initialize
      "coordinator_address": "", "num_processes": 1, "process_id": 0})
  return c
