// Findings: from the worlds' comparison (worlds.h) to a ranked list of causes, each with its
// evidence and a fix qdiff has verified by re-running with it (issue 5, analyses 3, 7 and 8).
//
// All re-runs use the verification samples (the first FindingsOptions::verify_samples of the
// data, held in memory) and measure the graph outputs only: a score is the error energy
// sum((x - y)^2) and reference energy sum(x^2) over every output element, and the top-1
// agreement of the first output (when its last axis has two or more classes).
//
// Quantization (float vs fake-quant). The candidates are the quantized units whose output
// carries the most error of its own: relative error energy beyond what its inputs bring
// (WorldRunner::inherited), the local error. Each candidate's sensitivity is measured first:
// the plan with that unit in float (everything else quantized) shows how much of the output
// error the unit causes; a unit whose float run removes less than 10% of it is dropped. Then
// the fixes that apply to it are verified one by one, each a targeted plan edit
// (quant/plan_edit.h) measured on the fake-quant output:
//   per-channel weights          (a per-tensor weight)              -> weight-granularity
//   the activation range the MSE observer picks on the samples (narrower than the grid)
//                                                                   -> activation-range
//   the samples' min/max range (the grid clips the samples)         -> calibration-data when
//                                the plan's range came from a min/max calibration (the
//                                calibration data did not hold these values), else
//                                activation-range
//   int16 activations for the unit (where TargetProfile::int16_units) -> precision
// in that order, the order of what they cost the deployment; the first that removes at least
// 60% of what the best of them removes is the fix and names the cause (float for the unit when
// none of them recovers at least half of what float does: precision, "keep it in float").
// Every per-tensor weight whose channel ranges differ 4x or more is also tried per channel at
// once (weight-granularity across the model). When the output is damaged and no single unit's
// fix removes half of its error, the candidates raised to int16 (float where the target has no
// 16-bit kernels) together are tried:
// accumulation (many small errors, no single culprit) when that removes at least a fifth of the
// error and a tenth more than the best single fix.
//
// Split-point curves (the seed users' manual bisection): the output SQNR (float vs fake-quant)
// when the first k quantized units (in graph order of their first node) run quantized and the
// rest float ("forward"), and when the first k run float and the rest quantized ("reverse"), at
// FindingsOptions::split_points values of k from 0 to all; where the forward curve falls is
// where the damage is done.
//
// Arithmetic (fake-quant vs the target's integer emulation). When the arithmetic pair diverges
// (worlds.h) or its output error exceeds a quarter of the quantization error, the mechanism
// differential runs: each mechanism of the profile that differs from fake-quant arithmetic
// (requantization, rounding, multiplier bits, accumulator width and pair saturation, bias bits,
// elementwise/pooling/LUT/resize schemes, activation approximations, pad value) is switched to
// the fake-quant behaviour alone, and the integer world re-run; the mechanism whose switch
// removes the most output error names the cause (rounding, precision, saturation,
// approximation, padding) at the arithmetic pair's first divergence. Else, when 32-bit biases
// are stored with a scale other than s_in * s_w (the scale the integer kernel adds them at),
// and re-deriving them removes half of it: precision. When no single switch removes half of it
// but all together do: accumulation. A divergence nothing explains is still reported
// (device-mismatch: the emulated target's kernels read the plan otherwise than fake-quant).
//
// Device (a device dump attached: WorldRunner::attach_device). At the device pair's first
// divergence (integer emulation vs device, the arithmetic pair's rules), the candidate
// explanations are each measured as the SQNR of the device's values against qdiff's emulation
// changed by the explanation, on the verification samples:
//   preprocessing   (a graph input) the device's input as a * x + b of qdiff's per channel,
//                   least squares over the values the input grid does not clip, put on that
//                   grid; or its channels reversed (RGB vs BGR);
//   layout          the tensor's values in NHWC order under the NCHW shape; its channels
//                   reversed; for a DepthToSpace output, the other mode (DCR vs CRD);
//   a mechanism     the integer world re-run with one field of the profile set to another
//                   value (each rounding mode of the requantization and of the input
//                   quantization, fixed-point or float requantization, 15/16/23-bit
//                   multipliers, a 16-bit saturating accumulator, u8 x s8 pair saturation,
//                   the other pad value, LUT and add schemes, each approximation switched):
//                   rounding, precision, saturation, padding, approximation.
// The best explanation is the finding when it removes at least 90% of the error at that
// tensor; else device-mismatch (a compiler or kernel fault no known mechanism explains).
// Severity: error when the device's output is damaged against the emulation or the device
// causes at least half of the output error, warning for a step-error divergence, else info.
//
// Invalid values: a NaN or Inf in any world (error severity, no fix to verify).
//
// A damaged output (quantization pair) that no error finding explains is reported anyway as
// accumulation (error, no verified fix), at the unit where the forward split-point curve
// falls the most.
//
// Severity. An output is damaged when its top-1 prediction flips in more than 1.5% of the rows
// (and at least 3: one flip in 48 samples is noise), or its SQNR is below 10 dB (classifier
// outputs) / 20 dB (others), over all samples. A quantization
// finding is an error when the output is damaged and its fix removes at least half the error,
// a warning when the output is damaged and it removes at least a fifth, else info. An
// arithmetic finding is an error when its mechanism removes at least half the arithmetic error
// and that error is at least the quantization error (or the output is damaged), a warning when
// it is at least a quarter of it, else info. Findings are ranked by severity, then by the
// fraction of the total output error (quantization + arithmetic energy) their fix removes;
// invalid values first.
// Verdict: "broken" with an error finding, "degraded" with a warning, else "healthy".
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "analysis/worlds.h"
#include "support/status.h"
#include "tensor/tensor.h"

namespace qdiff::analysis {

struct FixVerified {
  std::string metric;  // "output SQNR, float vs fake-quant (dB)"
  double before = 0, after = 0;
};

struct Finding {
  std::string node;     // the unit's first node (Conv of Conv+Relu)
  std::string tensor;   // the unit's output tensor
  std::string op_type;  // of `node`
  std::string category;
  std::string severity;  // "info", "warning", "error"
  std::string summary;   // one line
  nlohmann::ordered_json evidence = nlohmann::ordered_json::object();
  std::string fix;
  std::optional<FixVerified> fix_verified;
  double impact = 0;  // fraction of the total output error the fix removes (ranking)
};

struct FindingsOptions {
  int64_t candidates = 6;    // units examined per pair (by local error)
  int64_t split_points = 9;  // points of each split-point curve (0: none)
  int threads = 1;
};

struct Diagnosis {
  std::vector<Finding> findings;  // ranked
  std::string verdict;            // "healthy", "degraded", "broken"
  // Numbers of the analyses behind the findings (candidates and their sensitivity, the
  // mechanism differential), for the report.
  nlohmann::ordered_json analyses = nlohmann::ordered_json::object();
};

// `runner` has run the samples; `verify` holds the verification samples (each one tensor per
// graph input). Errors: a re-run fails.
Result<Diagnosis> find_causes(const WorldRunner& runner,
                              std::span<const std::vector<Tensor>> verify,
                              const FindingsOptions& options = {});

nlohmann::ordered_json to_json(const Finding& f);

}  // namespace qdiff::analysis
