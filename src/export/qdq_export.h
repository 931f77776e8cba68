// QDQ export: a float ONNX model + a QuantPlan over its tensor names -> the QDQ ONNX model ONNX
// Runtime's own static quantizer (quantize_static, QuantFormat.QDQ) writes, so that ORT runs it
// and, with graph optimizations on, fuses the Q/DQ pairs into its integer kernels.
//
// What the exported model holds (names follow ORT's quantizer, qdq_quantizer.py):
//   activation X (graph input or node output), one QuantizeLinear/DequantizeLinear pair shared by
//     all its readers:
//       X -> QuantizeLinear "X_QuantizeLinear" -> X_QuantizeLinear_Output
//         -> DequantizeLinear "X_DequantizeLinear" -> X_DequantizeLinear_Output
//     with initializers X_scale (float32) and X_zero_point (uint8/int8/uint16/int16), scalars
//     (1-D with `axis` when per-channel); every reader of X reads X_DequantizeLinear_Output.
//     A graph output X keeps its name, as ORT does: its producer now writes
//     X_QuantizeLinear_Input, the Q reads that and the DQ writes X (other readers read X, the
//     dequantized value).
//   weight W (an initializer or the output of a Constant node): integer initializer
//     W_quantized = quantize(W) computed with qdiff's quantize() and the plan's rounding mode,
//     W_scale, W_zero_point and DequantizeLinear "W_DequantizeLinear" (axis when per-channel)
//     writing W_DequantizeLinear_Output, which its readers read. W (or its Constant node) is
//     removed. Weights of 2..8 bits are stored as int8/uint8 (values in range), 9..16 bits as
//     int16/uint16.
//   bias B (int32, zero point 0): B_quantized, B_quantized_scale, B_quantized_zero_point and
//     DequantizeLinear "B_DequantizeLinear" writing B itself (ORT's naming), so readers are
//     unchanged.
// A name that already exists in the model gets a "_1", "_2"... suffix.
//
// Q/DQ domain and opset:
//   - 16-bit Q/DQ is in the default domain only from opset 21. Below it every Q/DQ node of the
//     model goes to domain com.microsoft (ORT's contrib QuantizeLinear/DequantizeLinear, version
//     1), as ORT's quantizer does when it sees a 16-bit type.
//   - Per-axis DequantizeLinear needs opset 13 (ORT's quantizer refuses per-channel QDQ below
//     it); Q/DQ need opset 10. OpsetPolicy::kUpgrade (default) converts such models to opset 13
//     with libonnx's version converter before rewriting them (it handles PP-OCRv4 det, opset
//     11, Constant-node weights); OpsetPolicy::kContribOps keeps the opset and puts every Q/DQ
//     in com.microsoft, which has per-axis Q/DQ at any opset.
//
// Refused with a Status naming the tensor: dynamic plan entries (DynamicQuantizeLinear is not
// QDQ), activations of other than 8 or 16 bits, activations whose rounding mode is not
// half-to-even (QuantizeLinear cannot express another one), bias zero points other than 0, names
// the model does not have, initializers planned as activations, weights that are neither
// initializers nor Constant outputs, non-float32 tensors, per-channel axes or scale counts that
// do not fit the tensor. The plan's node entries (units, precision) are not used: QDQ has no way
// to say them; a float node is one whose tensors the plan leaves out.
//
// Initializers stored as external data are inlined. Output bytes are deterministic.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "quant/plan.h"
#include "support/status.h"

namespace qdiff::exporter {

enum class OpsetPolicy : uint8_t {
  // Models below opset 13 with per-channel entries, and models below opset 10, are converted to
  // opset 13 (libonnx version converter); others keep their opset.
  kUpgrade,
  // Never change the opset: every Q/DQ node in domain com.microsoft (runs on ORT only).
  kContribOps,
};

struct ExportOptions {
  OpsetPolicy opset_policy = OpsetPolicy::kUpgrade;
  // Run libonnx's checker on the result where it knows the opset (<= 17); a failure is reported
  // as an internal error (the exporter wrote an invalid model).
  bool run_checker = true;
};

// Reads `float_model`, writes the QDQ model to `out`.
Status export_qdq(const std::filesystem::path& float_model, const quant::QuantPlan& plan,
                  const std::filesystem::path& out, const ExportOptions& options = {});

// Same on bytes in memory. `base_dir` resolves external data files; `display_name` (the model's
// path) starts every error message.
Result<std::string> export_qdq_to_bytes(const std::string& float_model_bytes,
                                        const std::filesystem::path& base_dir,
                                        const std::string& display_name,
                                        const quant::QuantPlan& plan,
                                        const ExportOptions& options = {});

}  // namespace qdiff::exporter
