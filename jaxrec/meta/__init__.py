"""jaxrec.meta: gradient-based meta-learning over ``loss_fn(params, batch)`` and pytrees.

Modules: ``core`` (the algorithms: ``adapt``, ``maml_loss``, ``reptile_direction``,
``model_average``, ...), ``state`` (``MetaState``), ``parts`` (task batches and
``StepParts``), ``steps`` (the jitted batched steps and the algorithm registry);
the private ``_checks``, ``_remat``, ``_staged`` and ``_feature_space`` hold the
argument checks, the inner loop's rematerialisation and the two loss-structure
fast paths. It imports only jax, numpy and optax (not Flax nor the rest of jaxrec).
"""

from jaxrec.meta._checks import LossFn as LossFn
from jaxrec.meta._checks import PyTree as PyTree
from jaxrec.meta._feature_space import LinearInputLossFn as LinearInputLossFn
from jaxrec.meta._remat import REMAT_MODES as REMAT_MODES
from jaxrec.meta._staged import StagedLossFn as StagedLossFn
from jaxrec.meta.core import adapt as adapt
from jaxrec.meta.core import maml_loss as maml_loss
from jaxrec.meta.core import meta_sgd_init as meta_sgd_init
from jaxrec.meta.core import model_average as model_average
from jaxrec.meta.core import reptile_direction as reptile_direction
from jaxrec.meta.core import task_mean as task_mean
from jaxrec.meta.core import trainable_mask as trainable_mask
from jaxrec.meta.parts import StepFn as StepFn
from jaxrec.meta.parts import StepParts as StepParts
from jaxrec.meta.parts import TaskSums as TaskSums
from jaxrec.meta.parts import accumulate_sums as accumulate_sums
from jaxrec.meta.parts import concat_support_query as concat_support_query
from jaxrec.meta.parts import step_from_parts as step_from_parts
from jaxrec.meta.parts import task_weights as task_weights
from jaxrec.meta.state import MetaState as MetaState
from jaxrec.meta.state import init_meta_state as init_meta_state
from jaxrec.meta.steps import ALGORITHMS as ALGORITHMS
from jaxrec.meta.steps import make_maml_step as make_maml_step
from jaxrec.meta.steps import make_meta_parts as make_meta_parts
from jaxrec.meta.steps import make_meta_step as make_meta_step
from jaxrec.meta.steps import make_model_average_step as make_model_average_step
from jaxrec.meta.steps import make_reptile_step as make_reptile_step
