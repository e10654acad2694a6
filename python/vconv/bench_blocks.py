"""python -m vconv.bench --suite blocks: Wan 2.1 VAE decoder blocks (issue 11), vconv's fused call
against the same work in PyTorch, on the same tensors, in one process.

Per case (batch 1, torch tensors channels_last / channels_last_3d as video VAEs run them):
  vconv     the block as one vconv.torch call (a Prologue, residual=, upsample=, depth_to_space=,
            causal_conv3d's frame cache), as a user writes it;
  alone     cuDNN's conv + bias alone on an input already padded (and upsampled) to the block's
            conv input shape: the fused call's yardstick;
  v-alone   vconv's conv + bias alone on that input: `fusion` = vconv / v-alone is what the
            fusions cost over vconv's own conv (issue 11), v-alone / alone its conv's speed
            against cuDNN's (issue 10);
  eager     the block in eager PyTorch as diffusers' Wan VAE computes it (norm, SiLU, torch.cat of
            the cache, F.pad, F.conv3d, the residual add, F.interpolate, the time reshape);
  compile   torch.compile (default mode) of that eager function; a compile failure is printed as
            the reason, not raised.
Times are bench.time_ms's medians; `MiB` is the device memory a call allocates beyond what was
allocated before it (its output included; torch's allocator's peak plus that of the CUDA pool
vconv's scratch comes from), also in multiples of the output's size (`x out`; GPU only);
`rel diff` is vconv's relative L2 difference to eager's output. A vconv call that raises (no
algorithm on the device applies its fusions) prints the case as skipped with the message.
"""

import ctypes
import math

import torch
import torch.nn.functional as F

import vconv
import vconv.torch as vt
from vconv.bench import scaled, time_ms

CACHE_FRAMES = 2  # a causal 3x3x3 conv's frame cache: Wan's CACHE_T
CAUSAL = (1, 1, 1, 1, 2, 0)  # F.pad's (W lo, W hi, H lo, H hi, T lo, T hi) of Wan's 3x3x3 convs
GROUP_NORM_GROUPS = 32
NAME_WIDTH = 48  # the case column


class Block:
    """One case: `vconv()` and `eager(*inputs)` compute the block (an output, or (output,
    next_cache)); `alone()` is cuDNN's conv on an input of the block's padded conv input shape,
    `vconv_alone()` vconv's conv on that input."""

    def __init__(self, vconv_call, eager, inputs, alone, vconv_alone):
        self.vconv, self.eager, self.inputs = vconv_call, eager, inputs
        self.alone, self.vconv_alone = alone, vconv_alone


def _output(result):
    """The block's output: the first element of (output, next_cache)."""
    return result[0] if isinstance(result, tuple) else result


class _Maker:
    """Random tensors on the device, in the benchmark's dtype and torch's channels-last memory."""

    def __init__(self, device, dtype):
        self.device, self.dtype = device, dtype
        self.gen = torch.Generator(device="cpu").manual_seed(0)

    def rand(self, *shape, low=-1.0, high=1.0):
        x = torch.rand(*shape, generator=self.gen) * (high - low) + low
        memory = {4: torch.channels_last, 5: torch.channels_last_3d}.get(len(shape), torch.contiguous_format)
        return x.to(self.device, self.dtype).contiguous(memory_format=memory)

    def weight(self, o, c, *k):
        """A conv weight that keeps the output's variance the input's: the outputs stay of the
        inputs' scale, where a low precision's rel diff means what it says."""
        return self.rand(o, c, *k) * (3 / (c * math.prod(k))) ** 0.5


def _frame_size(h, w, c, o, k, scale):
    """(H, W, C, O) of a frame scaled as bench.scaled scales a 2D conv with a k x k kernel."""
    p = scaled({"input_shape": [1, h, w, c], "weight_shape": [o, k, k, c], "groups": 1}, scale)
    _, h, w, c = p["input_shape"]
    return h, w, c, p["weight_shape"][0]


