"""python -m vconv.bench --suite decode: a diffusers video VAE's whole decode, eager PyTorch against
vconv.diffusers.accelerate on the same model and latent, in one process (issue 12).

Variants, each on its own copy of one randomly initialised model:
  eager NCDHW           diffusers as loaded;
  eager channels_last   the model and latent in channels_last_3d memory (PyTorch's faster form);
  vconv                 the model patched by vconv.diffusers.accelerate, channels_last_3d latent;
  vconv fused blocks    the same with accelerate(fuse_blocks=True).
Reported per variant: median decode time (CUDA events on a GPU, wall clock on the CPU), peak memory
allocated during a decode (GPU only), and the relative L2 difference of the decoded video to eager
NCDHW's (for fp32 on a GPU, run with TF32 off to compare at fp32 accuracy: --no-tf32). With
--profile, one more decode per variant under torch.profiler: its device time (self CPU time on the
CPU) by kind of kernel (KINDS) and its longest kernels, so that what a variant loses shows.
"""

import copy
import statistics
import time

import diffusers
import torch

import vconv.diffusers

# Wan 2.1's VAE (diffusers' AutoencoderKLWan defaults) decoding 81 frames of 480x832; `tiny` is a
# configuration that decodes in seconds on a CPU (the same code paths: causal convs with caches,
# resampling, attention in the middle block).
MODELS = {
    "wan": (dict(), (1, 16, 21, 60, 104)),
    "wan-tiny": (
        dict(
            base_dim=8,
            z_dim=4,
            dim_mult=[1, 2, 2],
            num_res_blocks=1,
            attn_scales=[],
            temperal_downsample=[False, True],
            latents_mean=[0.0] * 4,
            latents_std=[1.0] * 4,
        ),
        (1, 4, 3, 8, 8),
    ),
}


def _channels_last_3d(vae):
    """The model with every 5D parameter in channels_last_3d memory (Module.to(memory_format=...)
    refuses the model's 1D and 4D parameters), as a PyTorch user makes a video VAE faster."""
    for p in vae.parameters():
        if p.dim() == 5:
            p.data = p.data.contiguous(memory_format=torch.channels_last_3d)
    return vae


def _decode_ms(vae, latent, device, repeat):
    """Median ms of vae.decode(latent) after a warm-up, and the peak bytes one decode allocates."""
    with torch.no_grad():
        out = vae.decode(latent).sample  # warm-up (cuDNN's algorithm choice, vconv's plans)
        times = []
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
        for _ in range(repeat):
            if device.type == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                vae.decode(latent)
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                vae.decode(latent)
                times.append((time.perf_counter() - t0) * 1e3)
        peak = torch.cuda.max_memory_allocated(device) - base if device.type == "cuda" else None
    return statistics.median(times), peak, out


# Kinds of kernel (GPU) or operator (CPU), by the first pattern its lowercased name contains.
KINDS = (
    ("vconv", ("vconv",)),
    ("torch conv", ("cudnn", "xmma", "fprop", "conv")),
    ("gemm, attention", ("gemm", "nvjet", "aten::mm", "aten::bmm", "addmm", "attention", "softmax")),
    ("norms", ("norm", "moments")),
    ("copies, cat, layout", ("copy", "aten::cat", "nchw", "nhwc", "contiguous", "clone")),
    ("upsample", ("upsample", "interpolate")),
    ("elementwise", ("elementwise", "silu", "aten::add", "aten::mul", "pad", "fill")),
)


def kernel_kind(name):
    """The KINDS entry of a kernel or operator name, else "other"."""
    low = name.lower()
    for kind, patterns in KINDS:
        if any(p in low for p in patterns):
            return kind
    return "other"


def profile_decode(vae, latent, device, top=8):
    """One decode under torch.profiler: {"total_ms", "kinds": {kind: ms}, "top": [(name, ms)]},
    device time of CUDA kernels on a GPU, self CPU time of operators on the CPU."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    with torch.no_grad(), profile(activities=[ProfilerActivity.CUDA if cuda else ProfilerActivity.CPU]) as prof:
        vae.decode(latent)
        if cuda:
            torch.cuda.synchronize(device)
    rows = []
    for e in prof.key_averages():
        us = e.device_time_total if cuda else e.self_cpu_time_total
        if us > 0:
            rows.append((e.key, us / 1e3))
    kinds = {kind: 0.0 for kind, _ in KINDS}
    kinds["other"] = 0.0
    for name, ms in rows:
        kinds[kernel_kind(name)] += ms
    rows.sort(key=lambda r: -r[1])
    return {"total_ms": sum(ms for _, ms in rows), "kinds": kinds, "top": rows[:top]}


def _print_profile(name, prof, out):
    total = prof["total_ms"]
    shares = ", ".join(f"{k} {ms:.1f} ({ms / total:.0%})" for k, ms in prof["kinds"].items() if ms > 0)
    out(f"  profile {name}: {total:.1f} ms: {shares}")
    for kernel, ms in prof["top"]:
        out(f"      {ms:9.2f} ms  {kernel[:110]}")


def run_decode(model="wan", device=None, dtype=torch.bfloat16, repeat=3, tf32=True, profile=False, out=print):
    """Decodes `model`'s latent with each variant; returns the rows printed, one dict per variant
    (name, ms, peak_bytes, rel_diff, report: what vconv patched; profile: profile_decode's, under
    `profile`)."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    config, latent_shape = MODELS[model]
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(0)
    base = diffusers.AutoencoderKLWan(**config).to(device, dtype).eval()
    latent = torch.randn(latent_shape, generator=torch.Generator().manual_seed(1)).to(device, dtype)
    cl = torch.channels_last_3d
    variants = [
        ("eager NCDHW", base, latent, None),
        ("eager channels_last", _channels_last_3d(copy.deepcopy(base)), latent.contiguous(memory_format=cl), None),
    ]
    for name, fuse_blocks in (("vconv", False), ("vconv fused blocks", True)):
        patched = copy.deepcopy(base)
        report = vconv.diffusers.accelerate(patched, fuse_blocks=fuse_blocks)
        variants.append((name, patched, latent.contiguous(memory_format=cl), report))
    rows, reference = [], None
    out(
        f"decode of {model} {tuple(latent_shape)} latent on {device} in {dtype}"
        f"{', TF32' if tf32 and dtype == torch.float32 and device.type == 'cuda' else ''}, median of {repeat}"
    )
    for name, vae, z, rep in variants:
        ms, peak, video = _decode_ms(vae, z, device, repeat)
        reference = video if reference is None else reference
        diff = ((video.double() - reference.double()).norm() / reference.double().norm()).item()
        rows.append(dict(name=name, ms=ms, peak_bytes=peak, rel_diff=diff, report=rep))
        memory = "" if peak is None else f"  peak {peak / 2**30:6.2f} GiB"
        out(f"  {name:<20} {ms:10.1f} ms{memory}  rel diff {diff:8.2e}  {rows[0]['ms'] / ms:5.2f}x eager NCDHW")
        del video
        if profile:
            rows[-1]["profile"] = profile_decode(vae, z, device)
    for row in rows if profile else ():
        _print_profile(row["name"], row["profile"], out)
    for name, _, _, rep in variants[2:]:
        out(f"  {name}: {rep!r}: {len(rep.patched)} modules on vconv, {len(rep.skipped)} convs left to torch")
    return rows
