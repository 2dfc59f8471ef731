"""Max-activation and Grad-CAM heatmaps blended over each probe (Images)."""

import numpy as np

from cnn_tb import render
from cnn_tb.contract.tags import TAGS
from cnn_tb.summaries.base import Kind, rgb
from cnn_tb.summaries.values import image_value


class Heatmaps(Kind):
    name = "heatmaps"
    wants_gradcam = True

    def pictures(self, step):
        ctx, cmap = self.ctx, self.settings.heatmap_cmap
        result, n = step.capture, ctx.image_probe_count
        images = ctx.probes.uint8_images
        scale = render.auto_scale(*images.shape[1:3], min_size=96)
        base = [render.upscale_nearest(rgb(images[i]), scale) for i in range(n)]
        out = []
        for name in ctx.picture_names:
            a = result.activations[name]
            jpgs = [render.encode_jpeg(render.overlay(base[i], a[i].max(axis=-1), cmap=cmap)) for i in range(n)]
            out.append(image_value(f"{TAGS['max_activation']}/{name}", jpgs, base[0].shape, "max over channels, blended over the probe"))
        for name in ctx.gradcam_layers:
            cams, cams_true = result.gradcam[name], result.gradcam_true.get(name)
            jpgs, shape = [], None
            for i in range(n):
                pic = render.overlay(base[i], cams[i], cmap=cmap, normalize_heat=False)
                if cams_true is not None:
                    pic_t = render.overlay(base[i], cams_true[i], cmap=cmap, normalize_heat=False)
                    pic = np.concatenate([pic, np.full((pic.shape[0], 4, 3), 255, np.uint8), pic_t], axis=1)
                jpgs.append(render.encode_jpeg(pic))
                shape = pic.shape
            desc = "Grad-CAM of the predicted class" + (" (left) and the true class (right)" if cams_true is not None else "")
            out.append(image_value(f"{TAGS['gradcam']}/{name}", jpgs, shape, desc))
        return out
