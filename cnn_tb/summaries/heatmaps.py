"""Max-activation and Grad-CAM heatmaps blended over each probe (Images)."""

import numpy as np
from keras import ops

from cnn_tb import render
from cnn_tb.contract.tags import TAGS
from cnn_tb.summaries.base import Kind, probe_caption, rgb
from cnn_tb.summaries.values import image_value


class Heatmaps(Kind):
    name = "heatmaps"
    wants_gradcam = True

    def device(self, t):
        n = self.ctx.image_probe_count
        return {
            "max": {name: ops.max(t.acts[name][:n], axis=-1) for name in self.ctx.picture_names},
            "cam": {name: t.cams[name][:n] for name in self.ctx.dashboard_gradcam},
            "cam_true": {name: t.cams_true[name][:n] for name in self.ctx.dashboard_gradcam if name in t.cams_true},
        }

    def pictures(self, step):
        ctx, cmap = self.ctx, self.settings.heatmap_cmap
        data, n, pred = step.device[self.name], ctx.image_probe_count, step.capture.pred
        probes = ctx.probes
        images = probes.uint8_images
        scale = render.auto_scale(*images.shape[1:3], min_size=96)
        base = [render.upscale_nearest(rgb(images[i]), scale) for i in range(n)]
        out = []
        for name in ctx.picture_names:
            jpgs = [
                render.encode_jpeg(render.caption(render.overlay(base[i], data["max"][name][i], cmap=cmap), probe_caption(probes, i)))
                for i in range(n)
            ]
            shape = (base[0].shape[0] + render.pictures.CAPTION_HEIGHT,) + base[0].shape[1:]
            out.append(image_value(f"{TAGS['max_activation']}/{name}", jpgs, shape, "sample i = probe i; max over channels, blended over the probe"))
        for name in ctx.dashboard_gradcam:
            cams, cams_true = data["cam"][name], data["cam_true"].get(name)
            jpgs, shape = [], None
            for i in range(n):
                pic = render.caption(
                    render.overlay(base[i], cams[i], cmap=cmap, normalize_heat=False),
                    f"probe {i} · pred {probes.class_name(int(pred[i]))}",
                )
                if cams_true is not None:
                    pic_t = render.caption(
                        render.overlay(base[i], cams_true[i], cmap=cmap, normalize_heat=False),
                        f"true {probes.class_name(int(probes.labels[i]))}",
                    )
                    pic = np.concatenate([pic, np.full((pic.shape[0], 4, 3), 255, np.uint8), pic_t], axis=1)
                jpgs.append(render.encode_jpeg(pic))
                shape = pic.shape
            desc = "sample i = probe i; Grad-CAM of the predicted class" + (
                " (left) and of the true class (right)" if cams_true is not None else ""
            )
            out.append(image_value(f"{TAGS['gradcam']}/{name}", jpgs, shape, desc))
        return out
