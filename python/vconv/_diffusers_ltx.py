"""diffusers' LTXVideoCausalConv3d (AutoencoderKLLTXVideo) with its forward as one vconv call."""

from diffusers.models.autoencoders import autoencoder_kl_ltx

from .torch import _conv

_PAD_MODES = ("zeros", "replicate", "reflect")


class LTXVideoCausalConv3d(autoencoder_kl_ltx.LTXVideoCausalConv3d):
    """forward(hidden_states) of diffusers' LTXVideoCausalConv3d as one vconv call: the first
    (causal) or first and last frames it repeats are vconv's replicate padding in time, the
    spatial padding self.conv's mode, inside the conv; the bias in its store."""

    @classmethod
    def vconv_why_not(cls, module):
        if module.conv.padding_mode not in _PAD_MODES:
            return f"conv.padding_mode {module.conv.padding_mode!r}: vconv pads by {_PAD_MODES}"
        return None

    def forward(self, hidden_states):
        conv = self.conv
        # LTX repeats frames by the kernel's depth alone, whatever the time dilation.
        frames = self.kernel_size[0] - 1
        t_lo, t_hi = (frames, 0) if self.is_causal else (frames // 2, frames // 2)
        lo = [t_lo, conv.padding[1], conv.padding[2]]
        hi = [t_hi, conv.padding[1], conv.padding[2]]
        return _conv(
            3,
            hidden_states,
            conv.weight,
            conv.bias,
            conv.stride,
            (lo, hi),
            conv.dilation,
            conv.groups,
            ["replicate", conv.padding_mode, conv.padding_mode],
        )


PATCHES = {autoencoder_kl_ltx.LTXVideoCausalConv3d: LTXVideoCausalConv3d}
