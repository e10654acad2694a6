"""Convolutions sharded over the ranks of a torch.distributed process group (NCCL on GPUs, gloo on
the CPU): each rank holds a contiguous shard of the input along one spatial axis and computes the
output at the same positions, exchanging with its neighbours only the rows (or frames) the kernel
reaches across a seam, the halo. The pad mode applies at the tensor's true borders alone, so the
result is the one-process conv's: bitwise with the algorithm fixed (where the algorithm's sums do
not depend on where a row lies in its call; cpu_gemm, and depth_tap in time), else within its
error bound.

    import torch.distributed as dist, vconv.distributed as vd
    dist.init_process_group("nccl", timeout=datetime.timedelta(minutes=2))
    y = vd.conv_sharded(x_shard, w, axis=1, padding=1)  # x_shard: this rank's rows along H

Along the time axis (axis 0 of a 3D conv) with causal padding, a rank's halo is its causal frame
cache: the previous rank's last F = (KD - 1) * dilation frames, read in place (vconv's
frame_cache) when the planner picks the algorithm; a forced algorithm (which may not read a
cache) or a prologue (a cache holds frames after it) reads them concatenated.

Every rank checks every rank's arguments (one all_gather of their descriptions) before any data
moves: a rank with bad arguments, ranks that disagree on shapes, or a shard smaller than the halo
raise the same ValueError on every rank instead of hanging. A rank that never calls leaves the
others waiting up to the process group's timeout (init_process_group(timeout=...)).
"""

import torch
import torch.distributed as dist

import vconv

__all__ = ["conv_sharded", "gather_shards"]


def _per_dim(value, dims, what):
    return vconv._args.per_dim(value, dims, what)


def _padding_pair(padding, dims):
    """(lo, hi) lists from conv_general's padding forms."""
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and all(
        isinstance(p, (tuple, list)) for p in padding
    ):
        return list(padding[0]), list(padding[1])
    p = _per_dim(padding, dims, "padding")
    return list(p), list(p)


def _describe(input, weight, padding, kernel_dilation, axis, others):
    """This rank's arguments as every rank compares them, and its own error (or None); the
    padding (lo, hi) and dilation lists, None where they are bad."""
    lo = hi = dilation = None
    try:
        dims = input.dim() - 2 if isinstance(input, torch.Tensor) else 1
        lo, hi = _padding_pair(padding, max(dims, 1))
        dilation = list(_per_dim(kernel_dilation, max(dims, 1), "kernel_dilation"))
        if len(lo) != max(dims, 1) or len(hi) != max(dims, 1):
            raise ValueError(f"padding: {padding!r}, expected one (lo, hi) per spatial dimension")
        if not isinstance(input, torch.Tensor) or not isinstance(weight, torch.Tensor):
            raise TypeError("input and weight: expected torch.Tensor")
        dims = input.dim() - 2
        if dims < 1 or weight.dim() != input.dim():
            raise ValueError(
                f"input {tuple(input.shape)}, weight {tuple(weight.shape)}: expected [N, spatial..., C] "
                "and [O, kernel..., C / groups] of the same rank"
            )
        if not isinstance(axis, int) or isinstance(axis, bool) or not 0 <= axis < dims:
            raise ValueError(f"axis: {axis}, expected a spatial axis in [0, {dims})")
        halo = dilation[axis] * (weight.shape[1 + axis] - 1)
        if lo[axis] < 0 or hi[axis] < 0 or lo[axis] + hi[axis] != halo:
            raise ValueError(
                f"padding along axis {axis}: {lo[axis]}:{hi[axis]}, expected lo + hi = dilation x "
                f"(kernel - 1) = {halo}, both >= 0 (the output's shard covers the input's)"
            )
        error = None
    except Exception as e:  # noqa: BLE001: every rank must hear of it, whatever it is
        error = f"{type(e).__name__}: {e}"
    shape = tuple(input.shape) if isinstance(input, torch.Tensor) else None
    if error is not None or shape is None:  # nothing below may raise on one rank alone
        return {"error": error or "TypeError: input: expected a torch.Tensor"}, lo, hi, dilation
    return {
        "error": error,
        "rows": shape[1 + axis],
        "shape": shape[:1 + axis] + ("*",) + shape[2 + axis:],
        "weight": tuple(weight.shape) if isinstance(weight, torch.Tensor) else None,
        "dtype": str(getattr(input, "dtype", None)),
        "arguments": (axis, repr(lo), repr(hi), repr(dilation), repr(others)),
        "device": str(getattr(input, "device", None)).split(":")[0],
    }, lo, hi, dilation


