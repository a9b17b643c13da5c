"""Lightning callbacks: evaluation and early stop, checkpoints, videos, metrics logging, Ctrl-C handling."""

from trainer_callbacks.checkpoints import CheckpointCallback
from trainer_callbacks.evaluation import EvalRecord, EvaluationCallback
from trainer_callbacks.interrupt import GracefulInterruptCallback
from trainer_callbacks.metrics_logging import MetricsLoggingCallback
from trainer_callbacks.videos import VideoCallback

__all__ = [
    "CheckpointCallback",
    "EvalRecord",
    "EvaluationCallback",
    "GracefulInterruptCallback",
    "MetricsLoggingCallback",
    "VideoCallback",
]
