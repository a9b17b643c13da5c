"""Where training runs, and what data-parallel training processes agree on (DD-PPO style).

With ``devices * num_nodes > 1`` Lightning's DDP strategy runs one training process (a rank) per device:
its launcher re-runs ``train.py`` with the same arguments (torchrun and SLURM start the processes
themselves), it forms the process group (gloo on CPUs, nccl on GPUs) and DDP averages the gradients in
each backward pass, so every rank takes the same optimizer steps from the same weights. Each rank owns
``n_envs`` envs, seeded apart by :func:`rank_seed`, and collects its own rollout. What else they must
share is exchanged once per update by :class:`RankGroup`: the env steps taken (the budget and the
schedules count every rank's), stop requests, the observation/reward normalization statistics and the
finished episodes. Rank 0 alone writes the run folder, logs and evaluates.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from utils.errors import UserError

#: rank r seeds its envs and generators with seed + r * RANK_SEED_OFFSET (mod 2**32): beyond any n_envs
#: (sub-env i of a rank takes seed + i) and the evaluation envs' seed + 100_000
RANK_SEED_OFFSET = 1_000_000


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s envs and random generators; rank 0 keeps ``seed``.

    >>> rank_seed(42, 0), rank_seed(42, 3), rank_seed(2**32 - 1, 1)
    (42, 3000042, 999999)
    """
    return (seed + rank * RANK_SEED_OFFSET) % 2**32


@dataclass(frozen=True)
class Placement:
    """Where training runs: Lightning's accelerator (``cpu`` or ``cuda``), devices per machine, machines."""

    accelerator: str
    devices: int
    num_nodes: int
    reason: str

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes

    def describe(self, n_envs: int) -> str:
        """One console line: where the network runs and why; with several processes, how many and how."""
        where = "a GPU" if self.accelerator == "cuda" else "the CPU"
        if self.world_size == 1:
            return f"training on {where} ({self.reason})"
        backend = "nccl" if self.accelerator == "cuda" else "gloo"
        machines = f" on each of {self.num_nodes} machines" if self.num_nodes > 1 else ""
        unit = "GPU" if self.accelerator == "cuda" else "CPU"
        return (f"training data-parallel: {self.world_size} processes ({self.devices} {unit} processes{machines}, "
                f"DDP over {backend}), {n_envs} envs each ({self.reason})")


def resolve_placement(config: Any) -> Placement:
    """The config's accelerator made concrete; asking for GPUs this machine lacks is a UserError.

    ``auto`` puts the cnn policy on GPUs when this machine has one for each of ``devices``, and keeps MLPs
    on the CPU: for networks that small a GPU's per-call latency costs more than its arithmetic saves.
    """
    kind, devices, nodes = config.accelerator, config.devices, config.num_nodes
    launched = os.environ.get("WORLD_SIZE", "").strip()  # set by torchrun (and by Lightning for its ranks)
    if launched.isdigit() and int(launched) != devices * nodes:
        raise UserError(f"the launcher started {launched} training processes, but devices {devices} x num_nodes "
                        f"{nodes} is {devices * nodes}: pass --devices (processes per machine, torchrun's "
                        f"--nproc_per_node) and --num_nodes to match")
    if nodes > 1 and not any(os.environ.get(name) for name in ("MASTER_ADDR", "SLURM_JOB_NODELIST")):
        raise UserError(f"num_nodes {nodes}: set MASTER_ADDR (the address of the machine with NODE_RANK=0), "
                        f"MASTER_PORT and NODE_RANK on every machine, or start the processes with torchrun or SLURM")
    if kind == "cpu":
        return _cpu_placement(devices, nodes, "accelerator cpu")
    if kind == "auto" and config.policy != "cnn":
        return _cpu_placement(devices, nodes, "accelerator auto: an mlp policy runs faster on the CPU")
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if kind == "gpu":
        if gpus == 0:
            raise UserError("accelerator gpu: torch finds no CUDA GPU on this machine; use --accelerator cpu or auto")
        if devices > gpus:
            raise UserError(f"devices {devices} with accelerator gpu: this machine has {gpus} GPU"
                            f"{'s' if gpus > 1 else ''} (devices counts GPUs per machine)")
        return Placement("cuda", devices, nodes, "accelerator gpu")
    if gpus == 0:
        return _cpu_placement(devices, nodes, "accelerator auto: a cnn policy, but no GPU here")
    if devices > gpus:
        return _cpu_placement(devices, nodes, f"accelerator auto: a cnn policy, but {devices} devices and {gpus} "
                                              f"GPU{'s' if gpus > 1 else ''}")
    return Placement("cuda", devices, nodes, "accelerator auto: a cnn policy and a GPU")


def _cpu_placement(devices: int, nodes: int, reason: str) -> Placement:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if devices > cores:
        raise UserError(f"devices {devices} on the CPU: this machine gives this process {cores} core"
                        f"{'s' if cores > 1 else ''}, and more training processes than cores only slow each other "
                        f"down (each also steps its envs)")
    return Placement("cpu", devices, nodes, reason)


