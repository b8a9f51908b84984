"""Which task each micro-batch comes from, and the per-task batch streams that feed the training loop.

    accelerate launch recipes/multitask.py multitask.sampling=size        # p(task) ~ its training size
    accelerate launch recipes/multitask.py multitask.temperature=3        # p(task) ~ n ** (1 / 3)

A single-task run is the one-task case: every micro-batch comes from that task and an epoch is one pass over it.
An epoch always holds a whole number of optimizer steps (``steps * grad_accum_steps`` micro-batches), so an
accumulation window never spans two epochs and never ends early because one task's loader ran out.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from accelerate import Accelerator


def task_sampling_weights(sizes: dict[str, int], sampling: str, temperature: float) -> dict[str, float]:
    """How often each task's batches are drawn, summing to 1: ``p_t ∝ n_t`` (``size``) or
    ``p_t ∝ n_t ** (1 / temperature)`` (``temperature``)."""
    power = 1.0 if sampling == "size" else 1.0 / temperature
    weights = {name: float(n) ** power for name, n in sizes.items()}
    total = sum(weights.values())
    return {name: w / total for name, w in weights.items()}


def task_schedule(task_weights: dict[str, float], num_batches: int, seed: int, epoch: int) -> list[str]:
    """The task of each micro-batch of an epoch. It depends only on the seed and the epoch, so every process (and
    every rerun) draws the same sequence and the processes of a step always work on the same task."""
    names = list(task_weights)
    if len(names) == 1:
        return names * num_batches
    rng = np.random.default_rng([seed, epoch])
    picks = rng.choice(len(names), size=num_batches, p=np.asarray([task_weights[n] for n in names]))
    return [names[i] for i in picks]


def epoch_micro_batches(batches_per_task: dict[str, int], grad_accum: int) -> tuple[int, int]:
    """``(optimizer steps, micro-batches)`` of one epoch: every task's batches once, rounded up to whole steps."""
    steps = math.ceil(sum(batches_per_task.values()) / grad_accum)
    return steps, steps * grad_accum


class TaskStreams:
    """Endless per-task batch streams: a task's loader restarts (with the next shuffling epoch) when it runs out.

    The position of each stream (passes started, batches taken in the current pass) is part of the checkpoint,
    so a resumed run continues every stream where it stopped.
    """

    def __init__(self, loaders: dict[str, Any], accelerator: Accelerator, samplers: dict[str, Any]) -> None:
        self.loaders = loaders
        self.accelerator = accelerator
        self.samplers = samplers
        self.passes = dict.fromkeys(loaders, -1)
        self.taken = dict.fromkeys(loaders, 0)
        self._iterators: dict[str, Any] = {}

    def state(self) -> dict[str, dict[str, int]]:
        return {"passes": dict(self.passes), "taken": dict(self.taken)}

    def restore(self, state: dict[str, dict[str, int]]) -> None:
        """Continue each stream at the recorded pass and batch (skipping the batches already trained on)."""
        for name in self.loaders:
            self.passes[name] = state["passes"][name]
            self.taken[name] = state["taken"][name]
            if self.passes[name] >= 0:
                self._start(name, skip=self.taken[name])

    def _start(self, name: str, skip: int = 0) -> None:
        loader = self.loaders[name]
        epoch = max(self.passes[name], 0)
        if hasattr(self.samplers[name], "set_epoch"):
            self.samplers[name].set_epoch(epoch)
        loader.set_epoch(epoch)
        source = self.accelerator.skip_first_batches(loader, skip) if skip else loader
        self._iterators[name] = iter(source)

    def next(self, name: str) -> dict[str, Any]:
        if name in self._iterators:
            batch = next(self._iterators[name], None)
            if batch is not None:
                self.taken[name] += 1
                return batch
        self.passes[name] += 1
        self.taken[name] = 0
        self._start(name)
        self.taken[name] = 1
        return next(self._iterators[name])
