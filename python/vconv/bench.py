"""python -m vconv.bench: vconv against PyTorch (cuDNN on a GPU) on the same tensors, in one process.

Each case of a suite (vconv's one-line notation; seed, output_conv, vae, decode_chunks or a file)
runs as a user of each library would run it: PyTorch with channels_last_3d tensors, asymmetric or
non-zero padding through F.pad then F.conv3d (as video VAEs do), vconv through conv_general on the
same memory viewed channels-last, padding inside the conv. Times are medians of CUDA-event (or wall
clock, on the CPU) timings after a warm-up; `speed` is torch's time over vconv's.
"""

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

import vconv
from vconv import _vconv

SUITES = os.path.join(os.path.dirname(__file__), "suites")


def load_suite(name):
    path = name if os.sep in name or name.endswith(".txt") else os.path.join(SUITES, name + ".txt")
    with open(path) as f:
        lines = [line.split("#")[0].strip() for line in f]
    return [line for line in lines if line]


def time_ms(fn, device, repeat):
    fn()  # warm-up (and cuDNN's algorithm choice)
    times = []
    for _ in range(repeat):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def scaled(p, factor):
    """The case with spatial sizes divided by `factor` (at least the kernel) and channels by 8."""
    if factor == 1:
        return p
    q = dict(p)
    shape = list(p["input_shape"])
    k = p["weight_shape"][1:-1]
    for i in range(1, len(shape) - 1):
        shape[i] = max(shape[i] // factor, k[i - 1] + 1)
    g = p["groups"]
    c = max(shape[-1] // 8 // g, 1) * g
    o = max(p["weight_shape"][0] // 8 // g, 1) * g
    shape[-1] = c
    q["input_shape"] = shape
    q["weight_shape"] = [o, *k, c // g]
    return q


def run_case(p, dtype, device, repeat, fp32_math):
    dims = len(p["input_shape"]) - 2
    n, *spatial, c = p["input_shape"]
    o, *k, cg = p["weight_shape"]
    fmt = {1: torch.contiguous_format, 2: torch.channels_last, 3: torch.channels_last_3d}[dims]
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = (torch.rand(n, c, *spatial, generator=gen) * 2 - 1).to(device, dtype).contiguous(memory_format=fmt)
    w = (torch.rand(o, cg, *k, generator=gen) * 2 - 1).to(device, dtype).contiguous(memory_format=fmt)
    x_cl, w_cl = x.movedim(1, -1), w.movedim(1, -1)  # the same memory, channels-last views

    lo, hi, modes = p["lo"], p["hi"], p["pad_mode"]
    if p["flip"] or any(d != 1 for d in p["input_dilation"]):
        raise ValueError("flip and input dilation have no torch.nn.functional.convNd counterpart")
    symmetric = lo == hi and all(m == "zeros" for m in modes)
    if not symmetric and len(set(modes)) > 1:
        raise ValueError("per-dimension pad modes have no torch counterpart")
    torch_pad = [v for i in reversed(range(dims)) for v in (lo[i], hi[i])]
    torch_mode = {"zeros": "constant", "replicate": "replicate", "reflect": "reflect"}[modes[0]]
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dims]

    def torch_call():
        xi = x if symmetric else F.pad(x, torch_pad, mode=torch_mode)
        return conv(xi, w, None, p["stride"], lo if symmetric else 0, p["kernel_dilation"], p["groups"])

    args = (x_cl, w_cl, p["stride"], (lo, hi), p["kernel_dilation"], 1, p["groups"])
    options = {"pad_mode": modes, "fp32_math": fp32_math}

    def vconv_call():
        return vconv.conv_general(*args, **options)

    with torch.no_grad():
        ref = torch_call()
        ours = vconv_call().movedim(-1, 1)
        diff = ((ours.double() - ref.double()).norm() / ref.double().norm().clamp_min(1e-30)).item()
        t_torch = time_ms(torch_call, x.device, repeat)
        t_vconv = time_ms(vconv_call, x.device, repeat)
    return t_vconv, t_torch, diff, vconv.plan(*args, **options).algorithm


def us_per_call(fn, batches=31, calls=200):
    """Microseconds per call of fn(): the median over batches of the batch's time over its calls."""
    fn()
    per_call = []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        per_call.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(per_call)


def host_overhead(device):
    """What one call costs the host on a problem whose compute is negligible (a 1x1x1 conv of 8
    channels over 1x2x2 samples): vconv.conv_general on numpy and torch arrays, vconv.torch.Conv3d
    against torch.nn.Conv3d on the same channels_last_3d input, under torch.no_grad()."""
    import numpy

    import vconv.torch as vtorch

    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.rand(1, 8, 1, 2, 2, generator=gen).to(device).contiguous(memory_format=torch.channels_last_3d)
    module = torch.nn.Conv3d(8, 8, 1).to(device).to(memory_format=torch.channels_last_3d)
    ours = vtorch.Conv3d.from_torch(module)
    x_cl, w_cl = x.movedim(1, -1), module.weight.detach().movedim(1, -1)
    rows = []
    if device.type == "cpu":
        x_np, w_np = x_cl.numpy(), w_cl.numpy()
        rows.append(("vconv.conv_general, numpy", us_per_call(lambda: vconv.conv_general(x_np, w_np))))
    with torch.no_grad():
        rows.append(("vconv.conv_general, torch", us_per_call(lambda: vconv.conv_general(x_cl, w_cl))))
        rows.append(("vconv.torch.Conv3d (bias)", us_per_call(lambda: ours(x))))
        rows.append(("torch.nn.Conv3d (bias)", us_per_call(lambda: module(x))))
        rows.append(("torch F.conv3d (no bias)", us_per_call(lambda: F.conv3d(x, module.weight))))
        if device.type == "cuda":
            torch.cuda.synchronize()
    print(f"host time per call, 1x1x1 conv, 8 channels, 1x2x2 input, on {device}, torch {torch.__version__}")
    for name, us in rows:
        print(f"  {name:<28} {us:8.2f} us")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m vconv.bench", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--suite",
        default="seed",
        help="seed, output_conv, vae, decode_chunks, block_convs, a suite file, decode (a whole VAE decode, diffusers) or "
        "blocks (Wan VAE decoder blocks: vconv's fused call against the conv alone, torch eager and "
        "torch.compile; bfloat16 unless --dtype)",
    )
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default=None, help="float32, float16 or bfloat16 (default: each case's)")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument(
        "--scale",
        type=int,
        default=None,
        help="divide spatial sizes by this and channels by 8 (default: 1 on a GPU, 4 on the CPU)",
    )
    ap.add_argument("--model", default="wan", help="--suite decode's model: wan (Wan 2.1, 81x480x832) or wan-tiny")
    ap.add_argument("--no-tf32", action="store_true", help="--suite decode in float32 without TF32 (exact)")
    ap.add_argument("--no-compile", action="store_true", help="--suite blocks without torch.compile")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="--suite blocks: list the kernels of each vconv call (GPU); --suite decode: one more decode per "
        "variant, its time by kind of kernel and its longest kernels",
    )
    ap.add_argument(
        "--host-overhead", action="store_true", help="time the host's cost per call on a tiny conv instead"
    )
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if args.host_overhead:
        return host_overhead(device)
    if args.suite == "decode":  # a whole diffusers VAE decode (issue 12), not a suite of convs
        from vconv import bench_decode

        dtype = getattr(torch, args.dtype) if args.dtype else torch.bfloat16
        return bench_decode.run_decode(
            args.model, device, dtype, args.repeat, tf32=not args.no_tf32, profile=args.profile
        )
    scale = args.scale or (1 if device.type == "cuda" else 4)
    if args.suite == "blocks":  # fused blocks (issue 11), not a suite of single convs
        from vconv import bench_blocks

        dtype = getattr(torch, args.dtype) if args.dtype else torch.bfloat16
        return bench_blocks.run_blocks(
            device, dtype, args.repeat, scale, compile=not args.no_compile, profile=args.profile
        )
    tf32 = device.type == "cuda" and torch.backends.cudnn.allow_tf32
    names = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
    print(
        f"vconv vs torch {torch.__version__} on {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}"
        f"{'' if scale == 1 else f', cases scaled down (spatial / {scale}, channels / 8)'}; "
        f"fp32 {'TF32 (torch.backends.cudnn.allow_tf32)' if tf32 else 'exact'}"
    )
    header = f"{'case':<58} {'vconv ms':>9} {'torch ms':>9} {'speed':>6} {'rel diff':>9}  vconv algorithm"
    print(header)
    print("-" * len(header))
    for line in load_suite(args.suite):
        p = scaled(_vconv.parse_problem(line), scale)
        dtype = getattr(torch, args.dtype) if args.dtype else names[p["dtype"]]
        text = _vconv.parse_problem(line)["text"] if scale == 1 else line
        try:
            t_v, t_t, diff, algo = run_case(p, dtype, device, args.repeat, "tf32" if tf32 else "exact")
        except (ValueError, RuntimeError) as e:
            print(f"{text[:58]:<58} skipped: {e}")
            continue
        print(f"{text[:58]:<58} {t_v:9.3f} {t_t:9.3f} {t_t / t_v:5.2f}x {diff:9.2e}  {algo}", flush=True)


if __name__ == "__main__":
    main()
