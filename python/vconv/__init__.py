"""vconv: convolutions for video models, on the CPU and CUDA GPUs.

conv_general and its wrappers follow MLX's semantics and layouts: channels-last input
[N, spatial..., C], weight [O, spatial..., C / groups], output [N, spatial..., O]. Inputs are any
DLPack-capable arrays (numpy, torch on the CPU or a GPU, cupy, ...), taken as they lie, without a
copy; the result is an array of the input's framework on its device, computed on its framework's
current stream, or the `out=` array itself. `vconv.torch` holds drop-in replacements for
torch.nn.functional.conv1d/2d/3d and nn.Conv1d/2d/3d and a streaming causal Conv3d;
`vconv.diffusers` patches the causal convs of diffusers' video autoencoders.
"""

from . import _args, _arrays, _vconv
from ._args import Prologue
from ._vconv import algorithm_names, built_with_cuda, cuda_device_count

__all__ = [
    "Plan",
    "Prologue",
    "algorithm_names",
    "built_with_cuda",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_general",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "cuda_device_count",
    "plan",
]


def _conv_params(
    input_shape,
    weight_shape,
    stride,
    padding,
    kernel_dilation,
    input_dilation,
    groups,
    flip,
    pad_mode,
    upsample,
    causal_upsample,
    depth_to_space,
):
    """conv_general's parameters in the order every extension call takes them: (stride, lo, hi,
    kernel_dilation, input_dilation, groups, flip, pad_mode, upsample, causal_upsample,
    depth_to_space), per spatial dimension."""
    dims = _args.spatial_dims(input_shape, "input")
    lo, hi = _args.padding_lo_hi(padding, dims)
    return (
        _args.per_dim(stride, dims, "stride"),
        lo,
        hi,
        _args.per_dim(kernel_dilation, dims, "kernel_dilation"),
        _args.per_dim(input_dilation, dims, "input_dilation"),
        int(groups),
        bool(flip),
        _args.pad_modes(pad_mode, dims),
        _args.per_dim(upsample, dims, "upsample"),
        bool(causal_upsample),
        _args.per_dim(depth_to_space, dims, "depth_to_space"),
    )


def conv_general(
    input,
    weight,
    stride=1,
    padding=0,
    kernel_dilation=1,
    input_dilation=1,
    groups=1,
    flip=False,
    *,
    pad_mode="zeros",
    algorithm=None,
    out=None,
    accumulate=False,
    fp32_math="exact",
    bias=None,
    activation=None,
    frame_cache=None,
    residual=None,
    upsample=1,
    causal_upsample=False,
    depth_to_space=1,
    prologue=None,
):
    """MLX's conv_general: out = act(conv(prologue(input), weight) + bias) + residual,
    channels-last.

    stride, kernel_dilation, input_dilation: an int or one per spatial dimension.
    padding: an int, one per spatial dimension, or a pair (lo, hi) of per-dimension sequences
    (negative padding crops). pad_mode: 'zeros', 'replicate' or 'reflect' (or one per dimension).
    algorithm: force an algorithm by name (vconv.algorithm_names()); None lets the planner choose.
    out: write into this array (its shape must be the output shape, its dtype the input's);
    accumulate: out += act(conv + bias) (+ residual) instead. fp32_math: the error accepted on fp32
    inputs: 'exact' (elementwise within atol = rtol = 1e-4 of the float64 result at reductions up to
    4608, MLX's test tolerance) or 'tf32' (TF32-level: TF32 tensor cores on a GPU, Winograd
    F(4x4, 3x3) on the CPU). bias: None or an array of shape [O] (the input's dtype and device);
    activation: None or 'silu'. Both are fused into the conv's store (one pass, one rounding).
    frame_cache: None, or a pair (previous, next) making a causal 3D conv streaming: previous
    (None on the first chunk) holds the last F = (KD - 1) * kernel_dilation[0] frames of the
    previous chunk's input, [N, F, H, W, C], read instead of the time padding; next (None: not
    written) receives the last F frames of (previous ++ input) for the next call. The padding must
    be the causal one in time (F frames before, none after).

    Fused into the same call (vconv.plan says which algorithms apply each; the CPU reference
    applies all):
    residual: None or an array of the output's shape (the input's dtype and device), added after
    the activation: out = act(conv + bias) + residual (a residual block's shortcut).
    upsample: an int or one per spatial dimension: the input upsampled by nearest neighbour
    (F.interpolate(mode='nearest')) before input dilation and padding, never stored.
    causal_upsample: the first spatial dimension (time) upsampled causally: frame 0 once, every
    later frame upsample[0] times (T -> 1 + upsample[0] * (T - 1); needs upsample[0] > 1).
    depth_to_space: an int or one per spatial dimension r: the conv's O channels stored as
    O / prod(r) channels on a grid r times larger; in 2D, PyTorch's pixel_shuffle (channel
    c * r * r + i * r + j -> (h * r + i, w * r + j), channel c); in 3D, time takes whole blocks
    of O / r[0] channels (block k -> frame t * r[0] + k), then pixel_shuffle in space.
    prologue: None or a vconv.Prologue: a norm (group_norm, rms_norm or scale_shift) and an
    activation applied to the input as the conv reads it, e.g. GroupNorm + SiLU:
        vconv.conv3d(x, w, padding=1, prologue=vconv.Prologue(
            "group_norm", groups=32, eps=1e-6, scale=gamma, shift=beta, activation="silu"))
    The output shape follows upsample and depth_to_space:
        y = vconv.conv2d(x, w, padding=1, upsample=2, depth_to_space=2)  # [N, 4H, 4W, O / 4]
    """
    if accumulate and out is None:
        raise ValueError("accumulate=True needs out= (the array to add into)")
    previous, next_frames = _args.frame_cache(frame_cache)
    prologue_fields, scale, shift = _args.prologue(prologue)
    arguments = (
        stride,
        padding,
        kernel_dilation,
        input_dilation,
        groups,
        flip,
        pad_mode,
        algorithm,
        accumulate,
        fp32_math,
        activation,
        upsample,
        causal_upsample,
        depth_to_space,
        prologue_fields,
    )
    output_shape, prepared = _args.prepared_call(
        _prepared_calls,
        (input.shape, weight.shape, input.dtype),
        arguments,
        lambda: _prepare(input, weight, *arguments),
    )
    fw = _arrays.framework_functions(input)
    if out is None:
        out = fw.empty(input, output_shape)
    prepared(
        fw.export(input),
        _arrays.exported(weight),
        _arrays.exported(out),
        fw.stream(input),
        False,
        None if bias is None else _arrays.exported(bias),
        None if previous is None else _arrays.exported(previous),
        None if next_frames is None else _arrays.exported(next_frames),
        None if residual is None else _arrays.exported(residual),
        None if scale is None else _arrays.exported(scale),
        None if shift is None else _arrays.exported(shift),
    )
    return out


