"""Stylization overhead: :class:`helpers.stylize.Stylizer` against bare onnxruntime.

The float32 Magenta graph through our code and through two bare onnxruntime sessions
with the same session options on inputs prepared beforehand (what our Python adds),
and the shipped int8 graph beside the float32 one, interleaved at each content size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.common import compare, make_content

if TYPE_CHECKING:
    from benchmarks.run import Config


class BareMagenta:
    """The two Magenta ONNX models (float32 graph) in bare onnxruntime sessions.

    The sessions have the options :func:`helpers.stylize.make_onnx_session` gives ours, so
    the comparison measures our Python around them, not a choice of graph optimisations.
    """

    def __init__(self) -> None:
        from helpers.stylize import BOTTLENECK_SIZE, load_magenta_onnx_model, make_onnx_session

        def session(which: str):
            return make_onnx_session(load_magenta_onnx_model(which))

        self.predict = session("predict")
        self.transform = session("transform")
        self.style_name = self.predict.get_inputs()[0].name
        inputs = self.transform.get_inputs()
        self.bottleneck_name = next(i.name for i in inputs
                                    if i.shape[-1] == BOTTLENECK_SIZE and i.shape[1] == 1)
        self.content_name = next(i.name for i in inputs if i.name != self.bottleneck_name)

    def prepare(self, content: np.ndarray, style: np.ndarray, max_side: int,
                ) -> tuple[np.ndarray, np.ndarray]:
        """The networks' inputs, as :class:`helpers.stylize.Stylizer` would build them."""
        import cv2

        from helpers.stylize import STYLE_SIZE, working_size

        height, width = working_size(*content.shape[:2], max_side=max_side)
        work = cv2.resize(content, (width, height), interpolation=cv2.INTER_AREA)
        work = np.pad(work, ((0, -height % 4), (0, -width % 4), (0, 0)), mode="reflect")
        style_in = cv2.resize(style, (STYLE_SIZE, STYLE_SIZE), interpolation=cv2.INTER_AREA)
        return ((style_in.astype(np.float32) / 255)[None],
                (work.astype(np.float32) / 255)[None])

    def __call__(self, style_in: np.ndarray, content_in: np.ndarray) -> np.ndarray:
        bottleneck = self.predict.run(None, {self.style_name: style_in})[0]
        feed = {self.content_name: content_in,
                self.bottleneck_name: bottleneck.reshape(1, 1, 1, -1)}
        return self.transform.run(None, feed)[0]


def measure_stylization(config: Config, style: np.ndarray, log: Callable[[str], None],
                        ) -> dict[str, Any]:
    from helpers.stylize import load_stylizer

    stylizer = load_stylizer("magenta_onnx")
    int8 = load_stylizer("magenta_onnx", precision="int8")
    bare = BareMagenta()
    rows = []
    for megapixels in config.sizes_mp:
        log(f"stylization overhead at {megapixels:g} MP ...")
        content = make_content(megapixels)
        style_in, content_in = bare.prepare(content, style, config.max_side)
        bare(style_in, content_in)  # warm all three up at this size
        # detail="none": the same resize back as the bare sessions' comparison implies (the
        # guided detail has its own rows in measure_sharpness)
        float_out = stylizer.stylize(content, style, max_side=config.max_side, detail="none")
        int8_out = int8.stylize(content, style, max_side=config.max_side, detail="none")
        timed = compare({
            "helpers": lambda c=content: stylizer.stylize(c, style, max_side=config.max_side,
                                                          detail="none"),
            "bare_onnxruntime": lambda s=style_in, c=content_in: bare(s, c),
            "helpers_int8": lambda c=content: int8.stylize(c, style, max_side=config.max_side,
                                                           detail="none"),
        }, config.stylize_repeats)
        ours, bare_timed, int8_timed = (timed["helpers"], timed["bare_onnxruntime"],
                                        timed["helpers_int8"])
        difference = np.abs(float_out.astype(np.int16) - int8_out.astype(np.int16))
        rows.append({
            "megapixels": megapixels, "work_shape": list(content_in.shape[1:3]),
            "helpers": ours, "bare_onnxruntime": bare_timed, "helpers_int8": int8_timed,
            # the fastest run of each is the one least disturbed by other processes
            "overhead_fraction": ours["min_s"] / bare_timed["min_s"] - 1,
            "overhead_fraction_median": ours["median_s"] / bare_timed["median_s"] - 1,
            "overhead_fraction_cpu": ours["cpu_median_s"] / bare_timed["cpu_median_s"] - 1,
            "float32_vs_int8_fraction": ours["min_s"] / int8_timed["min_s"] - 1,
            "float32_vs_int8_fraction_median": ours["median_s"] / int8_timed["median_s"] - 1,
            "float32_vs_int8_mean_abs_difference": float(difference.mean()),
        })
    return {"rows": rows, "note": (
        "helpers: Stylizer.stylize with the default float32 graph (style resize + "
        "bottleneck, content resize to the working size, network, plain resize back to full "
        "size: detail='none', the guided detail is measured in its own table); helpers_int8: the same with the shipped int8 graph (CPU-dependent); bare: "
        "the two float32 session.run calls on inputs prepared beforehand, with our session "
        "options; ratios from the fastest of the interleaved runs of each (medians and CPU "
        "times in the JSON)")}
