"""python -m vconv.bench --suite decode: a diffusers video VAE's whole decode, eager PyTorch against
vconv.diffusers.accelerate on the same model and latent, in one process (issue 12).

Variants, each on its own copy of one randomly initialised model:
  eager NCDHW           diffusers as loaded;
  eager channels_last   the model and latent in channels_last_3d memory (PyTorch's faster form);
  vconv                 the model patched by vconv.diffusers.accelerate, channels_last_3d latent;
  vconv fused blocks    the same with accelerate(fuse_blocks=True).
Reported per variant: median decode time (CUDA events on a GPU, wall clock on the CPU), peak memory
allocated during a decode (GPU only), and the relative L2 difference of the decoded video to eager
NCDHW's (for fp32 on a GPU, run with TF32 off to compare at fp32 accuracy: --no-tf32).
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


def run_decode(model="wan", device=None, dtype=torch.bfloat16, repeat=3, tf32=True, out=print):
    """Decodes `model`'s latent with each variant; returns the rows printed, one dict per variant
    (name, ms, peak_bytes, rel_diff, report: what vconv patched)."""
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
    for name, _, _, rep in variants[2:]:
        out(f"  {name}: {rep!r}: {len(rep.patched)} modules on vconv, {len(rep.skipped)} convs left to torch")
    return rows
