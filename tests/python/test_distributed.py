"""vconv.distributed on the CPU: 2 and 3 gloo processes, each holding an uneven shard, against the
one-process conv (bitwise with the algorithm fixed), and the errors every rank raises instead of
hanging. Skipped, visibly, without torch."""

import datetime

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the distributed tests are skipped")
dist = pytest.importorskip("torch.distributed", reason="torch.distributed is not available")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("torch.distributed without gloo: the distributed tests are skipped", allow_module_level=True)

import vconv
import vconv.distributed as vd


def _shard(x, axis, sizes, rank):
    start = sum(sizes[:rank])
    return x.narrow(1 + axis, start, sizes[rank]).contiguous()


def _expect_error(rank, match, call):
    try:
        call()
    except ValueError as e:
        assert match in str(e), f"rank {rank}: {e}"
        return
    raise AssertionError(f"rank {rank}: no error, expected one naming {match!r}")


def _worker(rank, world, init, splits):
    dist.init_process_group(
        "gloo", init_method=init, rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60)
    )
    g = torch.Generator().manual_seed(11)
    x = torch.rand(2, 5, sum(splits), 9, 6, generator=g) * 2 - 1  # [N, T, H, W, C]
    w = torch.rand(8, 3, 3, 3, 6, generator=g) * 2 - 1
    b = torch.rand(8, generator=g)
    # Along H, every pad mode, the kernel's halo 1 and (dilation 2) 2 rows each side.
    for pad_mode in ("zeros", "replicate", "reflect"):
        for dilation in (1, 2):
            args = dict(padding=dilation, kernel_dilation=(1, dilation, 1), pad_mode=pad_mode, bias=b)
            whole = vconv.conv_general(x, w, algorithm="cpu_gemm", **args)
            mine = vd.conv_sharded(_shard(x, 1, splits, rank), w, axis=1, algorithm="cpu_gemm", **args)
            assert torch.equal(mine, _shard(whole, 1, splits, rank)), (rank, pad_mode, dilation)
            # The planner's choice (it may differ between shard and whole): within fp32 rounding.
            planned = vd.conv_sharded(_shard(x, 1, splits, rank), w, axis=1, **args)
            ref = _shard(whole, 1, splits, rank)
            assert float((planned - ref).norm() / ref.norm()) <= 1e-5
            assert torch.equal(vd.gather_shards(mine, 1), whole)
    # In time, causal: each rank's halo is its frame cache (the previous rank's last 2 frames).
    t_splits = [2, 3, 2][:world] if world == 3 else [2, 3]
    xt = torch.rand(1, sum(t_splits), 6, 7, 6, generator=g) * 2 - 1
    causal = ([2, 1, 1], [0, 1, 1])
    whole = vconv.conv_general(xt, w, padding=causal, algorithm="depth_tap")
    mine = vd.conv_sharded(_shard(xt, 0, t_splits, rank), w, causal, axis=0, algorithm="depth_tap")
    assert torch.equal(mine, _shard(whole, 0, t_splits, rank)), rank
    # The planner's choice: the frame cache read in place on ranks > 0, within fp32 rounding.
    mine = vd.conv_sharded(_shard(xt, 0, t_splits, rank), w, causal, axis=0)
    ref = _shard(whole, 0, t_splits, rank)
    assert float((mine - ref).norm() / ref.norm()) <= 1e-5, rank
    # Norm prologues: RMS per pixel (bitwise), GroupNorm from all-reduced statistics (1e-6).
    scale, shift = torch.rand(6, generator=g) + 0.5, torch.rand(6, generator=g)
    for prologue, bitwise in (
        (vconv.Prologue("rms_norm", eps=1e-12, scale=scale, activation="silu"), True),
        (vconv.Prologue("group_norm", groups=3, eps=1e-6, scale=scale, shift=shift, activation="silu"), False),
    ):
        for axis, sizes, padding in ((1, splits, 1), (0, t_splits, causal)):
            xs = x if axis == 1 else xt
            whole = vconv.conv_general(xs, w, padding=padding, prologue=prologue, algorithm="cpu_gemm")
            mine = vd.conv_sharded(_shard(xs, axis, sizes, rank), w, padding, axis=axis,
                                   prologue=prologue, algorithm="cpu_gemm")
            ref = _shard(whole, axis, sizes, rank)
            if bitwise:
                assert torch.equal(mine, ref), (rank, prologue.norm, axis)
            else:
                assert float((mine - ref).norm() / ref.norm()) <= 1e-6, (rank, axis)
    # GroupNorm in bf16 on inputs far from zero mean: within bf16 rounding of the fp32 result
    # (folding the mean into the shift would cancel: 8e-2 where one process has 2e-3).
    bf = lambda t: t.bfloat16().float()  # noqa: E731: the data as bf16 holds it, in fp32
    x30 = (x + 30).bfloat16()
    gn = vconv.Prologue("group_norm", groups=3, eps=1e-6, scale=bf(scale), shift=bf(shift))
    whole = vconv.conv_general(x30.float(), bf(w), padding=1, prologue=gn)
    gn16 = vconv.Prologue("group_norm", groups=3, eps=1e-6, scale=scale.bfloat16(), shift=shift.bfloat16())
    mine = vd.conv_sharded(_shard(x30, 1, splits, rank), w.bfloat16(), 1, axis=1, prologue=gn16)
    ref = _shard(whole, 1, splits, rank)
    assert float((mine.float() - ref).norm() / ref.norm()) <= 1e-2, rank
    # Along W of a 2D conv, reflect.
    x2, w2 = x[:, 0], w[:, 0]
    w_splits = [4, 5] if world == 2 else [3, 3, 3]
    whole = vconv.conv_general(x2, w2, padding=1, pad_mode="reflect", algorithm="cpu_gemm")
    mine = vd.conv_sharded(_shard(x2, 1, w_splits, rank), w2, 1, axis=1, pad_mode="reflect", algorithm="cpu_gemm")
    assert torch.equal(mine, _shard(whole, 1, w_splits, rank))
    # Errors, raised alike on every rank (no rank left waiting).
    x_tiny = torch.rand(1, 3, 1 if rank == 0 else 4, 5, 6, generator=g)
    _expect_error(rank, "rank 0's shard has 1 rows",
                  lambda: vd.conv_sharded(x_tiny, w, 2, axis=1, kernel_dilation=(1, 2, 1)))
    x_odd = torch.rand(1, 3, 4, 5 + rank, 6, generator=g)  # the ranks' widths differ
    _expect_error(rank, "ranks disagree on the input shape",
                  lambda: vd.conv_sharded(x_odd, w, 1, axis=1))
    pad = ([1, 1, 1], [1, 0 if rank == world - 1 else 1, 1])  # the last rank's padding shrinks H
    _expect_error(rank, f"rank {world - 1}: ValueError: padding along axis 1",
                  lambda: vd.conv_sharded(torch.rand(1, 3, 4, 5, 6), w, pad, axis=1))
    bad = (1, 2, 1) if rank == 0 else (1, 2)  # the other ranks' dilation is too short
    _expect_error(rank, f"rank {min(1, world - 1)}: ValueError: kernel_dilation",
                  lambda: vd.conv_sharded(torch.rand(1, 3, 4, 5, 6), w, 2, axis=1, kernel_dilation=bad))
    axis = 1 if rank == 0 else "1"  # a type error on one rank alone, heard by every rank
    _expect_error(rank, f"rank 1: ValueError: axis",
                  lambda: vd.conv_sharded(torch.rand(1, 3, 4, 5, 6), w, 1, axis=axis))
    # A forced algorithm along causal time concatenates on every rank (it may not read a cache).
    whole = vconv.conv_general(xt, w, padding=causal, algorithm="cpu_gemm")
    mine = vd.conv_sharded(_shard(xt, 0, t_splits, rank), w, causal, axis=0, algorithm="cpu_gemm")
    assert torch.equal(mine, _shard(whole, 0, t_splits, rank)), rank
    dist.destroy_process_group()


@pytest.mark.parametrize("splits", [[4, 7], [3, 5, 3]], ids=["2 ranks", "3 ranks"])
def test_sharded_conv_equals_one_process(tmp_path, splits):
    torch.multiprocessing.start_processes(
        _worker,
        args=(len(splits), f"file://{tmp_path}/store", splits),
        nprocs=len(splits),
        join=True,
        start_method="spawn",
    )