_prepared_calls = {}  # (shapes, input dtype, marshalled arguments) -> (output shape, PreparedConv)


def _prepare(
    input,
    weight,
    stride,
    padding,
    kernel_dilation,
    input_dilation,
    groups,
    flip,
    pad_mode,
    algorithm,
    accumulate,
    fp32_math,
    activation,
    upsample,
    causal_upsample,
    depth_to_space,
    prologue_fields,
):
    """(output shape, PreparedConv) of a conv_general call; ValueError for a bad argument."""
    in_shape, w_shape = list(_arrays.shape_of(input)), list(_arrays.shape_of(weight))
    params = _conv_params(
        in_shape,
        w_shape,
        stride,
        padding,
        kernel_dilation,
        input_dilation,
        groups,
        flip,
        pad_mode,
        upsample,
        causal_upsample,
        depth_to_space,
    )
    # Checked (sizes, and vconv's size limit in the input's dtype) before the output is allocated;
    # an unsupported dtype is refused by the call itself.
    dtype = _arrays.dtype_name(input) or "f32"
    output_shape = tuple(_vconv.output_shape(in_shape, w_shape, dtype, *params))
    prepared = _vconv.PreparedConv(
        *params,
        algorithm or "",
        bool(accumulate),
        _args.fp32_math(fp32_math),
        _args.activation(activation),
        *prologue_fields,
    )
    return output_shape, prepared


def _conv_nd(dims, input, weight, stride, padding, dilation, groups, kw):
    if len(_arrays.shape_of(input)) != dims + 2:
        raise ValueError(
            f"input: shape {_arrays.shape_of(input)}, expected {dims + 2} dimensions "
            f"[N, {dims} spatial, C] for conv{dims}d"
        )
    return conv_general(input, weight, stride, padding, dilation, 1, groups, **kw)


def conv1d(input, weight, stride=1, padding=0, dilation=1, groups=1, **kw):
    """MLX's conv1d: input [N, L, C], weight [O, K, C / groups]."""
    return _conv_nd(1, input, weight, stride, padding, dilation, groups, kw)


def conv2d(input, weight, stride=1, padding=0, dilation=1, groups=1, **kw):
    """MLX's conv2d: input [N, H, W, C], weight [O, KH, KW, C / groups]."""
    return _conv_nd(2, input, weight, stride, padding, dilation, groups, kw)


def conv3d(input, weight, stride=1, padding=0, dilation=1, groups=1, **kw):
    """MLX's conv3d: input [N, D, H, W, C], weight [O, KD, KH, KW, C / groups]."""
    return _conv_nd(3, input, weight, stride, padding, dilation, groups, kw)


