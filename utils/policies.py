"""Actor-critic networks: an MLP for vector observations and a Nature-style CNN for images.

Both return ``(params, values)``: the action head's raw parameters and the critic's value estimate.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor, nn
from torch.nn import functional as F

from utils.distributions import ActionHead, make_action_head
from utils.errors import ConfigError

#: the smallest image side the Nature CNN's convolutions (8/4, 4/2, 3/1) leave a pixel of
CNN_MIN_SIZE = 36
#: an MLP beyond this many weights (400 MB in float32, plus Adam's twice that) is a typo, not a policy
MAX_MLP_PARAMETERS = 100_000_000

def fast_tanh(x: Tensor) -> Tensor:
    """tanh(x) as 2*sigmoid(2x) - 1 (same values to 2e-7).

    On the CPU builds measured here ``torch.tanh`` is ~9x slower than ``torch.sigmoid`` (75 vs 8 us on
    256x128); with it, the activations were 40% of a CartPole PPO gradient step.
    """
    return torch.sigmoid(2 * x) * 2 - 1


ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": fast_tanh,
    "relu": F.relu,
    "elu": F.elu,
    "gelu": F.gelu,
    "leaky_relu": F.leaky_relu,
}


class ActorCritic(nn.Module):
    """A policy network with an action head; subclasses define ``forward``."""

    head: ActionHead
    #: True when actor() costs a whole forward() (one trunk for both heads): a rollout then takes the values
    #: from the same pass at each step instead of a second pass over the whole rollout afterwards
    shared_trunk: bool = False
    #: run the heads in float32 under autocast (set for precision bf16-mixed; see head_output)
    float32_heads: bool = False

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """Action-head parameters ``(batch, n_params)`` and values ``(batch,)``."""
        raise NotImplementedError

    def actor(self, obs: Tensor) -> Tensor:
        """Action-head parameters only: what choosing an action needs (subclasses may skip the critic)."""
        return self(obs)[0]

    def head_output(self, layer: nn.Linear, h: Tensor) -> Tensor:
        """``layer(h)``; in float32 under autocast when ``float32_heads``.

        bfloat16 keeps 8 significant bits: a log-probability of -1.8 would move in steps of 0.008, and PPO's
        ratio in steps of 0.8%, with the rounding rather than the policy. The heads are a sliver of the work.
        """
        if self.float32_heads and torch.is_autocast_enabled(h.device.type):
            with torch.autocast(h.device.type, enabled=False):
                return layer(h.float())
        return layer(h)

    def act(self, obs: Tensor, deterministic: bool = False) -> Tensor:
        """Actions for a batch of observations, without gradients."""
        with torch.inference_mode():
            return self.head.sample(self.actor(obs), deterministic)

    def evaluate_actions(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(log_probs, entropy, values)`` of ``actions``, with gradients."""
        params, values = self(obs)
        log_probs, entropy = self.head.log_prob_entropy(params, actions)
        return log_probs, entropy, values


def _orthogonal_(weight: Tensor, gain: float) -> None:
    """Orthogonal init (SB3/CleanRL's choice for PPO); ``weight`` is ``(out, in)``."""
    nn.init.orthogonal_(weight, gain)


def _as_float(obs: Tensor) -> Tensor:
    """uint8 observations (frames, RAM) are scaled to [0, 1] inside the network, so rollouts keep them small."""
    if obs.dtype == torch.uint8:
        return obs.float().div_(255.0)
    return obs.float()


