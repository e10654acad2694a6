"""diffusers' CogVideoXCausalConv3d (AutoencoderKLCogVideoX) with its forward as one vconv call."""

import torch
from diffusers.models.autoencoders import autoencoder_kl_cogvideox

from . import _torch_call
from .torch import _conv, causal_conv3d


class CogVideoXCausalConv3d(autoencoder_kl_cogvideox.CogVideoXCausalConv3d):
    """forward(inputs, conv_cache=None) -> (output, conv_cache) of diffusers'
    CogVideoXCausalConv3d as one vconv call. Its default mode ('constant') puts conv_cache, or on
    a first chunk the first frame repeated, before the chunk, and returns the last KD - 1 frames
    of both: vconv's frame cache exactly, with replicate padding in time (the first chunk) and the
    conv's zero padding in space (where the planner streams it, _torch_call.streams; else the
    cache is concatenated as diffusers does); 'replicate' pads every dimension so, with no cache.
    The bias is fused into the conv's store."""

    @classmethod
    def vconv_why_not(cls, module):
        conv = module.conv
        if module.pad_mode != "replicate" and (conv.stride[0] != 1 or conv.dilation[0] != 1):
            return (
                f"time stride {conv.stride[0]} and dilation {conv.dilation[0]} with a conv_cache: "
                "vconv's frame cache continues time stride 1 and dilation 1"
            )
        if conv.padding_mode != "zeros":
            return f"conv.padding_mode {conv.padding_mode!r}: the patched forward takes 'zeros'"
        return None

    def _vconv(self, inputs, padding, pad_mode):
        conv = self.conv
        return _conv(
            3, inputs, conv.weight, conv.bias, conv.stride, padding, conv.dilation, conv.groups, pad_mode
        )

    def forward(self, inputs, conv_cache=None):
        if self.pad_mode == "replicate":
            w_lo, w_hi, h_lo, h_hi, t_lo, t_hi = self.time_causal_padding
            return self._vconv(inputs, ([t_lo, h_lo, w_lo], [t_hi, h_hi, w_hi]), "replicate"), None
        conv, frames = self.conv, self.time_kernel_size - 1
        modes = ["replicate", "zeros", "zeros"]
        if frames == 0:  # diffusers' cache is then the whole input (inputs[:, :, -0:])
            return self._vconv(inputs, [0, *conv.padding[1:]], modes), inputs.clone()
        padding = ([frames, *conv.padding[1:]], [0, *conv.padding[1:]])
        if conv_cache is not None and not _torch_call.streams(
            inputs, conv.weight, conv.stride, padding, conv.dilation, conv.groups, modes
        ):
            # diffusers' own formulation, without its padding copy: the cache before the chunk.
            inputs = torch.cat([conv_cache, inputs], dim=2)
            output = self._vconv(inputs, [0, *conv.padding[1:]], modes)
            return output, inputs[:, :, -frames:].clone()
        return causal_conv3d(
            inputs,
            conv.weight,
            conv.bias,
            conv.stride,
            conv.padding[1:],
            conv.dilation,
            conv.groups,
            modes,
            conv_cache,
        )


PATCHES = {autoencoder_kl_cogvideox.CogVideoXCausalConv3d: CogVideoXCausalConv3d}
