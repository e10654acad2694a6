"""MLX's argument forms, expanded to one value per spatial dimension, and the cache that expands
them once per argument tuple."""

import dataclasses
import marshal
import numbers
from collections.abc import Sequence
from typing import Any, Optional

PAD_MODES = ("zeros", "replicate", "reflect")
NORMS = ("group_norm", "rms_norm", "scale_shift")


def _is_int(v):
    """An int or a numpy integer, not a bool (numbers.Integral rather than the type's name, which
    torch.compile cannot trace)."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def per_dim(value, dims, name):
    """An int (for every dimension) or a sequence of `dims` ints -> a list of `dims` ints."""
    if _is_int(value):
        return [int(value)] * dims
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == dims
        and all(_is_int(v) for v in value)
    ):
        return [int(v) for v in value]
    raise ValueError(f"{name}: {value!r}, expected an int or a sequence of {dims} ints")


def padding_lo_hi(padding, dims):
    """MLX's padding: an int, a sequence of `dims` ints (the same low and high), or a pair
    (lo, hi) of such sequences. Returns (lo, hi)."""
    if (
        isinstance(padding, Sequence)
        and not isinstance(padding, str)
        and len(padding) == 2
        and all(isinstance(p, Sequence) and not isinstance(p, str) for p in padding)
    ):
        return per_dim(padding[0], dims, "padding[0] (low)"), per_dim(padding[1], dims, "padding[1] (high)")
    p = per_dim(padding, dims, "padding")
    return p, list(p)


def pad_modes(pad_mode, dims):
    """'zeros', 'replicate' or 'reflect', for every dimension or one per dimension."""
    modes = [pad_mode] * dims if isinstance(pad_mode, str) else list(pad_mode)
    if len(modes) != dims or any(m not in PAD_MODES for m in modes):
        raise ValueError(f"pad_mode: {pad_mode!r}, expected one of {PAD_MODES} or {dims} of them")
    return modes


def fp32_math(value):
    if value not in ("exact", "tf32"):
        raise ValueError(f"fp32_math: {value!r}, expected 'exact' or 'tf32'")
    return value


def activation(value):
    """The fused activation: None (none) or 'silu' (v / (1 + exp(-v)))."""
    if value is None:
        return "none"
    if value != "silu":
        raise ValueError(f"activation: {value!r}, expected None or 'silu'")
    return value


@dataclasses.dataclass(frozen=True, eq=False)
class Prologue:
    """The input's prologue, applied as the conv reads its input (vconv::Prologue):
    x' = act(x * s * a + b) per sample, pixel and channel, in fp32, before upsampling and padding.

    norm: None, 'group_norm' (torch.nn.GroupNorm: per sample, the mean and biased variance over
    each group of C / groups channels and every position; a = scale / sqrt(var + eps),
    b = shift - mean * a), 'rms_norm' (Wan's RMS norm, F.normalize over the channels of each
    pixel times sqrt(C) * scale, plus shift; eps: the smallest norm divided by, Wan's is 1e-12) or
    'scale_shift' (a = scale, b = shift).
    groups: group_norm's number of groups (a divisor of C); 0 for the other norms.
    eps: group_norm's variance epsilon or rms_norm's smallest norm (> 0).
    scale, shift: None (1 and 0) or an array [C] of the input's dtype and device (gamma, beta).
    activation: None or 'silu', after the norm.
    The statistics are those of the call's input. Checked here: the names and the types; by
    vconv: groups against C, eps, and the shapes of scale and shift."""

    norm: Optional[str] = None
    groups: int = 0
    eps: float = 1e-5
    scale: Any = dataclasses.field(default=None, repr=False)
    shift: Any = dataclasses.field(default=None, repr=False)
    activation: Optional[str] = None

    def __post_init__(self):
        if self.norm is not None and self.norm not in NORMS:
            raise ValueError(f"prologue.norm: {self.norm!r}, expected None or one of {NORMS}")
        if not _is_int(self.groups):
            raise TypeError(f"prologue.groups: {self.groups!r}, expected an int")
        if not isinstance(self.eps, numbers.Real) or isinstance(self.eps, bool):
            raise TypeError(f"prologue.eps: {self.eps!r}, expected a float")
        if self.activation not in (None, "silu"):
            raise ValueError(f"prologue.activation: {self.activation!r}, expected None or 'silu'")
        if self.norm is None and (self.scale is not None or self.shift is not None):
            raise ValueError(
                "prologue.scale / prologue.shift: given without a norm; expected norm='scale_shift' "
                "for a plain per-channel scale and shift"
            )

    def fields(self):
        """(norm, groups, eps, activation) as the extension takes them: the part of a prepared
        call (scale and shift are per-call arrays)."""
        return (self.norm or "none", int(self.groups), float(self.eps), self.activation or "none")


NO_PROLOGUE = Prologue().fields()


def prologue(value):
    """conv_general's prologue: None or a Prologue. Returns (fields, scale, shift)."""
    if value is None:
        return NO_PROLOGUE, None, None
    if not isinstance(value, Prologue):
        raise TypeError(f"prologue: {type(value).__name__}, expected None or a vconv.Prologue")
    return value.fields(), value.scale, value.shift


def frame_cache(value):
    """conv_general's frame_cache: None, or a pair (previous, next) of arrays or Nones.
    Returns (previous, next); their shapes, dtypes and devices are checked by the C++ core."""
    if value is None:
        return None, None
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value[0], value[1]
    raise ValueError(
        f"frame_cache: {type(value).__name__}, expected None or a pair (previous, next) of arrays "
        "[N, F, H, W, C] or None"
    )


def spatial_dims(shape, name):
    if len(shape) not in (3, 4, 5):
        raise ValueError(
            f"{name}: {len(shape)} dimensions, expected 3, 4 or 5 ([N, spatial..., C] with 1 to 3 "
            "spatial dimensions)"
        )
    return len(shape) - 2


_MAX_PREPARED_CALLS = 1024


def prepared_call(cache, shapes, arguments, prepare):
    """cache's entry for (shapes, arguments), made by prepare() when there is none. The arguments
    are keyed by their marshal bytes, which tell True and 1.0 from 1 (== does not): an argument
    that prepare() rejects never finds the entry of a valid one. Arguments marshal cannot write
    (a numpy int) are prepared on every call, as is everything once the cache is full."""
    try:
        key = (shapes, marshal.dumps(arguments, 2))
    except ValueError:
        return prepare()
    entry = cache.get(key)
    if entry is None:
        entry = prepare()
        if len(cache) < _MAX_PREPARED_CALLS:
            cache[key] = entry
    return entry