def _conv_transpose_nd(dims, input, weight, stride, padding, dilation, output_padding, groups, kw):
    shape = _arrays.shape_of(input)
    if len(shape) != dims + 2:
        raise ValueError(
            f"input: shape {shape}, expected {dims + 2} dimensions [N, {dims} spatial, C] for "
            f"conv_transpose{dims}d"
        )
    kernel = list(_arrays.shape_of(weight)[1:-1])
    lo, hi, kdil, idil, flip = _vconv.conv_transpose_params(
        kernel,
        _args.per_dim(stride, dims, "stride"),
        _args.per_dim(padding, dims, "padding"),
        _args.per_dim(dilation, dims, "dilation"),
        _args.per_dim(output_padding, dims, "output_padding"),
        int(groups),
    )
    return conv_general(input, weight, 1, (lo, hi), kdil, idil, groups, flip, **kw)


def conv_transpose1d(input, weight, stride=1, padding=0, dilation=1, output_padding=0, groups=1, **kw):
    """MLX's conv_transpose1d: input [N, L, C], weight [O, K, C / groups]; built on conv_general
    as MLX builds it (input dilation = stride, flipped kernel)."""
    return _conv_transpose_nd(1, input, weight, stride, padding, dilation, output_padding, groups, kw)


def conv_transpose2d(input, weight, stride=1, padding=0, dilation=1, output_padding=0, groups=1, **kw):
    """MLX's conv_transpose2d: input [N, H, W, C], weight [O, KH, KW, C / groups]."""
    return _conv_transpose_nd(2, input, weight, stride, padding, dilation, output_padding, groups, kw)


def conv_transpose3d(input, weight, stride=1, padding=0, dilation=1, output_padding=0, groups=1, **kw):
    """MLX's conv_transpose3d: input [N, D, H, W, C], weight [O, KD, KH, KW, C / groups]."""
    return _conv_transpose_nd(3, input, weight, stride, padding, dilation, output_padding, groups, kw)


class Plan:
    """The planner's choice for a problem: `algorithm`, `reason`, `problem` (vconv notation),
    `candidates`, a list of (name, valid, why_not, estimate_ms) for every registered algorithm, and
    `staging`: '' or the staging copy conv_general makes of an input or weight whose channel
    stride is not 1 for that algorithm, and why."""

    def __init__(self, algorithm, reason, candidates, problem, text, staging):
        self.algorithm, self.reason, self.candidates, self.problem = algorithm, reason, candidates, problem
        self._text, self.staging = text, staging

    def __str__(self):
        return f"problem: {self.problem}\n{self._text}"

    def __repr__(self):
        return f"Plan(algorithm={self.algorithm!r}, reason={self.reason!r})"


def plan(
    input,
    weight,
    stride=1,
    padding=0,
    kernel_dilation=1,
    input_dilation=1,
    groups=1,
    flip=False,
    *,
    pad_mode="zeros",
    algorithm=None,
    fp32_math="exact",
    dtype=None,
    device=None,
    frame_cache=False,
    residual=False,
    upsample=1,
    causal_upsample=False,
    depth_to_space=1,
    prologue=None,
):
    """The algorithm conv_general would run, and why. input and weight are arrays, or shapes
    with dtype= ('float32', 'float16', 'bfloat16'; default float32) and device= ('cpu' or
    'cuda:N'; default 'cpu'). frame_cache=True / residual=True plan the call with a frame cache
    (streaming) / a residual, upsample, causal_upsample, depth_to_space and prologue (a
    vconv.Prologue; its scale and shift are not read) as conv_general's: only the algorithms that
    apply each can run it, and Plan.candidates says why the others cannot. Arrays' strides count:
    Plan.staging says when the call copies one whose channel stride is not 1."""
    arrays = not isinstance(input, (tuple, list))
    in_shape = list(_arrays.shape_of(input) if arrays else input)
    w_shape = list(_arrays.shape_of(weight) if not isinstance(weight, (tuple, list)) else weight)
    if arrays:
        dt = _arrays.dtype_name(input)
        if dt is None:
            raise TypeError(f"input: unsupported dtype {input.dtype}; expected float32, float16 or bfloat16")
        kind, index = _arrays.device_of(input)
    else:
        names = {"float32": "f32", "float16": "f16", "bfloat16": "bf16", None: "f32"}
        if dtype not in names:
            raise TypeError(f"dtype: {dtype!r}, expected 'float32', 'float16' or 'bfloat16'")
        dt = names[dtype]
        kind, _, index = (device or "cpu").partition(":")
        index = int(index or 0)
    params = _conv_params(
        in_shape,
        w_shape,
        stride,
        padding,
        kernel_dilation,
        input_dilation,
        groups,
        flip,
        pad_mode,
        upsample,
        causal_upsample,
        depth_to_space,
    )
    return Plan(
        *_vconv.plan(
            in_shape,
            w_shape,
            dt,
            kind,
            index,
            *params,
            algorithm or "",
            _args.fp32_math(fp32_math),
            bool(frame_cache),
            bool(residual),
            *_args.prologue(prologue)[0],
            _arrays.element_strides(input) if arrays else [],
            _arrays.element_strides(weight) if not isinstance(weight, (tuple, list)) else [],
        )
    )