def _check(descriptions, axis, lo, hi):
    """The error every rank raises, from every rank's description; None when all agree."""
    for rank, d in enumerate(descriptions):
        if d["error"]:
            return f"rank {rank}: {d['error']}"
    for key, what in (("shape", "input shape outside the split axis"), ("weight", "weight shape"),
                      ("dtype", "dtype"), ("device", "device type"), ("arguments", "conv arguments")):
        values = [d[key] for d in descriptions]
        if any(v != values[0] for v in values):
            listed = ", ".join(f"rank {r}: {v}" for r, v in enumerate(values))
            return f"ranks disagree on the {what} ({listed}); expected the same on every rank"
    rows = [d["rows"] for d in descriptions]
    for rank, n in enumerate(rows):
        # Rank r sends its last lo rows to rank r + 1 and its first hi rows to rank r - 1.
        needed = max(lo[axis] if rank + 1 < len(rows) else 0, hi[axis] if rank > 0 else 0, 1)
        if n < needed:
            return (
                f"rank {rank}'s shard has {n} rows along axis {axis}, fewer than the {needed} its "
                f"neighbours need (halo {lo[axis]}:{hi[axis]}); expected larger shards or fewer ranks"
            )
    return None


def _exchange(x, axis, lo, hi, rank, world, group):
    """(the previous rank's last lo rows, the next rank's first hi rows) of x's axis, None at the
    tensor's borders."""
    dim = 1 + axis
    rows = x.shape[dim]
    peer = (lambda r: dist.get_global_rank(group, r)) if group is not None else (lambda r: r)
    # One batch: under NCCL separate sends and receives between two ranks share a stream and
    # would wait on each other (each rank's receive queued before its send).
    ops, before, after = [], None, None
    if rank > 0 and lo:
        before = x.new_empty(x.shape[:dim] + (lo,) + x.shape[dim + 1:])
        ops.append(dist.P2POp(dist.irecv, before, peer(rank - 1), group))
    if rank + 1 < world and hi:
        after = x.new_empty(x.shape[:dim] + (hi,) + x.shape[dim + 1:])
        ops.append(dist.P2POp(dist.irecv, after, peer(rank + 1), group))
    if rank + 1 < world and lo:
        ops.append(dist.P2POp(dist.isend, x.narrow(dim, rows - lo, lo).contiguous(), peer(rank + 1), group))
    if rank > 0 and hi:
        ops.append(dist.P2POp(dist.isend, x.narrow(dim, 0, hi).contiguous(), peer(rank - 1), group))
    for request in dist.batch_isend_irecv(ops) if ops else []:
        request.wait()
    return before, after


def conv_sharded(
    input,
    weight,
    padding=0,
    *,
    axis,
    kernel_dilation=1,
    groups=1,
    pad_mode="zeros",
    bias=None,
    activation=None,
    algorithm=None,
    fp32_math="exact",
    prologue=None,
    group=None,
):
    """vconv.conv_general (stride 1) of a tensor split along spatial `axis` over the ranks of
    `group` (None: the default group), in rank order: input is this rank's shard, [N, spatial...,
    C] channels-last with any number of rows along the axis; the result is this rank's shard of the
    output, the same positions along the axis. padding, kernel_dilation, groups, pad_mode, bias,
    activation, algorithm, fp32_math, prologue: conv_general's, the same on every rank; the padding
    along the axis must keep its length (lo + hi = dilation x (kernel - 1)). A group_norm
    prologue's statistics are those of the whole tensor: each rank's sums, all-reduced, make a
    per-sample scale and shift (in the input's dtype) that every rank applies. Every rank calls
    it."""
    world = dist.get_world_size(group)
    rank = dist.get_rank(group)
    others = (groups, str(pad_mode), algorithm, fp32_math, activation, bias is None,
              prologue.fields() if isinstance(prologue, vconv.Prologue) else repr(prologue))
    mine, lo, hi, dilation = _describe(input, weight, padding, kernel_dilation, axis, others)
    everyone = [None] * world
    dist.all_gather_object(everyone, mine, group=group)
    error = _check(everyone, axis, lo, hi)
    if error:
        raise ValueError(f"vconv.distributed.conv_sharded: {error}")
    dims = input.dim() - 2
    before, after = _exchange(input, axis, lo[axis], hi[axis], rank, world, group)
    common = dict(
        kernel_dilation=dilation,
        groups=groups,
        pad_mode=pad_mode,
        bias=bias,
        activation=activation,
        algorithm=algorithm,
        fp32_math=fp32_math,
    )
    if isinstance(prologue, vconv.Prologue) and prologue.norm == "group_norm":
        # The whole tensor's statistics: each group's mean subtracted here (the halo rows
        # included), then per sample a scale and shift. Folding the mean into the shift instead
        # would cancel in bf16 (x * a + b with b ~ -mean * a).
        mean, inv = _group_norm_statistics(input, prologue, group)
        center = lambda t: None if t is None else _centered(t, mean)  # noqa: E731
        input, before, after = center(input), center(before), center(after)
        calls = []
        for n in range(input.shape[0]):
            one = lambda t: None if t is None else t.narrow(0, n, 1)  # noqa: E731
            scale = inv[n] if prologue.scale is None else inv[n] * prologue.scale.float().cpu()
            affine = vconv.Prologue(
                "scale_shift",
                scale=scale.to(input.device, input.dtype),
                shift=(torch.zeros(scale.shape, dtype=input.dtype, device=input.device)
                       if prologue.shift is None else prologue.shift),
                activation=prologue.activation,
            )
            calls.append(_conv_shard(one(input), weight, one(before), one(after), axis, dims, lo, hi,
                                     dict(common, prologue=affine)))
        return torch.cat(calls, dim=0)
    return _conv_shard(input, weight, before, after, axis, dims, lo, hi, dict(common, prologue=prologue))


