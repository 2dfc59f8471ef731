"""Kernel grids of every conv layer (Images) and how far they moved (Scalars)."""

import math

from cnn_tb import render
from cnn_tb.contract.tags import TAGS
from cnn_tb.summaries.base import Kind
from cnn_tb.summaries.values import image_value, scalar_value


class KernelGrids(Kind):
    name = "kernels"
    needs_probes = False
    needs_kernels = True

    def attach(self, ctx):
        super().attach(ctx)
        if not ctx.conv_infos:
            raise ValueError(
                f"Model {ctx.model.name!r} has no convolution layer, so there are no kernels to draw."
            )
        self.first_conv = ctx.conv_infos[0].name

    def pictures(self, step):
        out = []
        for name in self.ctx.dashboard_kernels:
            k = step.kernels[name]
            if k.shape[2] == 3 and name == self.first_conv:
                img = render.kernel_grid(k, rgb=True)
                png, desc = render.encode_png(img), "RGB filters (mid-grey = 0)"
            else:
                img, pal = render.kernel_grid_indexed(k, cmap=self.settings.kernel_cmap)
                png = render.encode_png_indexed(img, pal)
                desc = "rows: output filters, columns: input channels; red > 0 > blue"
            out.append(image_value(f"{TAGS['kernels']}/{name}", [png], img.shape, desc))
        return out

    def values(self, step):
        change = step.kernel_change
        return [
            scalar_value(f"{TAGS['kernel_change']}/{name}", change[name])
            for name in self.ctx.dashboard_kernels
            if change[name] is not None and math.isfinite(change[name])
        ]
