"""numpy oracles for the Python tests, written from the definitions and sharing no code with vconv:
conv_general builds the padded, dilated input explicitly and sums over kernel taps in float64,
then adds the bias and applies the activation;
conv_transpose scatters every input sample through every tap (PyTorch's definition)."""

import itertools

import numpy as np

_NP_MODES = {"zeros": "constant", "replicate": "edge", "reflect": "reflect"}


def conv_general(x, w, stride, lo, hi, kdil, idil, groups, flip, pad_mode, bias=None, activation=None):
    """act(conv + bias[o]) in float64; bias None or [O], activation None or 'silu'."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    d = x.ndim - 2
    for i in range(d):  # input dilation: idil - 1 zeros between samples
        if idil[i] > 1:
            shape = list(x.shape)
            shape[1 + i] = (shape[1 + i] - 1) * idil[i] + 1
            z = np.zeros(shape)
            sl = [slice(None)] * x.ndim
            sl[1 + i] = slice(None, None, idil[i])
            z[tuple(sl)] = x
            x = z
    for i in range(d):  # negative padding crops, positive padding extends by the pad mode
        sl = [slice(None)] * x.ndim
        sl[1 + i] = slice(max(-lo[i], 0), x.shape[1 + i] - max(-hi[i], 0))
        x = x[tuple(sl)]
        widths = [(0, 0)] * x.ndim
        widths[1 + i] = (max(lo[i], 0), max(hi[i], 0))
        x = np.pad(x, widths, mode=_NP_MODES[pad_mode[i]])
    if flip:
        w = w[(slice(None),) + (slice(None, None, -1),) * d]
    ks = w.shape[1:-1]
    out_sizes = [(x.shape[1 + i] - (ks[i] - 1) * kdil[i] - 1) // stride[i] + 1 for i in range(d)]
    if any(o <= 0 for o in out_sizes):
        return None
    o_total, cg = w.shape[0], w.shape[-1]
    og = o_total // groups
    out = np.zeros((x.shape[0], *out_sizes, o_total))
    for taps in itertools.product(*[range(k) for k in ks]):
        sl = [slice(None)]
        for i, t in enumerate(taps):
            start = t * kdil[i]
            sl.append(slice(start, start + (out_sizes[i] - 1) * stride[i] + 1, stride[i]))
        patch = x[tuple(sl)]
        for g in range(groups):
            wt = w[(slice(g * og, (g + 1) * og),) + taps]  # [og, cg]
            out[..., g * og : (g + 1) * og] += patch[..., g * cg : (g + 1) * cg] @ wt.T
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)
    if activation == "silu":
        out = out / (1 + np.exp(-out))
    return out


def conv_transpose(x, w, stride, padding, dilation, output_padding, groups):
    """x [N, L..., C], w [O, K..., C / groups] (MLX's layout)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    d = x.ndim - 2
    ks, ls = w.shape[1:-1], x.shape[1:-1]
    full = [(ls[i] - 1) * stride[i] + dilation[i] * (ks[i] - 1) + 1 + output_padding[i] for i in range(d)]
    o_total, cg = w.shape[0], w.shape[-1]
    og = o_total // groups
    y = np.zeros((x.shape[0], *full, o_total))
    for taps in itertools.product(*[range(k) for k in ks]):
        sl = [slice(None)]
        for i, t in enumerate(taps):
            start = t * dilation[i]
            sl.append(slice(start, start + (ls[i] - 1) * stride[i] + 1, stride[i]))
        for g in range(groups):
            wt = w[(slice(g * og, (g + 1) * og),) + taps]
            y[tuple(sl) + (slice(g * og, (g + 1) * og),)] += x[..., g * cg : (g + 1) * cg] @ wt.T
    sizes = [
        (ls[i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (ks[i] - 1) + output_padding[i] + 1
        for i in range(d)
    ]
    crop = (slice(None),) + tuple(slice(padding[i], padding[i] + sizes[i]) for i in range(d))
    return y[crop]


def rel_error(y, ref):
    y = np.asarray(y, dtype=np.float64)
    norm = np.linalg.norm(ref)
    return np.linalg.norm(y - ref) / (norm if norm > 0 else 1.0)


TOLERANCE = {"float32": 1e-5, "float16": 1e-2, "bfloat16": 1e-2}
