"""The U²-Net networks (Qin et al., 2020) in PyTorch, defined at top level.

The modules reproduce the published ``state_dict`` layout exactly (submodule names and
registration order), so the public checkpoints load unchanged. This module imports torch;
:mod:`helpers.u2net` imports it lazily, on first use of a network, so that an ONNX-only
install never needs torch.

* :class:`ConvBNReLU`: 3x3 conv -> BatchNorm2d -> ReLU (upstream ``REBNCONV``);
* :class:`RSU`: the residual U-block (RSU-7 ... RSU-4, RSU-4F);
* :class:`U2NET` (44.0 M parameters) and :class:`U2NETP` (1.13 M).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

__all__ = ["RSU", "U2NET", "U2NETP", "ConvBNReLU"]


def resize_like(x, target):
    # Every U²-Net resize goes to a tensor's exact size (odd sizes included).
    return functional.interpolate(x, size=target.shape[2:], mode="bilinear",
                                  align_corners=False)


def halve(x):
    # ceil_mode keeps the last row/column of odd-sized maps (37 -> 19, not 18).
    return functional.max_pool2d(x, kernel_size=2, stride=2, ceil_mode=True)


class ConvBNReLU(nn.Module):
    """3x3 conv (padding = dilation) -> BatchNorm2d -> ReLU (upstream ``REBNCONV``)."""

    def __init__(self, in_ch: int, out_ch: int, dilation: int = 1):
        super().__init__()
        self.conv_s1 = nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation)
        self.bn_s1 = nn.BatchNorm2d(out_ch, eps=1e-5)
        self.relu_s1 = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu_s1(self.bn_s1(self.conv_s1(x)))


class RSU(nn.Module):
    """Residual U-block of ``height`` levels (RSU-7 ... RSU-4, or RSU-4F if ``dilated``).

    Submodules: ``rebnconvin``, encoder ``rebnconv1..height`` and decoder
    ``rebnconv{height-1}d..rebnconv1d``, registered in that order so that the
    ``state_dict`` order matches the published checkpoints. The pooled variant
    halves the map between encoder levels and uses dilation 2 only at the bottom;
    the dilated variant (RSU-4F) keeps the size and dilates 1, 2, 4, 8 instead.
    """

    def __init__(self, height: int, in_ch: int, mid_ch: int, out_ch: int,
                 dilated: bool = False):
        super().__init__()
        self.height = height
        self.dilated = dilated
        self.rebnconvin = ConvBNReLU(in_ch, out_ch)
        for level in range(1, height + 1):
            setattr(self, f"rebnconv{level}",
                    ConvBNReLU(out_ch if level == 1 else mid_ch, mid_ch,
                               self._encoder_dilation(level)))
        for level in range(height - 1, 0, -1):
            setattr(self, f"rebnconv{level}d",
                    ConvBNReLU(2 * mid_ch, out_ch if level == 1 else mid_ch,
                               2 ** (level - 1) if dilated else 1))

    def _encoder_dilation(self, level: int) -> int:
        if self.dilated:
            return 2 ** (level - 1)
        return 2 if level == self.height else 1

    def forward(self, x):
        x_in = self.rebnconvin(x)
        skips = [self.rebnconv1(x_in)]
        for level in range(2, self.height):
            h = skips[-1] if self.dilated else halve(skips[-1])
            skips.append(getattr(self, f"rebnconv{level}")(h))
        # The bottom level sees the deepest skip at the same size (dilated, no pool).
        d = getattr(self, f"rebnconv{self.height}")(skips[-1])
        for level in range(self.height - 1, 0, -1):
            skip = skips[level - 1]
            if not self.dilated:
                d = resize_like(d, skip)
            d = getattr(self, f"rebnconv{level}d")(torch.cat((d, skip), dim=1))
        return d + x_in


class _U2NetBase(nn.Module):
    """Six encoder stages, five decoder stages, six side outputs and a fused 1x1 conv."""

    # (height, mid_ch, out_ch, dilated) per stage; input widths follow from the wiring.
    encoder: tuple = ()
    decoder: tuple = ()  # stage5d .. stage1d

    def __init__(self, in_ch: int = 3, out_ch: int = 1, sigmoid: bool = True):
        super().__init__()
        self.in_ch, self.out_ch, self.apply_sigmoid = in_ch, out_ch, bool(sigmoid)
        self.arch_label = f"{type(self).__name__}(in_ch={in_ch}, out_ch={out_ch})"
        widths = []
        previous = in_ch
        for index, (height, mid, out, dilated) in enumerate(self.encoder, start=1):
            setattr(self, f"stage{index}", RSU(height, previous, mid, out, dilated))
            widths.append(out)
            previous = out
        # Decoder stage k takes [upsampled stage k+1 output, encoder stage k output].
        below = widths[-1]
        decoder_widths = {}
        for index, (height, mid, out, dilated) in zip(range(5, 0, -1), self.decoder,
                                                      strict=True):
            setattr(self, f"stage{index}d",
                    RSU(height, below + widths[index - 1], mid, out, dilated))
            decoder_widths[index] = out
            below = out
        side_widths = [decoder_widths[k] for k in range(1, 6)] + [widths[5]]
        for index, width in enumerate(side_widths, start=1):
            setattr(self, f"side{index}", nn.Conv2d(width, out_ch, 3, padding=1))
        self.outconv = nn.Conv2d(6 * out_ch, out_ch, 1)

    def forward(self, x):
        features = []
        h = x
        for index in range(1, 7):
            if index > 1:
                h = halve(h)
            h = getattr(self, f"stage{index}")(h)
            features.append(h)
        decoded = {6: features[5]}  # the side-6 head reads the bottom encoder stage
        d = features[5]
        for index in range(5, 0, -1):
            skip = features[index - 1]
            d = getattr(self, f"stage{index}d")(torch.cat((resize_like(d, skip), skip), 1))
            decoded[index] = d
        side1 = self.side1(decoded[1])
        sides = [side1] + [
            resize_like(getattr(self, f"side{index}")(decoded[index]), side1)
            for index in range(2, 7)
        ]
        # The fused head sees the side logits, never their sigmoids.
        fused = self.outconv(torch.cat(sides, dim=1))
        outputs = (fused, *sides)
        if self.apply_sigmoid:
            outputs = tuple(torch.sigmoid(o) for o in outputs)
        return outputs


class U2NET(_U2NetBase):
    """Full U²-Net (44.0 M parameters for ``out_ch=1``).

    Parameters
    ----------
    in_ch, out_ch : int
        Input and output channels: 3, 1 for saliency; 3, 4 for cloth parsing.
    sigmoid : bool
        Apply a sigmoid to all seven outputs (saliency) or return logits (cloth).

    ``forward`` takes ``(N, in_ch, H, W)`` float32 and returns seven
    ``(N, out_ch, H, W)`` tensors ``(d0, d1, ..., d6)``; ``d0`` is the fused map.
    """

    encoder = ((7, 32, 64, False), (6, 32, 128, False), (5, 64, 256, False),
               (4, 128, 512, False), (4, 256, 512, True), (4, 256, 512, True))
    decoder = ((4, 256, 512, True), (4, 128, 256, False), (5, 64, 128, False),
               (6, 32, 64, False), (7, 16, 64, False))


class U2NETP(_U2NetBase):
    """Small U²-Net (1.13 M parameters): every stage mid 16, out 64.

    Same interface as :class:`U2NET`.
    """

    encoder = ((7, 16, 64, False), (6, 16, 64, False), (5, 16, 64, False),
               (4, 16, 64, False), (4, 16, 64, True), (4, 16, 64, True))
    decoder = ((4, 16, 64, True), (4, 16, 64, False), (5, 16, 64, False),
               (6, 16, 64, False), (7, 16, 64, False))
