"""diffusers' HunyuanVideoCausalConv3d (AutoencoderKLHunyuanVideo) with its forward as one vconv
call."""

from diffusers.models.autoencoders import autoencoder_kl_hunyuan_video

from .torch import _conv

_PAD_MODES = {"constant": "zeros", "replicate": "replicate"}


class HunyuanVideoCausalConv3d(autoencoder_kl_hunyuan_video.HunyuanVideoCausalConv3d):
    """forward(hidden_states) of diffusers' HunyuanVideoCausalConv3d (F.pad by pad_mode, then
    self.conv) as one vconv call: the causal padding inside the conv, the bias in its store."""

    @classmethod
    def vconv_why_not(cls, module):
        if module.pad_mode not in _PAD_MODES:
            return f"pad_mode {module.pad_mode!r}: the patched forward takes {tuple(_PAD_MODES)}"
        if module.conv.padding_mode != "zeros":
            return f"conv.padding_mode {module.conv.padding_mode!r}: the patched forward takes 'zeros'"
        if any(module.conv.padding) and module.pad_mode != "constant":
            return "conv.padding after replicate padding: two pad modes on one dimension"
        return None

    def forward(self, hidden_states):
        # F.pad's order: (W lo, W hi, H lo, H hi, T lo, T hi); self.conv's zero padding after it
        # (none in Hunyuan's VAE) adds to a zero F.pad's.
        w_lo, w_hi, h_lo, h_hi, t_lo, t_hi = self.time_causal_padding
        extra = self.conv.padding
        lo = [t_lo + extra[0], h_lo + extra[1], w_lo + extra[2]]
        hi = [t_hi + extra[0], h_hi + extra[1], w_hi + extra[2]]
        conv = self.conv
        return _conv(
            3,
            hidden_states,
            conv.weight,
            conv.bias,
            conv.stride,
            (lo, hi),
            conv.dilation,
            conv.groups,
            _PAD_MODES[self.pad_mode],
        )


PATCHES = {autoencoder_kl_hunyuan_video.HunyuanVideoCausalConv3d: HunyuanVideoCausalConv3d}
