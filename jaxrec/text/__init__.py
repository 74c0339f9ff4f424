"""jaxrec.text: frozen language-model item vectors (Flax BERT + on-disk cache).

A brand-new item with no ratings still gets a representation from its text:
``item_text_embeddings(interactions.item_text)`` -> ``float32[I, d]``.
"""

from jaxrec.text.bert import (
    BertConfig,
    BertEncoder,
    canonical_dtype,
    l2_normalize,
    masked_mean,
)
from jaxrec.text.cache import (
    cached_embeddings,
    default_cache_dir,
    item_text_embeddings,
    text_encoder,
    text_hash,
)
from jaxrec.text.encoder import Encoder, bucket_length, length_sorted_batches, load_encoder
from jaxrec.text.loading import (
    MINILM_SHA256,
    convert_torch_state,
    export_torch_state,
    load_params,
    load_tokenizer,
    minilm_path,
    save_safetensors,
)

__all__ = [
    "BertConfig",
    "BertEncoder",
    "Encoder",
    "MINILM_SHA256",
    "bucket_length",
    "cached_embeddings",
    "canonical_dtype",
    "convert_torch_state",
    "default_cache_dir",
    "export_torch_state",
    "item_text_embeddings",
    "l2_normalize",
    "length_sorted_batches",
    "load_encoder",
    "load_params",
    "load_tokenizer",
    "masked_mean",
    "minilm_path",
    "save_safetensors",
    "text_encoder",
    "text_hash",
]