def _norm_act_conv(make, norm, frames, h, w, c, cached=False, residual=False):
    """norm + SiLU + causal 3x3x3 conv (+ bias, + residual) C -> C with `frames` output frames:
    the whole sequence (causal zero padding) or, `cached`, one chunk after a cache of
    CACHE_FRAMES normalized frames."""
    x = make.rand(1, c, frames, h, w, low=-1.0, high=3.0)  # a mean and scale for the norm to remove
    weight, bias = make.weight(c, c, 3, 3, 3), make.rand(c)
    gamma, beta = make.rand(c, low=0.5, high=1.5), make.rand(c)
    if norm == "group_norm":
        groups, eps = math.gcd(GROUP_NORM_GROUPS, c), 1e-6  # 32 groups, fewer when scaled below 32 channels

        def normalize(x):
            return F.group_norm(x, groups, gamma, beta, eps)

    else:  # Wan's RMS norm (diffusers' WanRMS_norm)
        groups, eps = 0, 1e-12

        def normalize(x):
            per_channel = (1, -1, 1, 1, 1)
            return F.normalize(x, dim=1, eps=eps) * c**0.5 * gamma.view(per_channel) + beta.view(per_channel)

    prologue = vconv.Prologue(norm, groups, eps, gamma, beta, "silu")
    shortcut = make.rand(1, c, frames, h, w) if residual else None
    padded = make.rand(1, c, frames + 2, h + 2, w + 2)  # 2 frames of causal padding or of cache

    def alone():
        return F.conv3d(padded, weight, bias)

    def vconv_alone():
        return vt.conv3d(padded, weight, bias)

    if not cached:
        # Wan's WanResidualBlock: norm, SiLU, WanCausalConv3d (F.pad then F.conv3d), the shortcut added
        def eager(x, shortcut):
            y = F.conv3d(F.pad(F.silu(normalize(x)), CAUSAL), weight, bias)
            return y if shortcut is None else y + shortcut

        def vconv_call():
            causal = ([2, 1, 1], [0, 1, 1])
            return vt.conv3d(x, weight, bias, padding=causal, residual=shortcut, prologue=prologue)

        return Block(vconv_call, eager, (x, shortcut), alone, vconv_alone)

    cache = make.rand(1, c, CACHE_FRAMES, h, w)

    # WanCausalConv3d.forward with cache_x: the cached frames concatenated before the chunk, the
    # spatial padding by F.pad; the next cache is the last frames of what the conv read.
    def eager(cache, x):
        frames_read = torch.cat([cache, F.silu(normalize(x))], 2)
        y = F.conv3d(F.pad(frames_read, CAUSAL[:4]), weight, bias)
        return y, frames_read[:, :, -CACHE_FRAMES:].clone()

    def vconv_call():
        return vt.causal_conv3d(x, weight, bias, padding=1, cache=cache, prologue=prologue)

    return Block(vconv_call, eager, (cache, x), alone, vconv_alone)


def _upsample_conv(make, frames, h, w, c, o):
    """Wan's Resample upsampling in space: each frame (frames as the batch) upsampled 2x by nearest
    neighbour, then a 3x3 Conv2d C -> O. (Wan's WanUpsample also round-trips through float32;
    eager here upsamples in the benchmark's dtype, the same work vconv does.)"""
    x = make.rand(frames, c, h, w)
    weight, bias = make.weight(o, c, 3, 3), make.rand(o)
    padded = make.rand(frames, c, 2 * h + 2, 2 * w + 2)

    def eager(x):
        return F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest-exact"), weight, bias, padding=1)

    def vconv_call():
        return vt.conv2d(x, weight, bias, padding=1, upsample=2)

    return Block(
        vconv_call, eager, (x,), lambda: F.conv2d(padded, weight, bias), lambda: vt.conv2d(padded, weight, bias)
    )


