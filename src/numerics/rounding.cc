#include "numerics/rounding.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace qdiff {

std::string_view rounding_mode_name(RoundingMode mode) {
  switch (mode) {
    case RoundingMode::kHalfToEven:
      return "half_to_even";
    case RoundingMode::kHalfAwayFromZero:
      return "half_away_from_zero";
    case RoundingMode::kHalfUp:
      return "half_up";
    case RoundingMode::kHalfDown:
      return "half_down";
    case RoundingMode::kFloor:
      return "floor";
    case RoundingMode::kCeil:
      return "ceil";
    case RoundingMode::kTowardZero:
      return "toward_zero";
  }
  return "unknown";
}

Result<RoundingMode> parse_rounding_mode(std::string_view text) {
  std::string s(text);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return c == '-' ? '_' : static_cast<char>(std::tolower(c));
  });
  for (RoundingMode mode : kAllRoundingModes) {
    if (s == rounding_mode_name(mode)) return mode;
  }
  struct Alias {
    std::string_view name;
    RoundingMode mode;
  };
  static constexpr Alias kAliases[] = {
      {"rhe", RoundingMode::kHalfToEven},
      {"rne", RoundingMode::kHalfToEven},
      {"nearest_even", RoundingMode::kHalfToEven},
      {"half_even", RoundingMode::kHalfToEven},
      {"py3_round", RoundingMode::kHalfToEven},
      {"rhaz", RoundingMode::kHalfAwayFromZero},
      {"half_away", RoundingMode::kHalfAwayFromZero},
      {"std_round", RoundingMode::kHalfAwayFromZero},
      {"round", RoundingMode::kHalfAwayFromZero},
      {"rndna", RoundingMode::kHalfAwayFromZero},
      {"rhu", RoundingMode::kHalfUp},
      {"dpu_round", RoundingMode::kHalfUp},
      {"rndnu", RoundingMode::kHalfUp},
      {"trunc", RoundingMode::kTowardZero},
      {"truncate", RoundingMode::kTowardZero},
  };
  for (const Alias& a : kAliases) {
    if (s == a.name) return a.mode;
  }
  return invalid_argument("unknown rounding mode '" + std::string(text) +
                          "'; expected one of half_to_even, half_away_from_zero, half_up, "
                          "half_down, floor, ceil, toward_zero (or an alias such as rhe, rhaz, "
                          "rhu, dpu_round, std_round, trunc)");
}

}  // namespace qdiff
