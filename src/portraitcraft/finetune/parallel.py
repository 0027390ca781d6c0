"""Data-parallel fine-tuning: several processes (GPUs, machines) share each optimizer step.

    torchrun --nproc-per-node 4 -m portraitcraft.cli finetune --data DATA --model M --out runs/ft
    accelerate launch --num-processes 4 -m portraitcraft.cli finetune --data DATA --model M --out runs/ft

Started by ``torchrun`` or ``accelerate launch`` (which set ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``), `World.from_environment` joins the process group (NCCL on CUDA, gloo on the
CPU) and puts each process on its own GPU (``cuda:LOCAL_RANK``). Without those variables it is one process and
nothing changes.

How a step is shared
    Every process holds the whole model. An optimizer step's micro-batches (``grad_accum`` of them, each
    ``batch_size`` images, drawn by the seeded plan exactly as in one process) are dealt out in turn: process r
    runs micro-batches r, r + N, r + 2N, ... Each scales its losses by the step's number of micro-batches, so
    that the gradients summed over the processes (an all-reduce after the step's last backward pass) are those
    one process accumulates over all of them; then every process clips and updates alike, and the replicas stay
    equal. This is DistributedDataParallel's arithmetic, reduced once per step rather than during the backward
    pass, because the score target's loss runs through the runner's own reading of the model
    (`QwenBackend.slot_probabilities`), not through one ``forward`` a wrapper could see.
Effective batch
    ``batch_size x grad_accum`` images per optimizer step over all processes, whatever their number: both recipes'
    (and the reference script's) 16 = 4 x 4 on 1, 2 or 4 processes (each then runs 4, 2 or 1 micro-batches per
    step). ``grad_accum`` must be
    a multiple of the number of processes (8 processes: ``--batch-size 2 --grad-accum 8``), so that no process
    idles in a full step. The plan, the validation split and the checkpoints do not depend on the number of
    processes: a run resumes on another number of them.
Who writes
    Process 0 alone writes the output folder (checkpoints, ``finetune.json``, the log) and runs the validation;
    the others only train. Failures to start (a folder of other settings, ...) are raised on every process.
FSDP (``strategy="fsdp"``, for a model whose weights, gradients and AdamW state do not fit one GPU)
    torch's ``fully_shard`` on each language-model layer and on the rest: every process keeps 1/N of the weights
    and of the optimizer state, the step is dealt out as above (a process with fewer micro-batches runs
    weightless extra passes, since every pass needs all of them), FSDP averages the gradients (the losses are
    scaled to match), and every process validates (process 0 logs). A checkpoint holds the whole weights and the
    whole optimizer state, gathered on process 0, so it loads in the runner and resumes under either strategy
    and any number of processes. Only the generate target, without LoRA and with ``validation_predict=0``: the
    score target and prediction call parts of the model directly, which sharded parts do not allow.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class World:
    """The processes of one fine-tuning: this one's rank, their number, and this one's GPU index on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # joined by `from_environment` (and so left by `close`)

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @classmethod
    def from_environment(cls) -> World:
        """The world a launcher (torchrun, accelerate launch) described in the environment; one process if none."""
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size <= 1:
            return cls()
        import torch
        import torch.distributed as dist

        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            cuda = torch.cuda.is_available()
            if cuda:
                torch.cuda.set_device(local_rank)
            # Generous: the other processes wait while process 0 alone validates or saves a checkpoint.
            dist.init_process_group(backend="nccl" if cuda else "gloo", timeout=timedelta(hours=12))
            return cls(rank, size, local_rank, owns_group=True)
        return cls(rank, size, local_rank)

    def close(self) -> None:
        """Leave the process group, if this world joined it."""
        if self.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()

    def check(self, batch_size: int, grad_accum: int) -> None:
        """Refuse a step that cannot be dealt out evenly: ``grad_accum`` must be a multiple of the processes."""
        if grad_accum % self.size:
            from portraitcraft.finetune.settings import FinetuneError

            per_step = batch_size * grad_accum
            hint = next((f"--batch-size {per_step // a} --grad-accum {a}" for a in range(self.size, per_step + 1,
                                                                                      self.size) if per_step % a == 0),
                        f"--grad-accum {self.size}")
            raise FinetuneError(
                f"--grad-accum {grad_accum} (micro-batches per optimizer step, over all processes) is not a multiple "
                f"of the {self.size} processes; for the same {per_step} images per step use {hint}")

    def share(self, micro: list[Any]) -> list[Any]:
        """This process's micro-batches of a step: every ``size``-th, starting at its rank."""
        return micro[self.rank::self.size]

    def sum_gradients(self, parameters: Iterable[Any], bucket_elements: int = 2**25) -> None:
        """Sum each parameter's gradient over the processes, in flat buckets of up to ``bucket_elements``. A
        parameter that no process gave a gradient keeps none (the optimizer skips it, as in one process); one that
        only some did gets zeros from the others."""
        if not self.distributed:
            return
        import torch
        import torch.distributed as dist
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        params = list(parameters)
        present = torch.tensor([p.grad is not None for p in params], dtype=torch.int32,
                               device=self._collective_device())
        dist.all_reduce(present, op=dist.ReduceOp.SUM)
        grads = []
        for param, count in zip(params, present.tolist()):
            if count:
                if param.grad is None:
                    param.grad = torch.zeros_like(param)
                grads.append(param.grad)
        buckets: list[list[Any]] = []
        for grad in grads:
            last = buckets[-1] if buckets else None
            full = last is not None and sum(g.numel() for g in last) + grad.numel() > bucket_elements
            if last is None or last[0].dtype != grad.dtype or full:
                buckets.append([grad])
            else:
                last.append(grad)
        for bucket in buckets:
            flat = _flatten_dense_tensors(bucket)
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            for grad, summed in zip(bucket, _unflatten_dense_tensors(flat, bucket)):
                grad.copy_(summed)

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over the processes."""
        if not self.distributed:
            return values
        import torch
        import torch.distributed as dist

        tensor = torch.tensor(values, dtype=torch.float64, device=self._collective_device())
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

    def most(self, value: int) -> int:
        """The largest ``value`` over the processes."""
        if not self.distributed:
            return value
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([value], dtype=torch.int64, device=self._collective_device())
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return int(tensor.item())

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value`` on process 0 (in rank order); an empty list on the others."""
        if not self.distributed:
            return [value]
        import torch.distributed as dist

        gathered = [None] * self.size if self.main else None
        dist.gather_object(value, gathered, dst=0)
        return gathered or []

    def from_main(self, value: Any) -> Any:
        """Process 0's ``value``, on every process."""
        if not self.distributed:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def _collective_device(self):
        import torch
        import torch.distributed as dist

        if dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
