"""Action distributions, one per Gymnasium action space, chosen in one place: :func:`make_action_head`.

A head turns the policy network's raw outputs (``params``) into actions, log-probabilities and
entropies with plain tensor operations. ``torch.distributions`` objects are avoided on purpose: building
one costs ~200 us per call, more than the whole MLP forward pass on a CartPole batch, and sampling from
logits with ``torch.multinomial`` draws exactly what ``Categorical(logits=...).sample()`` draws.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor, nn
from torch.nn import functional as F

from utils.errors import ConfigError

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class ActionHead(nn.Module):
    """Maps network outputs to actions; subclasses define one action space's distribution."""

    n_params: int  # width of the network output this head consumes
    action_shape: tuple[int, ...]  # shape of one action in the rollout buffer
    action_dtype: torch.dtype

    def sample(self, params: Tensor, deterministic: bool = False) -> Tensor:
        """Draw actions (the mode when ``deterministic``)."""
        raise NotImplementedError

    def log_prob_entropy(self, params: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """Log-probability of ``actions`` and the entropy, both of shape ``(batch,)``."""
        raise NotImplementedError

    def log_prob(self, params: Tensor, actions: Tensor) -> Tensor:
        """Log-probability of ``actions``, shape ``(batch,)``."""
        return self.log_prob_entropy(params, actions)[0]

    def to_env(self, actions: Tensor) -> np.ndarray:
        """Actions as the environment expects them."""
        return actions.cpu().numpy()

    def describe(self, params: Tensor) -> dict[str, Tensor]:
        """The distribution in numbers a person reads, each ``(batch, n)``: ``probs`` for discrete heads,
        ``mean`` and ``std`` for continuous ones."""
        raise NotImplementedError


class CategoricalHead(ActionHead):
    """``Discrete(n)``: a softmax over ``n`` logits."""

    action_dtype = torch.int64

    def __init__(self, space: spaces.Discrete):
        super().__init__()
        self.n_params = int(space.n)
        self.action_shape = ()
        self.start = int(space.start)

    def sample(self, params: Tensor, deterministic: bool = False) -> Tensor:
        if deterministic:
            return params.argmax(-1)
        return torch.multinomial(params.softmax(-1), 1).squeeze(-1)

    def log_prob_entropy(self, params: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        log_p = params.log_softmax(-1)
        entropy = -(log_p.exp() * log_p).sum(-1)
        return log_p.gather(-1, actions.unsqueeze(-1)).squeeze(-1), entropy

    def log_prob(self, params: Tensor, actions: Tensor) -> Tensor:
        return params.log_softmax(-1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)

    def to_env(self, actions: Tensor) -> np.ndarray:
        return (actions.cpu() + self.start).numpy() if self.start else actions.cpu().numpy()

    def describe(self, params: Tensor) -> dict[str, Tensor]:
        """``probs``: each action's probability."""
        return {"probs": params.softmax(-1)}


class MultiCategoricalHead(ActionHead):
    """``MultiDiscrete(nvec)``: independent softmaxes, one per dimension."""

    action_dtype = torch.int64

    def __init__(self, space: spaces.MultiDiscrete):
        super().__init__()
        if space.nvec.ndim != 1:
            raise ConfigError(f"MultiDiscrete action spaces must be 1-D, got nvec shape {space.nvec.shape}")
        self.sizes = [int(n) for n in space.nvec]
        self.n_params = sum(self.sizes)
        self.action_shape = (len(self.sizes),)
        self.register_buffer("start", torch.as_tensor(space.start, dtype=torch.int64), persistent=False)

    def sample(self, params: Tensor, deterministic: bool = False) -> Tensor:
        chunks = params.split(self.sizes, dim=-1)
        if deterministic:
            return torch.stack([c.argmax(-1) for c in chunks], dim=-1)
        return torch.stack([torch.multinomial(c.softmax(-1), 1).squeeze(-1) for c in chunks], dim=-1)

    def log_prob_entropy(self, params: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        log_prob = entropy = 0
        for i, chunk in enumerate(params.split(self.sizes, dim=-1)):
            log_p = chunk.log_softmax(-1)
            log_prob = log_prob + log_p.gather(-1, actions[..., i : i + 1]).squeeze(-1)
            entropy = entropy - (log_p.exp() * log_p).sum(-1)
        return log_prob, entropy

    def to_env(self, actions: Tensor) -> np.ndarray:
        return (actions.cpu() + self.start.cpu()).numpy()

    def describe(self, params: Tensor) -> dict[str, Tensor]:
        """``probs``: each dimension's choice probabilities, concatenated in dimension order."""
        return {"probs": torch.cat([chunk.softmax(-1) for chunk in params.split(self.sizes, dim=-1)], dim=-1)}


class BernoulliHead(ActionHead):
    """``MultiBinary(n)``: independent Bernoulli variables from logits."""

    action_dtype = torch.float32

    def __init__(self, space: spaces.MultiBinary):
        super().__init__()
        self.action_shape = tuple(int(n) for n in np.atleast_1d(space.n))
        self.n_params = int(np.prod(self.action_shape))

    def sample(self, params: Tensor, deterministic: bool = False) -> Tensor:
        params = params.view(-1, *self.action_shape)
        if deterministic:
            return (params > 0).float()
        return torch.bernoulli(params.sigmoid())

    def log_prob_entropy(self, params: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        params = params.view(actions.shape)
        log_prob = -F.binary_cross_entropy_with_logits(params, actions, reduction="none")
        p = params.sigmoid()
        entropy = F.binary_cross_entropy_with_logits(params, p, reduction="none")
        dims = tuple(range(1, actions.dim()))
        return log_prob.sum(dims), entropy.sum(dims)

    def to_env(self, actions: Tensor) -> np.ndarray:
        return actions.cpu().to(torch.int8).numpy()

    def describe(self, params: Tensor) -> dict[str, Tensor]:
        """``probs``: each variable's probability of being 1."""
        return {"probs": params.sigmoid().reshape(params.shape[0], -1)}


class GaussianHead(ActionHead):
    """``Box``: a diagonal Gaussian with a learned, state-independent log standard deviation.

    Actions are stored unclipped (their log-probabilities stay exact) and clipped to the space's
    bounds only on their way to the environment.
    """

    action_dtype = torch.float32

    def __init__(self, space: spaces.Box, log_std_init: float = 0.0):
        super().__init__()
        self.action_shape = tuple(space.shape)
        self.n_params = int(np.prod(space.shape))
        self.log_std = nn.Parameter(torch.full((self.n_params,), float(log_std_init)))
        self.low = space.low.astype(np.float32)
        self.high = space.high.astype(np.float32)

    def sample(self, params: Tensor, deterministic: bool = False) -> Tensor:
        if deterministic:
            return params.view(-1, *self.action_shape)
        noise = torch.randn_like(params) * self.log_std.exp()
        return (params + noise).view(-1, *self.action_shape)

    def log_prob_entropy(self, params: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        z = (actions.reshape(params.shape) - params) * torch.exp(-self.log_std)
        log_prob = (-0.5 * z.square() - self.log_std - _LOG_SQRT_2PI).sum(-1)
        entropy = (0.5 + _LOG_SQRT_2PI + self.log_std).sum().expand(params.shape[0])
        return log_prob, entropy

    def to_env(self, actions: Tensor) -> np.ndarray:
        return np.clip(actions.cpu().numpy(), self.low, self.high)

    def describe(self, params: Tensor) -> dict[str, Tensor]:
        """``mean`` and ``std`` of each action dimension (before clipping to the bounds)."""
        return {"mean": params, "std": self.log_std.exp().expand_as(params)}


def make_action_head(space: spaces.Space) -> ActionHead:
    """The distribution head for an action space: the one place that dispatches on its type."""
    if isinstance(space, spaces.Discrete):
        return CategoricalHead(space)
    if isinstance(space, spaces.MultiDiscrete):
        return MultiCategoricalHead(space)
    if isinstance(space, spaces.MultiBinary):
        return BernoulliHead(space)
    if isinstance(space, spaces.Box):
        return GaussianHead(space)
    raise ConfigError(
        f"unsupported action space {space}: supported are Discrete, MultiDiscrete, MultiBinary and Box"
    )