class RankGroup:
    """The ranks of this training, once Lightning has formed their process group: small collectives.

    Values travel as float64 (exact for counts up to 2**53); with nccl they go through the GPU.
    """

    def __init__(self, device: Any):
        import torch
        import torch.distributed as dist

        self._dist = dist
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self._device = device if dist.get_backend() == "nccl" else torch.device("cpu")

    def sum(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        """Element-wise sums over the ranks."""
        import torch

        tensor = torch.as_tensor(np.asarray(values, dtype=np.float64), device=self._device)
        self._dist.all_reduce(tensor)
        return tensor.cpu().numpy()

    def mean(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        """Element-wise means over the ranks."""
        return self.sum(values) / self.world_size

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        out: list[Any] = [None] * self.world_size
        self._dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj``, on every rank."""
        box = [obj]
        self._dist.broadcast_object_list(box, src=0)
        return box[0]


class StatisticsSync:
    """Keeps the ranks' running mean/variance statistics (observation and reward normalization) equal.

    Between two syncs each rank folds its own samples into statistics that started equal, ``(m0, v0, c0)``.
    Sums over ranks of ``c``, ``c (m - m0)`` and ``c (v + (m - m0)^2)`` then give the statistics of all
    samples (the shared start counted once), exactly as one process that saw every rank's samples would
    have them; centering on ``m0`` keeps the float64 sums from cancelling.
    """

    def __init__(self, statistics: dict[str, Any]):
        #: gymnasium RunningMeanStd objects (``mean``, ``var``, ``count``), updated in place
        self.statistics = statistics
        self._synced: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
        self.mark_synced()

    def mark_synced(self) -> None:
        """Take the current statistics as the shared starting point (equal on every rank)."""
        self._synced = {key: (np.array(rms.mean, dtype=np.float64), np.array(rms.var, dtype=np.float64),
                              float(rms.count)) for key, rms in self.statistics.items()}

    def contribution(self) -> np.ndarray:
        """This rank's terms of the sums, flat: per statistic ``[c, c (m - m0)..., c (v + (m - m0)^2)...]``."""
        parts = []
        for key, rms in self.statistics.items():
            mean0 = self._synced[key][0]
            shift = np.asarray(rms.mean, dtype=np.float64) - mean0
            count = float(rms.count)
            parts += [[count], (count * shift).ravel(), (count * (rms.var + shift**2)).ravel()]
        return np.concatenate(parts) if parts else np.zeros(0)

    def apply(self, totals: np.ndarray, world_size: int) -> None:
        """Set every statistic from the summed contributions of ``world_size`` ranks."""
        at = 0
        for key, rms in self.statistics.items():
            mean0, var0, count0 = self._synced[key]
            size = mean0.size
            count = totals[at] - (world_size - 1) * count0
            shift = totals[at + 1:at + 1 + size].reshape(mean0.shape) / count
            second = (totals[at + 1 + size:at + 1 + 2 * size].reshape(mean0.shape)
                      - (world_size - 1) * count0 * var0) / count
            rms.mean, rms.var, rms.count = mean0 + shift, np.maximum(second - shift**2, 0.0), float(count)
            at += 1 + 2 * size
        self.mark_synced()


def interleave(per_rank: Sequence[Sequence[Any]]) -> list[Any]:
    """Items of several ranks merged by their relative position in each rank's list, order kept within a
    rank: the newest of the merged list are then the newest of every rank alike, whatever their counts.

    >>> interleave([[1, 2, 3, 4], [10, 20]])
    [1, 2, 10, 3, 4, 20]
    """
    keyed = [((index + 1) / len(items), rank, item)
             for rank, items in enumerate(per_rank) for index, item in enumerate(items)]
    return [item for *_, item in sorted(keyed, key=lambda entry: entry[:2])]


#: variables by which launchers tell a process its rank (Lightning's launcher and multi-node runs, torchrun)
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK")


def started_as_other_rank() -> bool:
    """Whether a launcher started this process as a rank other than 0, by its variables: what must be known
    before the config is (a W&B sweep's run is joined by rank 0 alone); training itself asks Lightning."""
    return any(os.environ.get(name, "0").strip() not in ("", "0") for name in RANK_VARIABLES)


def state_digest(policy: dict[str, Any], normalization: dict[str, dict[str, Any]]) -> str:
    """sha256 of policy weights (a state dict) and normalization statistics (``normalization_state``): what
    every rank reports at the end of training, equal when the ranks stayed in step. A checkpoint's
    ``policy`` and ``normalization`` give the digest of the rank 0 that wrote it.
    """
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in policy.items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for key, stats in sorted(normalization.items()):
        digest.update(key.encode())
        for part in ("mean", "var", "count"):
            digest.update(np.asarray(stats[part], dtype=np.float64).tobytes())
    return digest.hexdigest()


def lost_rank(exc: BaseException) -> bool:
    """Whether a collective failed because another rank's process is gone: torch's DistError (nccl, stores,
    timeouts), or gloo's transport errors, which torch raises as plain RuntimeErrors."""
    import torch.distributed as dist

    return isinstance(exc, getattr(dist, "DistError", ())) or "gloo/transport" in str(exc)
