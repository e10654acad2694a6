"""diffusers' WanCausalConv3d (AutoencoderKLWan) with its forward as one vconv call."""

import torch
from diffusers.models.autoencoders import autoencoder_kl_wan

from . import _torch_call
from .torch import _conv


def frames_before(cache, frames):
    """The frames before a chunk, from Wan's cache_x (N, C, c, H, W), for vconv's
    frame_cache.previous: Wan keeps at most 2 frames, and only 1 after a one-frame first chunk,
    which it pads with zeros in front (F.pad); vconv's core reads a cache of fewer than F frames
    the same way under zero padding, so a short cache is passed as it is and a longer one is
    cropped to its last `frames`."""
    have = cache.shape[2]
    return cache[:, :, have - frames :] if have > frames else cache


class WanCausalConv3d(autoencoder_kl_wan.WanCausalConv3d):
    """forward(x, cache_x=None) of diffusers' WanCausalConv3d as one vconv call: the causal
    padding inside the conv (the index map, no F.pad copy), the bias in the conv's store, and
    cache_x read as vconv's frame cache instead of torch.cat where the planner streams it
    (_torch_call.streams; else concatenated as Wan does). Parameters, buffers and state_dict are
    diffusers'."""

    @classmethod
    def vconv_why_not(cls, module):
        return None  # Wan pads with zeros (F.pad) whatever the module's padding_mode says

    def _continues_in_time(self):
        """Whether the time padding is the causal one vconv's frame cache continues: F =
        (KD - 1) * dilation frames before, none after, time stride 1 (every Wan conv that
        takes a cache)."""
        return (
            self.stride[0] == 1
            and self._padding[5] == 0
            and self._padding[4] == (self.kernel_size[0] - 1) * self.dilation[0]
        )

    def forward(self, x, cache_x=None):
        # Wan's F.pad order: (W lo, W hi, H lo, H hi, T lo, T hi).
        w_lo, w_hi, h_lo, h_hi, t_lo, t_hi = self._padding
        lo, hi = [t_lo, h_lo, w_lo], [t_hi, h_hi, w_hi]
        previous = None
        if cache_x is not None and t_lo > 0:
            cache_x = cache_x.to(x.device)
            streams = self._continues_in_time() and _torch_call.streams(
                x, self.weight, self.stride, (lo, hi), self.dilation, self.groups, "zeros"
            )
            if streams:
                previous = frames_before(cache_x, t_lo)
            else:  # Wan's own formulation; vconv's negative padding crops as F.pad's does
                x = torch.cat([cache_x, x], dim=2)
                lo[0] -= cache_x.shape[2]
        return _conv(
            3, x, self.weight, self.bias, self.stride, (lo, hi), self.dilation, self.groups, "zeros", previous
        )


PATCHES = {autoencoder_kl_wan.WanCausalConv3d: WanCausalConv3d}
