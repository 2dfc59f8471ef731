"""Feature-map grids (one per dashboard layer and probe) and channel-mean strips (Images)."""

from keras import ops

from cnn_tb import render
from cnn_tb.contract.tags import TAGS
from cnn_tb.summaries.base import Kind, probe_caption
from cnn_tb.summaries.values import image_value


class FeatureMaps(Kind):
    name = "feature_maps"

    def device(self, t):
        n, k = self.ctx.image_probe_count, self.settings.max_channels
        return {
            "grids": {name: t.acts[name][:n, :, :, :k] for name in self.ctx.picture_names},
            "strip": {name: ops.mean(t.acts[name][:n], axis=-1) for name in self.ctx.strip_names},
        }

    def pictures(self, step):
        ctx, s = self.ctx, self.settings
        data = step.device[self.name]
        n = ctx.image_probe_count
        out = []
        for name in ctx.picture_names:
            pngs, shape = [], None
            for i in range(n):
                idx, pal = render.feature_map_grid_indexed(data["grids"][name][i], cmap=s.cmap)
                idx = render.caption(idx, probe_caption(ctx.probes, i, step.capture.pred))
                pngs.append(render.encode_png_indexed(idx, pal))
                shape = idx.shape
            desc = f"sample i = probe i (as the CNN Flow tab numbers them); the first {s.max_channels} channels"
            out.append(image_value(f"{TAGS['feature_maps']}/{name}", pngs, shape, desc))
        if ctx.strip_names:
            images = ctx.probes.uint8_images
            strips = [
                render.caption(
                    render.channel_mean_strip([data["strip"][name][i] for name in ctx.strip_names], cmap=s.cmap, image=images[i]),
                    probe_caption(ctx.probes, i, step.capture.pred),
                )
                for i in range(n)
            ]
            desc = (
                "sample i = probe i: the probe, then the channel-mean map of each layer, left to right: "
                + ", ".join(ctx.strip_names)
            )
            out.append(image_value(TAGS["channel_mean"], [render.encode_png(x) for x in strips], strips[0].shape, desc))
        return out

