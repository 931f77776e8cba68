// AIMET-style quantization encodings JSON <-> QuantPlan.
//
// Users who quantized with Qualcomm AIMET (or a tool writing its format) have a float ONNX model
// plus an encodings file naming the model's tensors. import_encodings() turns that file into a
// QuantPlan over the float graph; export_encodings() writes a plan back as such a file.
//
// Formats read (sources: AIMET's "Encoding Format Specification", quic/aimet
// Docs/api_docs/quantization_encoding_specification.rst and
// quic.github.io/aimet-pages/AimetDocs/quantsim/encoding_spec.html; the reader/writer in
// aimet_onnx's AffineEncoding: _from_0_6_1, _from_1_0_0, _to_0_6_1, _to_1_0_0, and aimet_onnx
// quantsim._get_quantization_axes):
//   * 0.4.0 (also files without "version"), 0.5.0, 0.6.1:
//       {"version", "activation_encodings": {tensor: [enc, ...]}, "param_encodings": {tensor:
//       [...]},
//        "excluded_layers"?, "quantizer_args"?}
//       enc = {"bitwidth", "dtype": "int"|"float" (absent before 0.5: int), "is_symmetric":
//              "True"|"False", "min", "max", "offset", "scale"}; more than one enc = per channel.
//   * 1.0.0: {"version": "1.0.0", "activation_encodings": [entry...], "param_encodings": [...],
//       "excluded_layers"?}, entry = {"name", "dtype": "INT"|"FLOAT", "enc_type": "PER_TENSOR"|
//       "PER_CHANNEL"|"PER_BLOCK"|"LPBQ", "is_sym": bool (the string "True"/"False" is accepted
//       too), "bw", "scale": [..], "offset": [..]}.
//   Not read: 2.0.0 (QuantizeLinear-style "y_scale"/"y_zero_point"), PER_BLOCK / LPBQ / VECTOR
//   encodings, a non-zero "zero_point_shift", and the layer-keyed
//   {"layer": {"input": {"0": enc}, "output": {"0": enc}}} files that aimet_torch writes next to
//   the ONNX export (`*_torch.encodings`, keyed by PyTorch module names, not ONNX tensors): each
//   is refused with an error that says so.
//
// The arithmetic (exact). In both 0.x and 1.0.0 the offset "assumes uint" (aimet_onnx
// _to_0_6_1/_to_1_0_0: `self.to_unsigned().offset`): with B = bitwidth, O = offset, S = scale
// the dequantized grid is
//     x = S * (k + O),  k in [0, 2^B - 1]              min = S * O, max = S * (O + 2^B - 1)
// (a signed encoding stores q = k - 2^(B-1) and AIMET's internal signed offset is O + 2^(B-1);
// AIMET's quantize is x_q = round(x / S - O)). qdiff's grid is x = S * (q' - zp), q' in
// [qmin, qmax]. The mapping (bw, is_sym, offset, scale) -> QuantParams:
//   is_sym False:                         bits B, unsigned, zp = -O          (k = q')
//   is_sym True,  O = -2^(B-1):           bits B, signed, zp 0               (q' = k - 2^(B-1))
//   is_sym True,  O = -2^(B-1) + 1:       bits B, signed, narrow_range, zp 0: AIMET's
//                                         "strict symmetric", grid k in [0, 2^B - 2] (aimet_onnx
//                                         load_to: use_strict_symmetric when the internal offset
//                                         is 1). In 0.x files, a "max" equal to S * (O + 2^B - 1)
//                                         instead selects the full grid: signed, zp = -1.
//   is_sym True,  O = 0:                  bits B, unsigned, zp 0: AIMET's "unsigned symmetric"
//                                         (use_unsigned_symmetric when the internal offset is
//                                         2^(B-1)).
//   is_sym True,  any other O:            bits B, signed, zp = -(O + 2^(B-1)).
// In every case scale * (k + O) == scale * (q' - zp) for every code, as the same integer times
// the same float32 scale. `symmetric` is set exactly when the zero point is the middle of the
// grid (0 signed, 2^(B-1) unsigned) or the grid is narrow; rounding is half-to-even (AIMET's
// torch.round / np.round); source is "encodings".
// Export is the inverse: signed, zp 0 -> is_sym True, O = -2^(B-1) (narrow: -2^(B-1) + 1);
// unsigned (any zp) -> is_sym False, O = -zp; signed with zp != 0 -> is_sym False,
// O = -(zp + 2^(B-1)) (the same grid as an unsigned encoding: AIMET's asymmetric encodings are
// unsigned, so it reads back unsigned); unsigned narrow symmetric -> AIMET's strict symmetric
// (same grid, reads back signed narrow). min/max (0.x) are written as S * O and S * (O + n) in
// double. Scales are float32 values printed so that they read back exactly.
//
// Roles. A param_encodings tensor read as input 2 of Conv/ConvTranspose/Gemm is a bias (only 32
// bits signed zero point 0 is accepted: qdiff quantizes biases to int32); any other
// param_encodings tensor is a weight (initializers and Constant node outputs both count);
// activation_encodings on graph inputs and node outputs are activations (an activation entry on
// an initializer becomes a weight, with a note). A bias with no encoding stays float (a note
// says so; AIMET usually leaves biases to the converter).
// Per channel (more than one enc in 0.x, PER_CHANNEL in 1.0.0) is only read for constants; the
// axis is the weight's output-channel axis as AIMET picks it: Conv 0, ConvTranspose 1, Gemm 0
// with transB = 1 and 1 without, MatMul (constant second input) its last axis, any 1-D constant
// 0. The count must match that dimension. A 0.x list of one entry is per-tensor.
// dtype float entries (float16 overrides) are not quantized: their tensor names go to
// `float_tensors` (and a note) so callers can run the nodes involved in float.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "quant/plan.h"
#include "support/status.h"

namespace qdiff::encodings {

// `display_name` (the file's path) starts every error message. The plan passes
// quant::check_plan against `float_graph`. `notes` (may be null) receives what a user should
// know (biases left float, float16 tensors, excluded layers, min/max that disagree with
// scale/offset); `float_tensors` (may be null) the tensors with dtype float encodings.
Result<quant::QuantPlan> import_encodings(const std::string& json_text,
                                          const std::string& display_name,
                                          const ir::Graph& float_graph,
                                          std::vector<std::string>* notes,
                                          std::vector<std::string>* float_tensors = nullptr);
Result<quant::QuantPlan> load_encodings(const std::filesystem::path& path,
                                        const ir::Graph& float_graph,
                                        std::vector<std::string>* notes,
                                        std::vector<std::string>* float_tensors = nullptr);

enum class EncodingsVersion { k0_6_1, k1_0_0 };

// Writes `plan` (checked against `float_graph` first) as an encodings file of `version`, tensors
// in graph order. Dynamic tensors and per-channel axes other than the one AIMET implies are
// refused (kUnsupported). Rounding modes and node precisions are not part of the format.
Result<std::string> export_encodings(const quant::QuantPlan& plan, const ir::Graph& float_graph,
                                     EncodingsVersion version);

}  // namespace qdiff::encodings
