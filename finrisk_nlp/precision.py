"""Which numeric precision inference and training run in: native bf16 detection on this CPU, and what ``auto`` picks.

    finrisk score runs/credit_text docs/ --out scores.parquet --precision auto
    finrisk serve registry:credit-text@production --precision bf16
    accelerate launch recipes/credit_text.py train.mixed_precision=auto      # bf16 on a CPU with native bf16

A CPU computes bf16 natively when it has AVX512_BF16 or AMX-BF16 (x86) or the BF16 extension (Arm); elsewhere
torch emulates bf16 with fp32 instructions plus conversions, which is slower than fp32. ``auto`` therefore picks
bf16 only where it is native, and fp32 otherwise. The flags come from ``/proc/cpuinfo`` (Linux); where it cannot
be read, from ``torch.backends.cpu.get_cpu_capability()`` (which names AMX but not AVX512_BF16).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

logger = logging.getLogger("finrisk_nlp")

PRECISIONS = ("auto", "fp32", "bf16", "int8")
CPUINFO = Path("/proc/cpuinfo")
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")  # x86 AVX-512 / AMX tiles, Arm FEAT_BF16 ("Features: ... bf16")
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "asimddp")  # int8 dot products (x86 VNNI, Arm dot product)


@dataclass(frozen=True)
class CpuSupport:
    """What this CPU computes natively for reduced precision, and where that was read."""

    bf16: bool
    vnni: bool
    amx: bool
    source: str

    def describe(self) -> str:
        """E.g. ``native bf16 yes (AVX512_BF16/AMX), int8 VNNI yes, AMX no (from /proc/cpuinfo)``."""
        yes = {True: "yes", False: "no"}
        return (f"native bf16 {yes[self.bf16]}, int8 dot products (VNNI) {yes[self.vnni]}, AMX {yes[self.amx]} "
                f"(from {self.source})")


def read_cpu_flags(path: Path = CPUINFO) -> set[str] | None:
    """The feature flags of the first CPU in ``path`` (``flags`` on x86, ``Features`` on Arm), or None."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return set(value.split())
    return None


@functools.cache
def cpu_support() -> CpuSupport:
    """This machine's :class:`CpuSupport` (read once per process)."""
    flags = read_cpu_flags()
    if flags is not None:
        return CpuSupport(bf16=any(f in flags for f in BF16_FLAGS), vnni=any(f in flags for f in VNNI_FLAGS),
                          amx=any(f.startswith("amx") for f in flags), source=str(CPUINFO))
    capability = torch.backends.cpu.get_cpu_capability()
    amx = capability.startswith("AMX")
    return CpuSupport(bf16=amx, vnni=amx, amx=amx, source=f"torch CPU capability {capability}")


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` computes bf16 natively (a CPU with AVX512_BF16/AMX/Arm BF16, or a CUDA GPU with bf16)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_support().bf16


def resolve_precision(requested: str, device: torch.device | str = "cpu", *, backend: str = "torch") -> str:
    """The precision to run in: ``auto`` becomes bf16 where ``device`` has native bf16 and the backend runs bf16
    (torch), else fp32; an explicit choice is kept, with a warning when bf16 would be emulated. The pick is logged.

    Raises:
        ValueError: for a precision outside :data:`PRECISIONS`.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r} is unknown; use one of {list(PRECISIONS)}")
    device = torch.device(device)
    native = native_bf16(device)
    where = cpu_support().describe() if device.type == "cpu" else str(device)
    if requested == "auto":
        picked = "bf16" if native and backend == "torch" else "fp32"
        reason = "backend onnx runs fp32" if native and backend != "torch" else where
        logger.info(f"precision auto -> {picked} on {device.type} ({reason})")
        return picked
    if requested == "bf16" and not native:
        logger.warning(f"bf16 on {device.type} without native bf16 ({where}): torch emulates it, which is slower than "
                       "fp32; use --precision fp32 (or auto)")
    (logger.debug if requested == "fp32" else logger.info)(f"precision {requested} on {device.type}")
    return requested
