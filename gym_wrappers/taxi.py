"""Potential-based reward shaping for Taxi-v4.

Keeps the env's own reward in ``info["original_reward"]`` (set once, so stacked shapers keep the true one).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np

from gym_wrappers.registry import EnvWrapperRegistry
from gym_wrappers.reward_shapers import PotentialBasedRewardShaper, _require_attributes

IN_TAXI = 4  # Taxi's passenger-location index meaning "in the taxi"
MOVES = range(4)  # south, north, east, west


def maze_distances(taxi: Any) -> np.ndarray:
    """``(len(locs), rows, cols)`` shortest-path lengths (in moves, walls respected) from each cell to each of
    Taxi's four locations, read from the env's transition table ``P``."""
    rows, cols = taxi.desc.shape[0] - 2, (taxi.desc.shape[1] - 1) // 2
    neighbours: dict[tuple[int, int], set[tuple[int, int]]] = {}
    for row in range(rows):
        for col in range(cols):
            state = taxi.encode(row, col, 0, 1)  # passenger and destination do not affect moves
            nexts = [nxt for a in MOVES for p, nxt, _, _ in taxi.P[state][a] if p > 0]
            cells = {tuple(int(x) for x in taxi.decode(nxt)[:2]) for nxt in nexts}
            neighbours[(row, col)] = cells - {(row, col)}
    distances = np.full((len(taxi.locs), rows, cols), -1, dtype=np.int64)
    for index, loc in enumerate(taxi.locs):
        # Moves are reversible (a wall blocks both ways), so the distance from the location is the distance to it.
        distances[index][loc] = 0
        queue = deque([tuple(loc)])
        while queue:
            cell = queue.popleft()
            for nxt in neighbours[cell]:
                if distances[index][nxt] < 0:
                    distances[index][nxt] = distances[index][cell] + 1
                    queue.append(nxt)
    return distances


@EnvWrapperRegistry.register("TaxiV4_RewardShaper")
class TaxiV4_RewardShaper(PotentialBasedRewardShaper, gym.utils.RecordConstructorArgs):
    """Potential-based shaping (Ng et al. 1999): ``reward += gamma * phi(s') - phi(s)``.

    ``phi(s) = scale * (carry_bonus * carrying - distance(taxi, target))``: the target is the passenger until
    it is picked up, then its destination; ``carrying`` is 1 with the passenger aboard; the distance is the
    shortest path around the map's walls (the Manhattan distance ignores them and leaves dead ends, such as
    the pocket at Y, where a policy gets stuck). ``phi = 0`` once the episode terminates (the drop-off), so
    with ``gamma`` equal to the agent's discount the optimal policy is unchanged. Each move towards the target
    earns about +1 and a move away about -1 on top of the env's -1; a legal pick-up about
    ``scale * (carry_bonus - distance to the destination)`` > 0; the drop-off ``20 - scale * carry_bonus``.

    >>> import gymnasium as gym
    >>> env = TaxiV4_RewardShaper(gym.make("Taxi-v4"), gamma=1.0)
    >>> _ = env.reset(seed=0)
    >>> [int(i) for i in env.unwrapped.decode(env.unwrapped.s)]  # taxi (row, col), passenger at locs[3] = (4, 3)
    [3, 0, 3, 2]
    >>> _, reward, _, _, info = env.step(1)  # north: out of the dead end at Y, one move closer to the passenger
    >>> info["original_reward"], reward
    (-1, 0.0)
    """

    carry_bonus = 10.0  # > the longest distance (8), so a legal pick-up always pays

    def __init__(self, env: gym.Env, gamma: float = 0.99, scale: float = 1.0) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, gamma=gamma, scale=scale)
        gym.Wrapper.__init__(self, env)
        _require_attributes(env, "TaxiV4_RewardShaper", ("decode", "encode", "locs", "desc", "P"), "Taxi")
        self.gamma = float(gamma)
        self.scale = float(scale)
        self.distances = maze_distances(env.unwrapped)
        self._potential = 0.0

    def potential(self) -> float:
        """phi of the env's current state."""
        unwrapped = self.env.unwrapped
        # The env's state, not obs: an outer observation wrapper (DiscreteEncoder) may have changed obs.
        row, col, passenger, destination = unwrapped.decode(unwrapped.s)
        carrying = passenger == IN_TAXI
        distance = self.distances[destination if carrying else passenger, row, col]
        return self.scale * (self.carry_bonus * float(carrying) - float(distance))
