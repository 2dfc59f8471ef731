"""Feature-map grids (one per layer and probe) and channel-mean strips (Images)."""

from cnn_tb import render
from cnn_tb.contract.tags import TAGS
from cnn_tb.summaries.base import Kind
from cnn_tb.summaries.values import image_value


class FeatureMaps(Kind):
    name = "feature_maps"

    def pictures(self, step):
        ctx, s = self.ctx, self.settings
        acts = step.capture.activations
        n = ctx.image_probe_count
        out = []
        for name in ctx.picture_names:
            pngs, shape = [], None
            for i in range(n):
                idx, pal = render.feature_map_grid_indexed(acts[name][i], max_channels=s.max_channels, cmap=s.cmap)
                pngs.append(render.encode_png_indexed(idx, pal))
                shape = idx.shape
            desc = f"one image per probe, first {s.max_channels} channels"
            out.append(image_value(f"{TAGS['feature_maps']}/{name}", pngs, shape, desc))
        images = ctx.probes.uint8_images
        strips = [
            render.channel_mean_strip([acts[name][i].mean(axis=-1) for name in ctx.map_names], cmap=s.cmap, image=images[i])
            for i in range(n)
        ]
        desc = "the probe, then the channel-mean map of each layer, left to right: " + ", ".join(ctx.map_names)
        out.append(image_value(TAGS["channel_mean"], [render.encode_png(x) for x in strips], strips[0].shape, desc))
        return out