def _time_conv_depth_to_space(make, frames, h, w, c):
    """Wan's upsample3d time_conv: a causal 3x1x1 conv C -> 2C whose channel halves become frames
    2t and 2t + 1."""
    x = make.rand(1, c, frames, h, w)
    weight, bias = make.weight(2 * c, c, 3, 1, 1), make.rand(2 * c)
    padded = make.rand(1, c, frames + 2, h, w)

    def eager(x):  # WanCausalConv3d, then WanResample.forward's reshape
        y = F.conv3d(F.pad(x, (0, 0, 0, 0, 2, 0)), weight, bias)
        n, _, t, hh, ww = y.shape
        y = y.reshape(n, 2, c, t, hh, ww)
        return torch.stack((y[:, 0], y[:, 1]), 3).reshape(n, c, 2 * t, hh, ww)

    def vconv_call():
        return vt.conv3d(x, weight, bias, padding=([2, 0, 0], [0, 0, 0]), depth_to_space=(2, 1, 1))

    return Block(
        vconv_call, eager, (x,), lambda: F.conv3d(padded, weight, bias), lambda: vt.conv3d(padded, weight, bias)
    )


def blocks(device, dtype, scale):
    """The suite's cases as (name, build) pairs, build() making the case's tensors when its turn
    comes (one case's are freed before the next's are made)."""
    make = _Maker(device, dtype)
    h1, w1, c1, _ = _frame_size(240, 416, 128, 128, 3, scale)
    h2, w2, c2, _ = _frame_size(120, 208, 384, 384, 3, scale)
    h4, w4, c4, o4 = _frame_size(120, 208, 384, 192, 3, scale)
    h5, w5, c5, _ = _frame_size(120, 208, 384, 768, 1, scale)
    gn = f"GN{GROUP_NORM_GROUPS}+SiLU+causal 3x3x3 {c1}"
    rms = f"RMS+SiLU+causal 3x3x3 {c2}"
    return [
        (f"{gn} 4x{h1}x{w1}", lambda: _norm_act_conv(make, "group_norm", 4, h1, w1, c1)),
        (
            f"{gn} 1x{h1}x{w1} + 2 cached",
            lambda: _norm_act_conv(make, "group_norm", 1, h1, w1, c1, cached=True),
        ),
        (
            f"{gn} 4x{h1}x{w1} + 2 cached",
            lambda: _norm_act_conv(make, "group_norm", 4, h1, w1, c1, cached=True),
        ),
        (f"{rms} 2x{h2}x{w2}", lambda: _norm_act_conv(make, "rms_norm", 2, h2, w2, c2)),
        (
            f"{rms} 1x{h2}x{w2} + 2 cached",
            lambda: _norm_act_conv(make, "rms_norm", 1, h2, w2, c2, cached=True),
        ),
        (
            f"{gn} 4x{h1}x{w1} + residual",
            lambda: _norm_act_conv(make, "group_norm", 4, h1, w1, c1, residual=True),
        ),
        (f"up 2x + conv2d 3x3 {c4}->{o4} 2x{h4}x{w4}", lambda: _upsample_conv(make, 2, h4, w4, c4, o4)),
        (
            f"time conv 3x1x1 {c5}->2x{c5} d2s 4x{h5}x{w5}",
            lambda: _time_conv_depth_to_space(make, 4, h5, w5, c5),
        ),
    ]


def _rel_diff(y, ref):
    return ((y.double() - ref.double()).norm() / ref.double().norm().clamp_min(1e-30)).item()


