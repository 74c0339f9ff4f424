"""jaxrec.meta: gradient-based meta-learning over ``loss_fn(params, batch)`` and pytrees.

Modules: ``core`` (the algorithms: ``adapt``, ``maml_loss``, ``reptile_direction``,
``model_average``, ...), ``state`` (``MetaState``), ``parts`` (task batches and
``StepParts``), ``steps`` (the jitted batched steps and the algorithm registry);
the private ``_checks``, ``_remat``, ``_staged`` and ``_feature_space`` hold the
argument checks, the inner loop's rematerialisation and the two loss-structure
fast paths. It imports only jax, numpy and optax (not Flax nor the rest of jaxrec).
"""

from jaxrec.meta._checks import LossFn
from jaxrec.meta._checks import PyTree
from jaxrec.meta._feature_space import LinearInputLossFn
from jaxrec.meta._remat import REMAT_MODES
from jaxrec.meta._staged import StagedLossFn
from jaxrec.meta.core import adapt
from jaxrec.meta.core import maml_loss
from jaxrec.meta.core import meta_sgd_init
from jaxrec.meta.core import model_average
from jaxrec.meta.core import reptile_direction
from jaxrec.meta.core import task_mean
from jaxrec.meta.core import trainable_mask
from jaxrec.meta.parts import StepFn
from jaxrec.meta.parts import StepParts
from jaxrec.meta.parts import TaskSums
from jaxrec.meta.parts import accumulate_sums
from jaxrec.meta.parts import concat_support_query
from jaxrec.meta.parts import step_from_parts
from jaxrec.meta.parts import task_weights
from jaxrec.meta.state import MetaState
from jaxrec.meta.state import init_meta_state
from jaxrec.meta.steps import ALGORITHMS
from jaxrec.meta.steps import make_maml_step
from jaxrec.meta.steps import make_meta_parts
from jaxrec.meta.steps import make_meta_step
from jaxrec.meta.steps import make_model_average_step
from jaxrec.meta.steps import make_reptile_step

__all__ = [
    "accumulate_sums",
    "adapt",
    "ALGORITHMS",
    "concat_support_query",
    "init_meta_state",
    "LinearInputLossFn",
    "LossFn",
    "make_maml_step",
    "make_meta_parts",
    "make_meta_step",
    "make_model_average_step",
    "make_reptile_step",
    "maml_loss",
    "meta_sgd_init",
    "MetaState",
    "model_average",
    "PyTree",
    "REMAT_MODES",
    "reptile_direction",
    "StagedLossFn",
    "step_from_parts",
    "StepFn",
    "StepParts",
    "task_mean",
    "task_weights",
    "TaskSums",
    "trainable_mask",
]
