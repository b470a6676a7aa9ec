"""Static int8 quantization of one ONNX model, run by `dreamlens models quantize`.

The app prepares the calibration inputs (its own preprocessing of frames it owns) as .npy files
and lists them in a JSON file: one object per frame, input name -> file. This script only runs
ONNX Runtime's static quantizer on them: QDQ format, signed int8 weights (per channel) and
signed int8 activations, so the result does not depend on a CPU's u8s8 kernels. The app then
checks the variant against the original model before it accepts it.

Prints one JSON line with the tool versions.
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np
import onnx
import onnx.version_converter
import onnxruntime
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

# Per-channel weights need DequantizeLinear's `axis`, which opset 13 introduced.
MIN_OPSET = 13


class Frames(CalibrationDataReader):
    """The calibration frames, one feed dict at a time."""

    def __init__(self, listing):
        self.items = iter(listing)

    def get_next(self):
        item = next(self.items, None)
        if item is None:
            return None
        return {name: np.load(path) for name, path in item.items()}


def versions():
    return {
        "onnxruntime": onnxruntime.__version__,
        "onnx": onnx.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--calibration", required=True, help="JSON list of {input: .npy}")
    parser.add_argument("--output", required=True)
    parser.add_argument(
        "--op-types",
        default="",
        help="comma-separated operator types to quantize (default: every type the quantizer can)",
    )
    args = parser.parse_args()
    op_types = [t for t in args.op_types.split(",") if t] or None
    with open(args.calibration, encoding="utf-8") as file:
        listing = json.load(file)
    if not listing:
        sys.exit("no calibration frames")
    with tempfile.TemporaryDirectory() as scratch:
        model = onnx.load(args.model)
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        if opset < MIN_OPSET:
            model = onnx.version_converter.convert_version(model, MIN_OPSET)
        source = os.path.join(scratch, "float.onnx")
        onnx.save(model, source)
        # Shape inference and graph clean-up first, as ONNX Runtime recommends; a model it
        # cannot handle is quantized as it is.
        prepared = os.path.join(scratch, "prepared.onnx")
        try:
            quant_pre_process(source, prepared, skip_symbolic_shape=True)
        except Exception as error:  # noqa: BLE001 - any failure here only skips an optimisation
            print(f"pre-processing skipped: {error}", file=sys.stderr)
            prepared = source
        quantize_static(
            prepared,
            args.output,
            Frames(listing),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=op_types,
        )
    print(json.dumps(versions()))


if __name__ == "__main__":
    main()