class _ScratchPool:
    """The device's default stream-ordered memory pool, cudaMallocAsync's, where vconv's CUDA
    algorithms take their scratch (fp32 accumulators, staging copies): memory torch's allocator
    does not count. Read through the driver API: the pool's high-water mark of bytes in use."""

    USED_MEM_CURRENT, USED_MEM_HIGH = 7, 8  # CU_MEMPOOL_ATTR_USED_MEM_* (cuda.h)

    def __init__(self, device):
        if torch.cuda.get_allocator_backend() != "native":
            raise RuntimeError("torch allocates from that pool itself (its cudaMallocAsync backend)")
        torch.cuda.init()  # cuInit, before the driver API is called
        self.driver = ctypes.CDLL("libcuda.so.1")
        index = device.index if device.index is not None else torch.cuda.current_device()
        cu_device, self.pool = ctypes.c_int(), ctypes.c_void_p()
        self._check("cuDeviceGet", ctypes.byref(cu_device), index)
        self._check("cuDeviceGetDefaultMemPool", ctypes.byref(self.pool), cu_device)
        self.start()  # every call the benchmark makes, tried once here where a failure is reported
        self.peak_since_start()

    def _check(self, name, *args):
        result = getattr(self.driver, name)(*args)
        if result != 0:
            raise RuntimeError(f"{name}: CUresult {result}")

    def _get(self, attribute):
        value = ctypes.c_uint64()
        self._check("cuMemPoolGetAttribute", self.pool, attribute, ctypes.byref(value))
        return value.value

    def start(self):
        """Resets the high-water mark (to zero: the only value the driver takes)."""
        self._check("cuMemPoolSetAttribute", self.pool, self.USED_MEM_HIGH, ctypes.byref(ctypes.c_uint64(0)))
        self.before = self._get(self.USED_MEM_CURRENT)

    def peak_since_start(self):
        """The most bytes in use since start() beyond those in use at start()."""
        return max(self._get(self.USED_MEM_HIGH) - self.before, 0)


def _peak_bytes(fn, device, scratch):
    """The device memory fn() allocates beyond what was allocated before it (its result included):
    torch's allocator's peak plus, where `scratch` (a _ScratchPool) is given, the scratch pool's
    (an upper bound where the two peaks do not coincide)."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    if scratch is not None:
        scratch.start()
    before = torch.cuda.memory_allocated(device)
    result = fn()
    torch.cuda.synchronize(device)
    del result
    extra = torch.cuda.max_memory_allocated(device) - before
    return extra + (scratch.peak_since_start() if scratch is not None else 0)


def _compiled_ms(block, device, repeat):
    """(ms, None) of torch.compile(block.eager), or (None, why) where compiling or running it fails."""
    torch.compiler.reset()  # each case compiled afresh for its shapes (no dynamic-shape recompile)
    compiled = torch.compile(block.eager)
    try:
        return time_ms(lambda: compiled(*block.inputs), device, repeat), None
    except Exception as e:  # noqa: BLE001 - compile fails in many types (dynamo, inductor, the C++ compiler)
        return None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def run_block(block, device, repeat, compile=True, scratch=None):
    """A row: {skipped: the message} where the vconv call raises (no algorithm on the device
    applies its fusions), else the times (ms; compile_ms None where compile failed or was not
    asked, the reason in compile_skipped), peak bytes (_peak_bytes; None on the CPU), the output's
    bytes and rel_diff."""
    with torch.no_grad():
        ref = _output(block.eager(*block.inputs))
        try:
            ours = _output(block.vconv())
        except (ValueError, RuntimeError) as e:
            return {"skipped": str(e)}
        row = {"rel_diff": _rel_diff(ours, ref), "out_bytes": ref.numel() * ref.element_size()}
        del ours, ref
        row["vconv_ms"] = time_ms(block.vconv, device, repeat)
        row["alone_ms"] = time_ms(block.alone, device, repeat)
        row["vconv_alone_ms"] = time_ms(block.vconv_alone, device, repeat)
        row["eager_ms"] = time_ms(lambda: block.eager(*block.inputs), device, repeat)
        row["compile_ms"], row["compile_skipped"] = (
            _compiled_ms(block, device, repeat) if compile else (None, "not asked")
        )
        cuda = device.type == "cuda"
        row["vconv_peak"] = _peak_bytes(block.vconv, device, scratch) if cuda else None
        row["eager_peak"] = _peak_bytes(lambda: block.eager(*block.inputs), device, scratch) if cuda else None
    return row


def kernel_times(fn, device):
    """[(kernel name, us)] of the device kernels one fn() call launches, longest first
    (torch.profiler): where a fused call's time goes."""
    from torch.profiler import ProfilerActivity, profile

    fn()  # the plan and its scratch made before the profiled call
    torch.cuda.synchronize(device)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize(device)
    rows = [(e.key, e.device_time_total) for e in prof.key_averages() if e.device_time_total > 0]
    return sorted(rows, key=lambda r: -r[1])


