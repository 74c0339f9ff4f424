"""Feature-table handling shared by the models: field selection, checks, lookup.

A feature table (see docs/architecture.md, "Feature tables") is a dict of numpy
arrays indexed by internal id: categorical fields ``int32[N]`` or multi-hot
``int32[N, m]`` with ``"<field>_mask" float32[N, m]``, the id field
``"user_id"`` / ``"item_id"``, and optionally ``"text": float32[N, d]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

TEXT = "text"
MASK_SUFFIX = "_mask"


@dataclasses.dataclass(frozen=True)
class FieldSpec:
  """One categorical field: its table key, vocabulary size and arity."""

  name: str
  vocab_size: int
  multi_hot: bool


def _is_categorical(key: str, arr: np.ndarray, id_field: str) -> bool:
  return (key not in (TEXT, id_field) and not key.endswith(MASK_SUFFIX)
          and np.issubdtype(np.asarray(arr).dtype, np.integer))


def _field_spec(table: Mapping[str, np.ndarray], vocab_sizes: Mapping[str, int],
                kind: str, field: str, id_field: str) -> FieldSpec:
  """Checks one field of ``table`` and returns its spec; raises ValueError."""
  if field not in table:
    raise ValueError(f"{kind} table has no field '{field}' "
                     f"(available: {sorted(table)})")
  ids = np.asarray(table[field])
  if not np.issubdtype(ids.dtype, np.integer) or ids.ndim not in (1, 2):
    raise ValueError(f"{kind} field '{field}' must be integer [N] or [N, m], got "
                     f"{ids.dtype}{list(ids.shape)}")
  if field in vocab_sizes:
    vocab = int(vocab_sizes[field])
  elif field == id_field:
    vocab = int(ids.max(initial=0)) + 1
  else:
    raise ValueError(f"vocab_sizes has no entry for {kind} field '{field}'")
  if ids.size and (ids.min() < 0 or ids.max() >= vocab):
    raise ValueError(f"{kind} field '{field}' has ids in [{ids.min()}, {ids.max()}], "
                     f"outside its vocabulary [0, {vocab})")
  if ids.ndim == 2:
    mask_key = field + MASK_SUFFIX
    if mask_key not in table:
      raise ValueError(f"multi-hot {kind} field '{field}' has no '{mask_key}' entry")
    if np.shape(table[mask_key]) != ids.shape:
      raise ValueError(f"{kind} '{mask_key}' has shape {list(np.shape(table[mask_key]))},"
                       f" expected {list(ids.shape)}")
  return FieldSpec(field, vocab, ids.ndim == 2)


def select_fields(table: Mapping[str, np.ndarray], vocab_sizes: Mapping[str, int], *,
                  kind: str, fields: Sequence[str] | None = None, use_ids: bool = False,
                  use_side: bool = True) -> tuple[FieldSpec, ...]:
  """Selects and checks the categorical fields of a user or item table.

  The result is ``[<kind>_id]`` when ``use_ids``, followed by the side fields when
  ``use_side``: ``fields`` if given, else every integer entry of ``table`` other
  than the id field, ``"text"`` and ``*_mask`` (in table order). The id field's
  vocabulary size defaults to ``max id + 1`` when ``vocab_sizes`` lacks it.

  Args:
    table: the feature table, arrays with a leading ``[N]`` axis.
    vocab_sizes: field -> vocabulary size (id 0 = unknown / padding included).
    kind: ``"user"`` or ``"item"``; names the id field and error messages.
    fields: side fields to use, or ``None`` for all.
    use_ids: whether to include the ``<kind>_id`` field.
    use_side: whether to include the side fields.

  Returns:
    One ``FieldSpec`` per selected field.

  Raises:
    ValueError: a field is missing from the table or from ``vocab_sizes``, has ids
      outside its vocabulary, is multi-hot without a matching mask, ``fields``
      names the id field (select it with ``use_ids``), or the selected arrays
      disagree on the number of rows.
  """
  id_field = f"{kind}_id"
  if fields is None:
    side = [k for k, v in table.items() if _is_categorical(k, v, id_field)]
  else:
    side = list(fields)
    if id_field in side:
      raise ValueError(f"{kind}_fields names '{id_field}'; select it with use_ids=True")
  names = ([id_field] if use_ids else []) + (side if use_side else [])
  specs = tuple(_field_spec(table, vocab_sizes, kind, f, id_field) for f in names)
  rows = {f: len(table[f]) for f in names}
  if len(set(rows.values())) > 1:
    raise ValueError(f"{kind} table fields disagree on the number of rows: {rows}")
  return specs


def text_width(item_table: Mapping[str, np.ndarray]) -> int:
  """Returns ``d`` of ``item_table["text"]: float32[I, d]``.

  Raises:
    ValueError: the table has no ``"text"`` entry, or it is not a 2-D array.
  """
  if TEXT not in item_table:
    raise ValueError("use_text=True but item_table has no 'text' entry "
                     "(frozen language-model vectors float32[I, d])")
  shape = np.shape(item_table[TEXT])
  if len(shape) != 2:
    raise ValueError(f"item_table['text'] must be [I, d], got shape {list(shape)}")
  return int(shape[1])


def select_features(user_table: Mapping[str, np.ndarray],
                    item_table: Mapping[str, np.ndarray], vocab_sizes: Mapping[str, int],
                    *, model: str, user_fields: Sequence[str] | None,
                    item_fields: Sequence[str] | None, use_ids: bool, use_side: bool,
                    use_text: bool, text_proj: int
                    ) -> tuple[tuple[FieldSpec, ...], tuple[FieldSpec, ...]]:
  """Selects the user and item fields of a model and checks the whole selection.

  Args:
    user_table, item_table: the feature tables.
    vocab_sizes: field -> vocabulary size.
    model: the model's name, for error messages.
    user_fields, item_fields: side fields (``None`` = all), see ``select_fields``.
    use_ids: include ``user_id`` / ``item_id``.
    use_side: include the side fields.
    use_text: the model projects ``item_table["text"]`` to ``text_proj`` dims.
    text_proj: width of the text projection.

  Returns:
    ``(user_specs, item_specs)``.

  Raises:
    ValueError: nothing is selected, ``use_text`` with ``text_proj < 1`` or without
      ``item_table["text"]``, the item representation is empty (no item field and
      no text), or a field is invalid (see ``select_fields``).
  """
  if not (use_ids or use_side or use_text):
    raise ValueError(f"{model}: nothing selected; set use_ids, use_side or use_text")
  if use_text:
    if text_proj < 1:
      raise ValueError(f"{model}: use_text=True needs text_proj >= 1, got {text_proj}")
    text_width(item_table)
  user_specs = select_fields(user_table, vocab_sizes, kind="user", fields=user_fields,
                             use_ids=use_ids, use_side=use_side)
  item_specs = select_fields(item_table, vocab_sizes, kind="item", fields=item_fields,
                             use_ids=use_ids, use_side=use_side)
  if not item_specs and not use_text:
    raise ValueError(f"{model}: the item representation is empty (no item field "
                     "selected and no text); select item fields, ids or text")
  return user_specs, item_specs


def device_table(table: Mapping[str, np.ndarray], specs: Sequence[FieldSpec],
                 use_text: bool = False) -> dict[str, jax.Array]:
  """Converts the selected fields (and their masks, and ``"text"``) to jnp arrays.

  Returns:
    ``{field: int32[N(, m)], "<field>_mask": float32[N, m], "text": float32[N, d]}``
    restricted to ``specs`` (``"text"`` only when ``use_text``).
  """
  out = {}
  for spec in specs:
    out[spec.name] = jnp.asarray(table[spec.name], jnp.int32)
    if spec.multi_hot:
      mask_key = spec.name + MASK_SUFFIX
      out[mask_key] = jnp.asarray(table[mask_key], jnp.float32)
  if use_text:
    out[TEXT] = jnp.asarray(table[TEXT], jnp.float32)
  return out


def gather(table: Mapping[str, jax.Array], idx: jax.Array) -> dict[str, jax.Array]:
  """Rows ``idx`` of every array in ``table``: ``[N, ...] -> idx.shape + [...]``."""
  return {k: v[idx] for k, v in table.items()}


def user_row(users: Mapping[str, jax.Array], user: jax.Array | Mapping[str, jax.Array]
             ) -> dict[str, jax.Array]:
  """The user's feature row: ``gather(users, user)`` for an ``int32[]`` index, or
  ``user`` itself when it already is a row (``{field: int32[] or int32[m], ...}``,
  e.g. a new user's row built at serving time, a runtime input)."""
  return dict(user) if isinstance(user, Mapping) else gather(users, user)
