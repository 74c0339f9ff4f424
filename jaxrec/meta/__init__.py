"""jaxrec.meta: gradient-based meta-learning over ``loss_fn(params, batch)`` and pytrees."""

from jaxrec.meta.core import REMAT_MODES as REMAT_MODES
from jaxrec.meta.core import LinearInputLossFn as LinearInputLossFn
from jaxrec.meta.core import StagedLossFn as StagedLossFn
from jaxrec.meta.core import adapt as adapt
from jaxrec.meta.core import maml_loss as maml_loss
from jaxrec.meta.core import meta_sgd_init as meta_sgd_init
from jaxrec.meta.core import model_average as model_average
from jaxrec.meta.core import reptile_direction as reptile_direction
from jaxrec.meta.core import task_mean as task_mean
from jaxrec.meta.core import trainable_mask as trainable_mask
from jaxrec.meta.steps import ALGORITHMS as ALGORITHMS
from jaxrec.meta.steps import MetaState as MetaState
from jaxrec.meta.steps import accumulate_sums as accumulate_sums
from jaxrec.meta.steps import concat_support_query as concat_support_query
from jaxrec.meta.steps import init_meta_state as init_meta_state
from jaxrec.meta.steps import make_maml_step as make_maml_step
from jaxrec.meta.steps import make_meta_step as make_meta_step
from jaxrec.meta.steps import make_model_average_step as make_model_average_step
from jaxrec.meta.steps import make_reptile_step as make_reptile_step
from jaxrec.meta.steps import task_weights as task_weights
