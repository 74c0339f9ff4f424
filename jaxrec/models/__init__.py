"""jaxrec.models: recommender models as pure functions over parameter pytrees."""

from jaxrec.models.base import (LinearInputLoss, RecModel, StagedLoss, build_model,
                                count_params)
from jaxrec.models.features import FieldSpec, select_features, select_fields
from jaxrec.models.foldin import foldin
from jaxrec.models.hybrid import hybrid
from jaxrec.models.losses import LOSSES, bce, bpr, check_part, get_loss, mse
from jaxrec.models.melu import melu
from jaxrec.models.registry import MODELS, make_model
from jaxrec.models.two_tower import two_tower

__all__ = [
    "LOSSES", "MODELS", "FieldSpec", "LinearInputLoss", "RecModel", "StagedLoss", "bce",
    "bpr", "build_model", "check_part", "count_params", "foldin", "get_loss", "hybrid",
    "make_model",
    "melu", "mse", "select_features", "select_fields", "two_tower",
]