def _ms(v):
    return f"{v:10.3f}" if v is not None else f"{'-':>10}"


def _ratio(a, b):
    return f"{a / b:6.2f}x" if a is not None and b is not None else f"{'-':>7}"


def _memory(peak, out_bytes):
    return f"{peak / 2**20:9.1f} {peak / out_bytes:5.1f}x" if peak is not None else f"{'-':>9} {'-':>6}"


def _print_now(line):
    print(line, flush=True)  # each row as it is measured, should a long run be cut short


def run_blocks(device, dtype, repeat, scale=1, compile=True, profile=False, out=_print_now):
    """Runs every case; prints a header and a row per case (and, `profile` on a GPU, the kernels
    of one vconv call and of one v-alone call under it); returns the rows (dicts with the case's name and either
    run_block's fields or skipped: the vconv call's error message)."""
    cuda = device.type == "cuda"
    scratch = None
    if cuda:
        try:
            scratch = _ScratchPool(device)
        except (OSError, AttributeError, RuntimeError) as e:  # no driver library, an old one, torch's pool
            out(f"peak memory: torch's allocator only, vconv's scratch pool unread ({e})")
    out(
        f"Wan 2.1 VAE decoder blocks, vconv vs torch {torch.__version__} on "
        f"{torch.cuda.get_device_name(device) if cuda else 'cpu'}, {str(dtype).replace('torch.', '')}"
        f"{'' if scale == 1 else f', scaled down (spatial / {scale}, channels / 8)'}"
        f"{', TF32' if cuda and dtype == torch.float32 and torch.backends.cudnn.allow_tf32 else ''}"
        f", median of {repeat}"
    )
    header = (
        f"{'case':<{NAME_WIDTH}} {'vconv ms':>10} {'alone ms':>10} {'v-alone ms':>10} {'eager ms':>10} "
        f"{'compile ms':>10} {'v/alone':>7} {'fusion':>7} {'eager/v':>7} {'comp/v':>7} {'vconv MiB':>9} {'x out':>6} "
        f"{'eager MiB':>9} {'x out':>6} {'rel diff':>9}"
    )
    out(header)
    out("-" * len(header))
    rows = []
    for name, build in blocks(device, dtype, scale):
        block = build()
        row = {"name": name, **run_block(block, device, repeat, compile, scratch)}
        del block  # before the next case's tensors are made
        rows.append(row)
        if "skipped" in row:
            out(f"{name:<{NAME_WIDTH}} skipped: {row['skipped'].splitlines()[0]}")
            continue
        v = row["vconv_ms"]
        times = (
            f"{_ms(v)} {_ms(row['alone_ms'])} {_ms(row['vconv_alone_ms'])} {_ms(row['eager_ms'])} "
            f"{_ms(row['compile_ms'])}"
        )
        ratios = (
            f"{_ratio(v, row['alone_ms'])} {_ratio(v, row['vconv_alone_ms'])} {_ratio(row['eager_ms'], v)} "
            f"{_ratio(row['compile_ms'], v)}"
        )
        memory = (
            f"{_memory(row['vconv_peak'], row['out_bytes'])} {_memory(row['eager_peak'], row['out_bytes'])}"
        )
        out(f"{name:<{NAME_WIDTH}} {times} {ratios} {memory} {row['rel_diff']:9.2e}")
        if profile and cuda:
            block = build()
            for label, fn in (("vconv", block.vconv), ("v-alone", block.vconv_alone)):
                for kernel, us in kernel_times(fn, device):
                    out(f"{'':<4}{label:<8}{us:10.1f} us  {kernel[:130]}")
            del block
        if compile and row["compile_ms"] is None:
            out(f"{'':<{NAME_WIDTH}} torch.compile skipped: {row['compile_skipped']}")
    return rows
