"""diffusers' WanCausalConv3d (AutoencoderKLWan) with its forward as one vconv call, and (fused
blocks) WanResidualBlock as two."""

import torch
from diffusers.models.autoencoders import autoencoder_kl_wan

from . import _args, _torch_call
from .torch import _conv, causal_conv3d


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


class WanResidualBlock(autoencoder_kl_wan.WanResidualBlock):
    """forward(x, feat_cache, feat_idx) of diffusers' WanResidualBlock as two vconv calls: norm1
    (Wan's RMS norm) and SiLU as conv1's prologue, norm2 and SiLU as conv2's (dropout is the
    identity in eval mode), the shortcut added in conv2's store (residual), and each conv's
    feature cache read and written as vconv's frame cache, which holds frames after the
    prologue as Wan's does. Wan keeps 1 frame after a one-frame first chunk, vconv 2 (a zero
    frame first): the same frames under zero padding. A conv whose cache does not stream on the
    input's device (_torch_call.streams) runs as diffusers computes it, as does the whole block
    in training mode with dropout. The block owns its convs: they stay diffusers' modules."""

    @classmethod
    def vconv_why_not(cls, module):
        if not isinstance(module.nonlinearity, torch.nn.SiLU):
            return f"nonlinearity {type(module.nonlinearity).__name__}: vconv's prologue applies SiLU"
        for name in ("norm1", "norm2"):
            if not getattr(module, name).channel_first:
                return f"{name} normalizes the last dimension: vconv's prologue normalizes channels"
        for name in ("conv1", "conv2"):
            conv = getattr(module, name)
            if not WanCausalConv3d._continues_in_time(conv):
                return f"{name} is not causal in time with stride 1: its cache is not a frame cache"
            w_lo, w_hi, h_lo, h_hi = conv._padding[:4]
            if (w_lo, h_lo) != (w_hi, h_hi):
                return f"{name} pads H or W unevenly: causal_conv3d pads them evenly"
        return None

    def forward(self, x, feat_cache=None, feat_idx=[0]):  # noqa: B006 - diffusers' signature
        if self.training and self.dropout.p > 0:
            return super().forward(x, feat_cache, feat_idx)
        shortcut = self.conv_shortcut
        wan_conv = isinstance(shortcut, autoencoder_kl_wan.WanCausalConv3d)
        h = WanCausalConv3d.forward(shortcut, x) if wan_conv else shortcut(x)  # a 1x1x1 conv, or the identity
        x = self._norm_act_conv(self.norm1, self.conv1, x, feat_cache, feat_idx)
        return self._norm_act_conv(self.norm2, self.conv2, x, feat_cache, feat_idx, residual=h)

    def _norm_act_conv(self, norm, conv, x, feat_cache, feat_idx, residual=None):
        """conv(SiLU(norm(x))) (+ residual), reading and replacing conv's feature cache (the next
        entry of feat_cache, when there is one)."""
        cache = None if feat_cache is None else feat_cache[feat_idx[0]]
        w_lo, _, h_lo, _, t_lo, _ = conv._padding
        if cache is None or _torch_call.streams(
            x, conv.weight, conv.stride, ([t_lo, h_lo, w_lo], [0, h_lo, w_lo]), conv.dilation, conv.groups, "zeros"
        ):
            shift = norm.bias.reshape(-1) if isinstance(norm.bias, torch.Tensor) else None
            prologue = _args.Prologue("rms_norm", 0, 1e-12, norm.gamma.reshape(-1), shift, "silu")
            previous = None if cache is None else frames_before(cache.to(x.device), t_lo)
            y, next_cache = causal_conv3d(
                x, conv.weight, conv.bias, 1, (h_lo, w_lo), conv.dilation, conv.groups, "zeros", previous,
                residual=residual, prologue=prologue,
            )
        else:  # diffusers' own steps
            x = self.nonlinearity(norm(x))
            next_cache = x[:, :, -autoencoder_kl_wan.CACHE_T :].clone()
            if next_cache.shape[2] < 2:
                next_cache = torch.cat([cache[:, :, -1:].to(x.device), next_cache], 2)
            y = conv(x, cache)
            y = y if residual is None else y + residual
        if feat_cache is not None:
            feat_cache[feat_idx[0]] = next_cache
            feat_idx[0] += 1
        return y


PATCHES = {autoencoder_kl_wan.WanCausalConv3d: WanCausalConv3d}
BLOCK_PATCHES = {autoencoder_kl_wan.WanResidualBlock: WanResidualBlock}
