"""Converts a quantized TensorFlow Lite segmenter into an ONNX graph with dreamlens' segmentation
contract: `image` f32 [1,3,H,W] holding (px-128)/128 in, `logits` f32 [1,C,H,W] and `class_map`
i64 [1,H,W] out, and the head's own scores kept as the tensor named by --coarse-name.

Every quantized TFLite tensor becomes the float tensor its int values stand for, written in the
standard QDQ form: weights are the published int8/uint8 values behind DequantizeLinear, and each
op's float result passes through QuantizeLinear/DequantizeLinear with the scale and zero point
the TFLite file gives its output. ONNX Runtime fuses these back into integer kernels. The graph
is NCHW; the NHWC axes of TFLite ops are mapped. The conversion stops at --stop-at, the tensor
before the file's own final resize and argmax (MOSAIC's last op is a custom one no other runtime
has), and the contract's upsampling and argmax are appended.

Usage: tflite_segmenter.py SOURCE.tflite OUT.onnx --stop-at TENSOR --coarse-name NAME
       [--upsample-mode half_pixel|align_corners|asymmetric]
Prints one JSON line with the versions of the tools used.
"""
import argparse
import json

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
# TFLite tensor types: FLOAT32, INT32, UINT8, INT64, INT8.
NUMPY_TYPE = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
# NHWC dimension -> NCHW axis.
NCHW_AXIS = [0, 2, 3, 1]
PADDING_SAME = 0
ACTIVATION = {0: None, 1: "relu", 3: "relu6"}


