"""Class-balanced training order for imbalanced data (``train.weighted_sampler: true``)::

    accelerate launch recipes/aml_alert.py train.weighted_sampler=true

Each draw first picks a class uniformly, then the next example of that class from a per-class shuffled
cycle, so a rare class is revisited (oversampled) and a frequent one thinned within an epoch of the same
length. Like :class:`finrisk_nlp.data.tables.LengthGroupedSampler`, the order depends only on the seed and the
epoch, so every process and a resumed run (which skips the batches already done) see the same order.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler


class ClassBalancedSampler(Sampler[int]):
    """Indices drawn so that every class is equally frequent in expectation.

    Args:
        strata: one class key per example (the class id; for multi-label rows, e.g. the rarest positive label).
        seed: base seed; the epoch is mixed in by :meth:`set_epoch`.
        num_samples: draws per epoch (default: the dataset size).
    """

    def __init__(self, strata: Sequence[int | str], seed: int, num_samples: int | None = None) -> None:
        self.groups: dict[int | str, list[int]] = {}
        for i, key in enumerate(strata):
            self.groups.setdefault(key, []).append(i)
        self.keys = sorted(self.groups, key=str)
        self.seed = seed
        self.epoch = 0
        self.num_samples = len(strata) if num_samples is None else num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        cycles = {key: rng.sample(members, len(members)) for key, members in self.groups.items()}
        position = dict.fromkeys(self.keys, 0)
        for _ in range(self.num_samples):
            key = rng.choice(self.keys)
            members = cycles[key]
            yield members[position[key] % len(members)]
            position[key] += 1


def balance_strata(labels: Sequence[int] | Sequence[Sequence[float]], multi_label: bool) -> list[int]:
    """The class key of each training row: its class id, or for multi-label rows the rarest positive label
    (-1 for rows with none), so rare typologies are drawn as often as common ones."""
    if not multi_label:
        return [int(v) for v in labels]  # type: ignore[arg-type]
    rows = [list(r) for r in labels]  # type: ignore[arg-type]
    totals = [sum(col) for col in zip(*rows, strict=True)] if rows else []
    keys = []
    for row in rows:
        positives = [k for k, v in enumerate(row) if v > 0.5]
        keys.append(min(positives, key=lambda k: totals[k]) if positives else -1)
    return keys