def _group_norm_statistics(input, prologue, group):
    """GroupNorm's (mean [N, groups], 1 / sqrt(var + eps) expanded to [N, C]) over every rank's
    shard: per-group sums in float64, all-reduced."""
    n, c = input.shape[0], input.shape[-1]
    g = prologue.groups
    if g <= 0 or c % g:
        raise ValueError(f"prologue.groups: {g}, expected a divisor of the {c} channels")
    x = input.reshape(n, -1, g, c // g)
    # Accumulated in float64 without a float64 copy of the shard.
    sums = torch.stack([
        x.sum(dim=(1, 3), dtype=torch.float64),
        torch.linalg.vector_norm(x, 2, dim=(1, 3), dtype=torch.float64).square(),
    ])  # [2, n, g]
    count = torch.tensor([float(x.shape[1] * x.shape[3])], dtype=torch.float64, device=x.device)
    totals = torch.cat([sums.flatten(), count])
    dist.all_reduce(totals, group=group)
    totals = totals.cpu()
    mean = totals[: n * g].view(n, g) / totals[-1]
    var = (totals[n * g : 2 * n * g].view(n, g) / totals[-1] - mean * mean).clamp_min(0)
    inv = (var + prologue.eps).rsqrt().float().repeat_interleave(c // g, dim=1)
    return mean, inv


def _centered(t, mean):
    """t [N, ..., C] less its group's mean (mean [N, groups]), in t's dtype."""
    n, c, g = t.shape[0], t.shape[-1], mean.shape[1]
    shape = (n,) + (1,) * (t.dim() - 2) + (c,)
    m = mean.repeat_interleave(c // g, dim=1).view(shape).to(t.device, torch.float32)
    return (t.float() - m).to(t.dtype)


def _conv_shard(input, weight, before, after, axis, dims, lo, hi, options):
    """conv_general of this rank's shard with its neighbours' rows (before, after: None at the
    tensor's borders), padded along the axis at the true borders only."""
    shard_lo, shard_hi = list(lo), list(hi)
    shard_lo[axis] = lo[axis] if before is None else 0
    shard_hi[axis] = hi[axis] if after is None else 0
    if (axis == 0 and dims == 3 and hi[0] == 0 and before is not None and options["prologue"] is None
            and options["algorithm"] is None):
        # Causal in time: the previous rank's frames are this rank's frame cache, read in place.
        # Not with a prologue (a cache holds frames after it) nor a forced algorithm, which may not
        # read a cache: rank 0, which has none, would run where the others fail. Where no
        # algorithm reads this cache (the GPU's implicit GEMM needs aligned channels), the frames
        # are concatenated as below: a decision of this rank's alone.
        try:
            return vconv.conv_general(
                input, weight, padding=([lo[0]] + shard_lo[1:], shard_hi), frame_cache=(before, None),
                **options,
            )
        except ValueError as e:
            if "frame" not in str(e) and "no algorithm" not in str(e):
                raise
    parts = [t for t in (before, input, after) if t is not None]
    x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1 + axis)
    return vconv.conv_general(x, weight, padding=(shard_lo, shard_hi), **options)


def gather_shards(shard, axis, group=None):
    """The whole tensor from every rank's shard along spatial `axis` (rank order), on every rank."""
    dim = 1 + axis
    world = dist.get_world_size(group)
    sizes = [None] * world
    dist.all_gather_object(sizes, shard.shape[dim], group=group)
    most = max(sizes)
    padded = shard
    if shard.shape[dim] < most:
        fill = shard.new_zeros(shard.shape[:dim] + (most - shard.shape[dim],) + shard.shape[dim + 1:])
        padded = torch.cat([shard, fill], dim=dim)
    pieces = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(pieces, padded.contiguous(), group=group)
    return torch.cat([p.narrow(dim, 0, n) for p, n in zip(pieces, sizes)], dim=dim)
