r"""PyTorch reference meta-steps for MeLU, for comparison with ``meta_step.py``.

  python benchmarks/torch_reference.py --mode loop --num_steps 5 --batch_size 32
  python benchmarks/torch_reference.py --mode func --num_steps 1 --batch_size 256

Same model, tables, episodes (``workload.ml1m_tables`` / ``synthetic_episodes``
with the same seed) and maths as the jaxrec step: exact second-order MAML,
φ_{k+1} = φ_k − α ∇L_support(φ_k) on the MLP, loss L_query(φ_K) averaged over
the batch, one Adam update of every parameter (embeddings included); masked
mean squared error.

* ``loop``: one task at a time, the way the MeLU reference code trains: the
  fast weights are swapped into the MLP module (``torch.func.functional_call``)
  for every forward, embeddings are looked up inside every forward, the inner
  gradients keep their graph (``create_graph=True``), and the outer backward
  runs once over the summed query losses. Tasks use their real (unpadded) rows.
* ``func``: ``torch.func``: embeddings looked up for the padded batch, then
  ``vmap`` over tasks of ``K`` inner steps of ``grad`` of ``functional_call``,
  and ``grad`` of the mean query loss w.r.t. all parameters.

Prints one JSON object: tasks/s (median over ``--reps`` timed batches after
``--warmup``) and the peak resident-memory growth over the meta-steps, warm-up
included (``VmHWM`` minus the resident size before them, /proc/self/status; the
high-water mark is process-wide, so run one configuration per process). Torch
uses ``--threads`` intra-op threads, by default as many as there are cores (on a
machine shared with other processes, fewer threads can be much faster).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from benchmarks import workload  # noqa: E402
from jaxrec.data.batching import pad_batch  # noqa: E402

Batch = dict[str, dict[str, torch.Tensor]]


class MeLU(nn.Module):
  """MeLU in torch: one 32-wide embedding per field (multi-hot fields masked
  means), ``MLP([e(user); e(item)])`` with ReLU layers ``hidden`` and a scalar
  output; the tables are buffers indexed by user / item id."""

  def __init__(self, user: dict[str, np.ndarray], item: dict[str, np.ndarray],
               vocab: dict[str, int], embed_dim: int = 32,
               hidden: Sequence[int] = (64, 64)):
    super().__init__()
    self.user_fields = [k for k in user if not k.endswith("_mask")]
    self.item_fields = [k for k in item if not k.endswith("_mask")]
    self.embed = nn.ModuleDict({f: nn.Embedding(vocab[f], embed_dim)
                                for f in self.user_fields + self.item_fields})
    for name, table in (("user", user), ("item", item)):
      for key, value in table.items():
        self.register_buffer(f"{name}_{key}", torch.from_numpy(value))
    widths = [embed_dim * len(self.embed)] + list(hidden)
    layers = []
    for w_in, w_out in zip(widths[:-1], widths[1:]):
      layers += [nn.Linear(w_in, w_out), nn.ReLU()]
    self.mlp = nn.Sequential(*layers, nn.Linear(widths[-1], 1))

  def _field(self, kind: str, field: str, ids: torch.Tensor) -> torch.Tensor:
    """Embedding of ``field`` for rows ``ids`` (masked mean when multi-hot)."""
    values = getattr(self, f"{kind}_{field}")[ids]
    emb = self.embed[field](values.long())
    if values.dim() == ids.dim():
      return emb
    mask = getattr(self, f"{kind}_{field}_mask")[ids]
    count = mask.sum(-1, keepdim=True)
    return (emb * mask[..., None]).sum(-2) / torch.where(count > 0, count, 1.0)

  def forward(self, user: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """``[*b]`` users, ``[*b, S]`` items -> MLP inputs ``[*b, S, 256]``."""
    users = [self._field("user", f, user) for f in self.user_fields]
    users = [u[..., None, :].expand(*items.shape, -1) for u in users]
    return torch.cat(users + [self._field("item", f, items) for f in self.item_fields],
                     dim=-1)


def masked_mse(scores: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
               ) -> torch.Tensor:
  """``Σ m (s − y)² / max(Σ m, 1)`` over the last axis."""
  total = mask.sum(-1)
  return (mask * (scores - y) ** 2).sum(-1) / torch.where(total > 0, total, 1.0)


def mlp_loss(model: MeLU, fast: dict[str, torch.Tensor], x: torch.Tensor,
             y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
  """Masked MSE of the MLP with weights ``fast`` swapped in, on inputs ``x``."""
  return masked_mse(functional_call(model.mlp, fast, (x,))[..., 0], y, mask)


def loop_meta_loss(model: MeLU, batch: Batch, inner_lr: float, num_steps: int
                   ) -> torch.Tensor:
  """Mean query loss after adaptation, one task at a time over its real rows."""
  losses = []
  support, query = batch["support"], batch["query"]
  for b in range(len(support["user"])):
    s_rows = support["mask"][b] > 0
    q_rows = query["mask"][b] > 0
    fast = dict(model.mlp.named_parameters())
    for _ in range(num_steps):
      x = model(support["user"][b], support["item"][b][s_rows])
      loss = mlp_loss(model, fast, x, support["y"][b][s_rows], support["mask"][b][s_rows])
      grads = torch.autograd.grad(loss, list(fast.values()), create_graph=True)
      fast = {k: w - inner_lr * g for (k, w), g in zip(fast.items(), grads)}
    x = model(query["user"][b], query["item"][b][q_rows])
    losses.append(mlp_loss(model, fast, x, query["y"][b][q_rows],
                           query["mask"][b][q_rows]))
  return torch.stack(losses).mean()


def func_meta_loss(model: MeLU, params: dict[str, torch.Tensor], batch: Batch,
                   inner_lr: float, num_steps: int) -> torch.Tensor:
  """Mean query loss after adaptation, ``vmap`` over the padded tasks."""
  support, query = batch["support"], batch["query"]
  xs = functional_call(model, params, (support["user"], support["item"]))
  xq = functional_call(model, params, (query["user"], query["item"]))
  mlp = {k[len("mlp."):]: v for k, v in params.items() if k.startswith("mlp.")}

  def inner(fast, x, y, mask):
    return masked_mse(functional_call(model.mlp, fast, (x,))[..., 0], y, mask)

  def task(xs, ys, ms, xq, yq, mq):
    fast = mlp
    for _ in range(num_steps):
      g = grad(inner)(fast, xs, ys, ms)
      fast = {k: fast[k] - inner_lr * g[k] for k in fast}
    return inner(fast, xq, yq, mq)

  return vmap(task)(xs, support["y"], support["mask"], xq, query["y"],
                    query["mask"]).mean()


def rss_kib(field: str) -> int:
  """A ``/proc/self/status`` memory field in KiB (``VmRSS``, ``VmHWM``)."""
  for line in pathlib.Path("/proc/self/status").read_text().splitlines():
    if line.startswith(field + ":"):
      return int(line.split()[1])
  raise ValueError(f"/proc/self/status has no {field} line")


def to_torch(batch: dict[str, dict[str, np.ndarray]]) -> Batch:
  return {part: {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in d.items()}
          for part, d in batch.items()}


def run(mode: str, num_steps: int, batch_size: int, *, seed: int = 0, warmup: int = 1,
        reps: int = 3, scale: int = 1, max_support: int = 90,
        threads: int | None = None) -> dict[str, Any]:
  """Times ``reps`` meta-steps of ``mode`` on padded batches of ``batch_size``
  with ``threads`` intra-op threads (default: the number of cores).

  Raises:
    ValueError: for an unknown ``mode``.
  """
  if mode not in ("loop", "func"):
    raise ValueError(f"mode must be 'loop' or 'func', got {mode!r}")
  torch.manual_seed(seed)
  torch.set_num_threads(threads or os.cpu_count() or 1)
  user, item, vocab = workload.ml1m_tables(seed, scale)
  model = MeLU(user, item, vocab)
  optimizer = torch.optim.Adam(model.parameters(), lr=workload.OUTER_LR)
  episodes = workload.synthetic_episodes(
      batch_size * (warmup + reps), num_users=len(user["zip"]),
      num_items=len(item["rate"]), seed=seed, max_support=max_support)
  order = np.arange(len(episodes))
  batches = [to_torch(pad_batch(episodes, order[i:i + batch_size],
                                          support_len=max_support, query_len=10))
             for i in range(0, len(episodes), batch_size)]

  def step(batch: Batch) -> float:
    optimizer.zero_grad()
    if mode == "loop":
      loss = loop_meta_loss(model, batch, workload.INNER_LR, num_steps)
      loss.backward()
    else:
      params = dict(model.named_parameters())
      grads = grad(lambda p: func_meta_loss(model, p, batch, workload.INNER_LR,
                                            num_steps))(params)
      for k, p in params.items():
        p.grad = grads[k]
      loss = torch.zeros(())
    optimizer.step()
    return float(loss.detach())

  before = rss_kib("VmRSS")
  for batch in batches[:warmup]:
    step(batch)
  times = []
  for batch in batches[warmup:]:
    start = time.perf_counter()
    step(batch)
    times.append(time.perf_counter() - start)
  return {"framework": "torch", "mode": mode, "num_steps": num_steps,
          "batch_size": batch_size, "threads": torch.get_num_threads(),
          "torch": torch.__version__, "tasks_per_s": batch_size / float(np.median(times)),
          "peak_rss_growth_bytes": 1024 * max(rss_kib("VmHWM") - before, 0)}


def main(argv: Sequence[str]) -> dict[str, Any]:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--mode", choices=("loop", "func"), default="func")
  parser.add_argument("--num_steps", type=int, default=1)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--warmup", type=int, default=1)
  parser.add_argument("--reps", type=int, default=3)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                      help="torch intra-op threads (default: the number of cores)")
  parser.add_argument("--quick", action="store_true", help="small tables, S ≤ 16")
  args = parser.parse_args(argv)
  scale, max_support = ((workload.QUICK_SCALE, 16) if args.quick else (1, 90))
  result = run(args.mode, args.num_steps, args.batch_size, seed=args.seed,
               warmup=args.warmup, reps=args.reps, scale=scale, max_support=max_support,
               threads=args.threads)
  print(json.dumps(result))
  return result


if __name__ == "__main__":
  main(sys.argv[1:])