class Converter:
    def __init__(self, buffer):
        self.model = tflite.Model.GetRootAsModel(buffer, 0)
        self.graph = self.model.Subgraphs(0)
        self.nodes = []
        self.initializers = []
        self.names = {}
        self.counter = 0
        self.op_names = {
            value: key for key, value in tflite.BuiltinOperator.__dict__.items() if not key.startswith("_")
        }

    # ---- names and constants -------------------------------------------------------------
    def fresh(self, hint):
        self.counter += 1
        return f"{hint}_{self.counter}"

    def constant(self, array, hint):
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def node(self, op_type, inputs, hint, **attributes):
        output = self.fresh(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attributes))
        return output

    # ---- TFLite tensors --------------------------------------------------------------------
    def tensor(self, index):
        return self.graph.Tensors(index)

    def shape(self, index):
        return [int(d) for d in self.tensor(index).ShapeAsNumpy()]

    def quantization(self, index):
        q = self.tensor(index).Quantization()
        if q is None or q.ScaleLength() == 0:
            raise ValueError(f"tensor {self.tensor(index).Name().decode()} is not quantized")
        scale = q.ScaleAsNumpy().astype(np.float32)
        zero_point = q.ZeroPointAsNumpy().astype(np.int64)
        return scale, zero_point, q.QuantizedDimension()

    def data(self, index):
        tensor = self.tensor(index)
        raw = self.model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(raw, int) or raw is None or len(raw) == 0:
            return None
        return np.frombuffer(raw.tobytes(), dtype=NUMPY_TYPE[tensor.Type()]).reshape(self.shape(index))

    def integer_type(self, index):
        return NUMPY_TYPE[self.tensor(index).Type()]

    def scalar_params(self, index, hint):
        scale, zero_point, _ = self.quantization(index)
        if len(scale) != 1:
            raise ValueError(f"activation {self.tensor(index).Name().decode()} is quantized per channel")
        dtype = self.integer_type(index)
        return (
            self.constant(np.array(scale[0], np.float32), hint + "_scale"),
            self.constant(np.array(zero_point[0], dtype), hint + "_zero"),
        )

    def requantize(self, value, index):
        """The float `value` stored as TFLite tensor `index`: quantized with its parameters."""
        scale, zero = self.scalar_params(index, "q")
        quantized = self.node("QuantizeLinear", [value, scale, zero], "q")
        self.names[index] = self.node("DequantizeLinear", [quantized, scale, zero], "dq")

    def weights(self, index, permutation, hint):
        """A constant int tensor behind DequantizeLinear, transposed to the ONNX layout."""
        values = self.data(index)
        scale, zero_point, axis = self.quantization(index)
        values = np.transpose(values, permutation) if permutation else values
        dtype = values.dtype
        if len(scale) > 1:
            onnx_axis = permutation.index(axis) if permutation else axis
            return self.node(
                "DequantizeLinear",
                [self.constant(values, hint), self.constant(scale, hint + "_scale"),
                 self.constant(zero_point.astype(dtype), hint + "_zero")],
                hint + "_dq",
                axis=onnx_axis,
            )
        return self.node(
            "DequantizeLinear",
            [self.constant(values, hint), self.constant(np.array(scale[0], np.float32), hint + "_scale"),
             self.constant(np.array(zero_point[0], dtype), hint + "_zero")],
            hint + "_dq",
        )

    def activation(self, value, code):
        kind = ACTIVATION.get(code, "unsupported")
        if kind == "unsupported":
            raise ValueError(f"fused activation {code} is not supported")
        if kind == "relu":
            return self.node("Relu", [value], "relu")
        if kind == "relu6":
            low = self.constant(np.array(0.0, np.float32), "zero")
            high = self.constant(np.array(6.0, np.float32), "six")
            return self.node("Clip", [value, low, high], "relu6")
        return value

    # ---- ops -------------------------------------------------------------------------------
    def options(self, op, kind):
        table = op.BuiltinOptions()
        options = kind()
        options.Init(table.Bytes, table.Pos)
        return options

    @staticmethod
    def same_pads(size, kernel, stride, dilation):
        effective = (kernel - 1) * dilation + 1
        out = -(-size // stride)
        total = max((out - 1) * stride + effective - size, 0)
        return total // 2, total - total // 2

    def pads(self, padding, input_index, kernel_h, kernel_w, stride_h, stride_w, dilation_h=1, dilation_w=1):
        if padding != PADDING_SAME:
            return [0, 0, 0, 0]
        _, height, width, _ = self.shape(input_index)
        top, bottom = self.same_pads(height, kernel_h, stride_h, dilation_h)
        left, right = self.same_pads(width, kernel_w, stride_w, dilation_w)
        return [top, left, bottom, right]

    def convolution(self, op, inputs, depthwise):
        kind = tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions
        options = self.options(op, kind)
        weight_shape = self.shape(inputs[1])
        # TFLite: conv [O,KH,KW,I], depthwise [1,KH,KW,O]; ONNX: [O,I/group,KH,KW].
        permutation = (3, 0, 1, 2) if depthwise else (0, 3, 1, 2)
        kernel_h, kernel_w = weight_shape[1], weight_shape[2]
        group = self.shape(inputs[0])[3] if depthwise else 1
        operands = [self.names[inputs[0]], self.weights(inputs[1], permutation, "w")]
        if len(inputs) > 2 and inputs[2] >= 0:
            operands.append(self.weights(inputs[2], None, "b"))
        value = self.node(
            "Conv", operands, "conv",
            kernel_shape=[kernel_h, kernel_w],
            strides=[options.StrideH(), options.StrideW()],
            dilations=[options.DilationHFactor(), options.DilationWFactor()],
            pads=self.pads(options.Padding(), inputs[0], kernel_h, kernel_w, options.StrideH(),
                           options.StrideW(), options.DilationHFactor(), options.DilationWFactor()),
            group=group,
        )
        return self.activation(value, options.FusedActivationFunction())

    def average_pool(self, op, inputs):
        options = self.options(op, tflite.Pool2DOptions)
        kernel_h, kernel_w = options.FilterHeight(), options.FilterWidth()
        value = self.node(
            "AveragePool", [self.names[inputs[0]]], "pool",
            kernel_shape=[kernel_h, kernel_w],
            strides=[options.StrideH(), options.StrideW()],
            pads=self.pads(options.Padding(), inputs[0], kernel_h, kernel_w, options.StrideH(), options.StrideW()),
            count_include_pad=0,
        )
        return self.activation(value, options.FusedActivationFunction())

    def add(self, op, inputs):
        options = self.options(op, tflite.AddOptions)
        value = self.node("Add", [self.names[inputs[0]], self.names[inputs[1]]], "add")
        return self.activation(value, options.FusedActivationFunction())

    def concatenation(self, op, inputs):
        options = self.options(op, tflite.ConcatenationOptions)
        axis = NCHW_AXIS[options.Axis() % 4]
        value = self.node("Concat", [self.names[i] for i in inputs], "concat", axis=axis)
        return self.activation(value, options.FusedActivationFunction())

    def strided_slice(self, op, inputs):
        options = self.options(op, tflite.StridedSliceOptions)
        if options.EllipsisMask() or options.NewAxisMask() or options.ShrinkAxisMask():
            raise ValueError("strided slices with ellipsis, new or shrunk axes are not supported")
        begin, end, strides = (self.data(i).astype(np.int64) for i in inputs[1:4])
        shape = self.shape(inputs[0])
        starts, ends = [], []
        for dim in range(4):
            starts.append(0 if options.BeginMask() & (1 << dim) else begin[dim])
            ends.append(shape[dim] if options.EndMask() & (1 << dim) else end[dim])
        axes = [NCHW_AXIS[d] for d in range(4)]
        return self.node(
            "Slice",
            [self.names[inputs[0]], self.constant(np.array(starts, np.int64), "starts"),
             self.constant(np.array(ends, np.int64), "ends"), self.constant(np.array(axes, np.int64), "axes"),
             self.constant(strides, "steps")],
            "slice",
        )

    def resize_bilinear(self, op, inputs):
        options = self.options(op, tflite.ResizeBilinearOptions)
        height, width = (int(v) for v in self.data(inputs[1]))
        batch, _, _, channels = self.shape(inputs[0])
        return self.resize(self.names[inputs[0]], [batch, channels, height, width],
                           "align_corners" if options.AlignCorners() else
                           "half_pixel" if options.HalfPixelCenters() else "asymmetric")

    def resize(self, value, sizes, mode):
        return self.node(
            "Resize", [value, "", "", self.constant(np.array(sizes, np.int64), "sizes")], "resize",
            mode="linear", coordinate_transformation_mode=mode,
        )

    def convert_op(self, op):
        code = self.model.OperatorCodes(op.OpcodeIndex())
        name = self.op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        inputs = [int(i) for i in op.InputsAsNumpy()]
        if name == "CONV_2D":
            return self.convolution(op, inputs, depthwise=False)
        if name == "DEPTHWISE_CONV_2D":
            return self.convolution(op, inputs, depthwise=True)
        if name == "AVERAGE_POOL_2D":
            return self.average_pool(op, inputs)
        if name == "ADD":
            return self.add(op, inputs)
        if name == "CONCATENATION":
            return self.concatenation(op, inputs)
        if name == "STRIDED_SLICE":
            return self.strided_slice(op, inputs)
        if name == "RESIZE_BILINEAR":
            return self.resize_bilinear(op, inputs)
        if name == "QUANTIZE":
            return self.names[inputs[0]]
        raise ValueError(f"TFLite op {name} is not supported")

    # ---- the whole graph -------------------------------------------------------------------
    def convert(self, stop_at, coarse_name, upsample_mode):
        source = int(self.graph.Inputs(0))
        batch, height, width, channels = self.shape(source)
        # The contract's (px-128)/128 back to the raw 8-bit pixel the TFLite input holds.
        pixel = self.node("Mul", ["image", self.constant(np.array(128.0, np.float32), "c128")], "pixel")
        pixel = self.node("Add", [pixel, self.constant(np.array(128.0, np.float32), "c128")], "pixel")
        pixel = self.node("Round", [pixel], "pixel")
        pixel = self.node("Clip", [pixel, self.constant(np.array(0.0, np.float32), "c0"),
                                   self.constant(np.array(255.0, np.float32), "c255")], "pixel")
        pixel = self.node("Cast", [pixel], "pixel", to=TensorProto.UINT8)
        scale, zero = self.scalar_params(source, "input")
        if self.integer_type(source) != np.uint8:
            raise ValueError("the TFLite input is not 8-bit unsigned pixels")
        self.names[source] = self.node("DequantizeLinear", [pixel, scale, zero], "input")

        stop = None
        for i in range(self.graph.OperatorsLength()):
            op = self.graph.Operators(i)
            output = int(op.OutputsAsNumpy()[0])
            self.requantize(self.convert_op(op), output)
            if self.tensor(output).Name().decode() == stop_at:
                stop = output
                break
        if stop is None:
            raise ValueError(f"the graph has no tensor named {stop_at}")

        _, coarse_height, coarse_width, classes = self.shape(stop)
        self.nodes.append(helper.make_node("Identity", [self.names[stop]], [coarse_name], name=coarse_name))
        logits = self.resize(coarse_name, [batch, classes, height, width], upsample_mode)
        self.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="logits"))
        self.nodes.append(helper.make_node("ArgMax", ["logits"], ["class_map"], name="class_map", axis=1, keepdims=0))
        graph = helper.make_graph(
            self.nodes, "segmenter",
            [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, channels, height, width])],
            [helper.make_tensor_value_info("class_map", TensorProto.INT64, [batch, height, width]),
             helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, classes, height, width]),
             helper.make_tensor_value_info(coarse_name, TensorProto.FLOAT,
                                           [batch, classes, coarse_height, coarse_width])],
            initializer=self.initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="dreamlens-tflite-segmenter")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("source")
    parser.add_argument("output")
    parser.add_argument("--stop-at", required=True)
    parser.add_argument("--coarse-name", required=True)
    parser.add_argument("--upsample-mode", default="half_pixel",
                        choices=["half_pixel", "align_corners", "asymmetric"])
    args = parser.parse_args()
    with open(args.source, "rb") as file:
        model = Converter(file.read()).convert(args.stop_at, args.coarse_name, args.upsample_mode)
    with open(args.output, "wb") as file:
        file.write(model.SerializeToString())
    print(json.dumps({"onnx": onnx.__version__, "numpy": np.__version__, "tflite": tflite.__version__
                      if hasattr(tflite, "__version__") else "unknown"}))


if __name__ == "__main__":
    main()