class MLPActorCritic(ActorCritic):
    """Separate actor and critic MLP towers, evaluated as one stacked network.

    The towers' first layers are one matrix product and their deeper layers one batched matrix product,
    so a forward/backward pass costs half the operations of two ``nn.Sequential`` towers. On tiny
    batches (CartPole: 256 x 4) per-operation overhead, not arithmetic, is what PPO's update pays for.
    """

    def __init__(self, obs_dim: int, head: ActionHead, hidden_dims: tuple[int, ...], activation: str):
        super().__init__()
        if not hidden_dims:
            raise ConfigError("hidden_dims must name at least one layer for the mlp policy")
        self.head = head
        self.activation = ACTIVATIONS[activation]
        gain = math.sqrt(2)
        first = hidden_dims[0]
        self.input_layer = nn.Linear(obs_dim, 2 * first)
        for tower in range(2):
            _orthogonal_(self.input_layer.weight.data[tower * first : (tower + 1) * first], gain)
        self.input_layer.bias.data.zero_()
        self.hidden_weights = nn.ParameterList()
        self.hidden_biases = nn.ParameterList()
        for size_in, size_out in zip(hidden_dims[:-1], hidden_dims[1:]):
            weight = torch.empty(2, size_in, size_out)
            for tower in range(2):
                _orthogonal_(weight[tower].T, gain)
            self.hidden_weights.append(nn.Parameter(weight))
            self.hidden_biases.append(nn.Parameter(torch.zeros(2, 1, size_out)))
        self.policy_layer = nn.Linear(hidden_dims[-1], head.n_params)
        self.value_layer = nn.Linear(hidden_dims[-1], 1)
        _orthogonal_(self.policy_layer.weight.data, 0.01)
        _orthogonal_(self.value_layer.weight.data, 1.0)
        self.policy_layer.bias.data.zero_()
        self.value_layer.bias.data.zero_()

    def actor(self, obs: Tensor) -> Tensor:
        # the actor tower alone: half the work of forward, for every env step of a rollout
        first = self.input_layer.out_features // 2
        h = self.activation(F.linear(_as_float(obs).flatten(1), self.input_layer.weight[:first], self.input_layer.bias[:first]))
        for weight, bias in zip(self.hidden_weights, self.hidden_biases):
            h = self.activation(torch.addmm(bias[0], h, weight[0]))
        return self.head_output(self.policy_layer, h)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        x = _as_float(obs).flatten(1)
        h = self.activation(self.input_layer(x))
        h = h.view(x.shape[0], 2, -1).transpose(0, 1)  # (tower, batch, hidden)
        for weight, bias in zip(self.hidden_weights, self.hidden_biases):
            h = self.activation(torch.baddbmm(bias, h, weight))
        actor, critic = h.unbind(0)  # one backward op for both, where indexing would take two
        return self.head_output(self.policy_layer, actor), self.head_output(self.value_layer, critic).squeeze(-1)


