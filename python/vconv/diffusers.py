"""vconv inside diffusers' video autoencoders (pip install vconv[diffusers]).

accelerate(vae) patches a loaded model in place: each causal conv module of a kind it knows
(WanCausalConv3d of AutoencoderKLWan, HunyuanVideoCausalConv3d of AutoencoderKLHunyuanVideo,
CogVideoXCausalConv3d of AutoencoderKLCogVideoX, LTXVideoCausalConv3d of AutoencoderKLLTXVideo)
runs its forward as one vconv call, with the causal padding inside the conv instead of an F.pad
or torch.cat copy, the cached frames of chunked encoding and decoding read through vconv's frame
cache instead of torch.cat, and the bias fused into the conv's store. A patched
module keeps its parameters, buffers, dtype and state_dict (only its class changes, to a subclass
of diffusers' own); every other module stays as it is. Inference only: a backward pass through a
patched module raises.

accelerate(vae, fuse_blocks=True) also runs each block of a kind it knows (WanResidualBlock) as
fused vconv calls: its norms and SiLU as the convs' prologue, its shortcut added in the second
conv's store; the block's convs are then the block's, not patched on their own.
"""

import torch

from . import _diffusers_cogvideox, _diffusers_hunyuan_video, _diffusers_ltx, _diffusers_wan
from .torch import Report, _unit_channel_stride_weights, _why_not_weights

__all__ = ["Report", "accelerate"]

_PATCHES = {  # diffusers' class -> vconv's subclass of it
    **_diffusers_wan.PATCHES,
    **_diffusers_hunyuan_video.PATCHES,
    **_diffusers_cogvideox.PATCHES,
    **_diffusers_ltx.PATCHES,
}
_CONVS = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)


def _why_not(module, patched_class):
    """Why vconv cannot run `module` as it is now; None when it can."""
    weight = module.weight if isinstance(module, _CONVS) else next(module.parameters())
    return _why_not_weights(weight) or patched_class.vconv_why_not(module)


_BLOCK_PATCHES = {**_diffusers_wan.BLOCK_PATCHES}


def accelerate(vae, fuse_blocks=False):
    """Patches `vae` (a loaded diffusers autoencoder, or any torch module holding one) in place
    and returns a Report of what was patched and what was skipped, and why. fuse_blocks: the
    blocks vconv knows run as fused calls too (the module's docstring; off by default until it
    is measured faster on a GPU)."""
    if not isinstance(vae, torch.nn.Module):
        raise TypeError(f"vae: {type(vae).__name__}, expected a torch.nn.Module (a diffusers autoencoder)")
    patches = {**_PATCHES, **(_BLOCK_PATCHES if fuse_blocks else {})}
    report = Report()
    patched_classes = set(_PATCHES.values()) | set(_BLOCK_PATCHES.values())
    owners = []  # names of patched modules: their own children are theirs, not skipped
    for name, module in vae.named_modules():
        if any(owner == "" or name.startswith(owner + ".") for owner in owners):  # "": vae itself
            continue
        kind = type(module)
        if kind in patched_classes:
            report.patched.append((name, kind.__bases__[0].__name__ + ", already patched"))
            owners.append(name)
        elif kind in patches:
            why = _why_not(module, patches[kind])
            if why:
                report.skipped.append((name, why))
                continue
            _unit_channel_stride_weights(module)  # no call copies a weight; before the class swap
            module.__class__ = patches[kind]
            report.patched.append((name, kind.__name__))
            owners.append(name)
        elif isinstance(module, _CONVS):
            report.skipped.append(
                (name, f"{kind.__name__}: not a causal conv vconv.diffusers knows; left to torch")
            )
    return report