def _channels_first_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(C, H, W) for image observations given as (C,H,W), (H,W,C) or stacked (K,H,W,C)."""
    if len(shape) == 4:
        k, h, w, c = shape
        return k * c, h, w
    if len(shape) == 3:
        if shape[-1] in (1, 3, 4) and shape[0] not in (1, 3, 4):
            h, w, c = shape
            return c, h, w
        return shape  # type: ignore[return-value]
    if len(shape) == 2:
        return (1, *shape)  # type: ignore[return-value]
    raise ConfigError(f"the cnn policy needs image observations, got shape {shape}")


class CNNActorCritic(ActorCritic):
    """The Nature DQN convolutional trunk (Mnih et al., 2015) shared by actor and critic heads."""

    shared_trunk = True

    def __init__(self, obs_shape: tuple[int, ...], head: ActionHead):
        super().__init__()
        self.head = head
        self.obs_shape = tuple(obs_shape)
        c, h, w = _channels_first_shape(self.obs_shape)
        self.channels_last = len(obs_shape) == 4 or (len(obs_shape) == 3 and (c, h, w) != tuple(obs_shape))
        self.trunk = nn.Sequential(
            nn.Conv2d(c, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.trunk(torch.zeros(1, c, h, w)).shape[1]
        self.features = nn.Linear(n_flat, 512)
        self.policy_layer = nn.Linear(512, head.n_params)
        self.value_layer = nn.Linear(512, 1)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                _orthogonal_(module.weight.data, math.sqrt(2))
                module.bias.data.zero_()
        _orthogonal_(self.policy_layer.weight.data, 0.01)
        _orthogonal_(self.value_layer.weight.data, 1.0)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        x = _as_float(obs)
        if self.channels_last:  # (B, [K,] H, W, C) -> (B, K*C, H, W)
            x = x.movedim(-1, -3).flatten(1, 2) if x.dim() == 5 else x.movedim(-1, 1)
        elif x.dim() == 3:
            x = x.unsqueeze(1)
        z = F.relu(self.features(self.trunk(x)))
        return self.head_output(self.policy_layer, z), self.head_output(self.value_layer, z).squeeze(-1)


def build_policy(config: Any, observation_space: spaces.Space, action_space: spaces.Space) -> ActorCritic:
    """The config's policy network for these (single-env) spaces."""
    if not isinstance(observation_space, spaces.Box):
        raise ConfigError(
            f"observation space {observation_space} is not a Box: add an encoder wrapper "
            "(e.g. env_wrappers: [{id: DiscreteEncoder, encoding: onehot}])"
        )
    head = make_action_head(action_space)
    if config.policy == "cnn":
        c, h, w = _channels_first_shape(tuple(observation_space.shape))
        if min(h, w) < CNN_MIN_SIZE:  # the Nature CNN's three convolutions would leave nothing
            raise ConfigError(f"policy cnn needs images of at least {CNN_MIN_SIZE}x{CNN_MIN_SIZE} pixels; the "
                              f"observations are {h}x{w} (shape {tuple(observation_space.shape)})")
        policy: ActorCritic = CNNActorCritic(observation_space.shape, head)
    else:
        policy = _mlp(config, observation_space, head)
    policy.float32_heads = config.precision == "bf16-mixed"
    return policy


def _mlp(config: Any, observation_space: spaces.Box, head: ActionHead) -> MLPActorCritic:
    obs_dim = int(np.prod(observation_space.shape))
    sizes = [obs_dim, *config.hidden_dims]
    n_params = sum(a * b for a, b in zip(sizes, sizes[1:])) + sizes[-1] * (head.n_params + 1)
    if n_params > MAX_MLP_PARAMETERS:  # checked before torch tries to allocate it
        raise ConfigError(f"the MLP would have {n_params:,} weights ({obs_dim:,} inputs, hidden_dims "
                          f"{list(config.hidden_dims)}); at most {MAX_MLP_PARAMETERS:,}: use smaller layers"
                          + ("" if len(observation_space.shape) < 3 else " or policy: cnn for images"))
    return MLPActorCritic(obs_dim, head, tuple(config.hidden_dims), config.activation)


def load_policy_weights(policy: ActorCritic, weights: dict[str, Tensor], source: str) -> None:
    """Load ``weights`` into ``policy`` after checking they fit; a mismatch is one ConfigError line naming the
    first parameter that differs (a changed hidden_dims, another env's checkpoint, a damaged file)."""
    expected = policy.state_dict()
    missing = [name for name in expected if name not in weights]
    unexpected = [name for name in weights if name not in expected]
    if missing:
        detail = f"it lacks {missing[0]}"
    elif unexpected:
        detail = f"it has an unexpected {unexpected[0]}"
    else:
        detail = next((
            f"{name} is {list(weights[name].shape)} {weights[name].dtype} in it, {list(tensor.shape)} {tensor.dtype} here"
            for name, tensor in expected.items()
            if tuple(weights[name].shape) != tuple(tensor.shape) or weights[name].dtype != tensor.dtype), None)
    if detail:
        raise ConfigError(f"{source} does not fit the config's network: {detail} "
                          "(was hidden_dims, policy, frame_stack or the env changed?)")
    policy.load_state_dict(weights)
