// Einsum reference kernel: a plain loop over every combination of label values.
//
// The equation is "term,term,...[->out]" with letters as labels and "..." for broadcast dims
// (spaces are ignored). Without "->" the output is the ellipsis dims followed by the labels that
// occur exactly once, in alphabetical order (numpy's implicit mode). A label repeated within one
// term takes the diagonal. Dims of size 1 broadcast against the same label's size elsewhere.
#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

// Labels: 0..51 for letters, 52 + i for the i-th ellipsis dim (counted from the left of the
// broadcast ellipsis block).
constexpr int kEllipsisBase = 52;

Result<int> letter_label(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return 26 + (c - 'A');
  return invalid_model(std::string("Einsum: invalid character '") + c + "' in equation");
}

struct Term {
  std::vector<int> letters_before;  // labels before "..."
  std::vector<int> letters_after;   // labels after "..." (all labels when no ellipsis)
  bool ellipsis = false;
};

Result<Term> parse_term(const std::string& s) {
  Term t;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '.') {
      if (t.ellipsis || s.compare(i, 3, "...") != 0)
        return invalid_model("Einsum: malformed ellipsis in term '" + s + "'");
      t.ellipsis = true;
      i += 3;
      continue;
    }
    QDIFF_ASSIGN_OR_RETURN(int l, letter_label(s[i]));
    (t.ellipsis ? t.letters_after : t.letters_before).push_back(l);
    ++i;
  }
  if (!t.ellipsis) std::swap(t.letters_before, t.letters_after);
  return t;
}

// Checks an operand's rank against its term; sets `ell` to its number of ellipsis dims.
Status check_term_rank(const Term& t, int64_t rank, size_t input, int64_t& ell) {
  const int64_t letters = static_cast<int64_t>(t.letters_before.size() + t.letters_after.size());
  if (t.ellipsis ? rank < letters : rank != letters)
    return invalid_argument("Einsum: input " + std::to_string(input) + " has rank " +
                            std::to_string(rank) + " but its term names " +
                            std::to_string(letters) + " dims");
  ell = t.ellipsis ? rank - letters : 0;
  return Status::ok_status();
}

template <typename T>
T mul_wrap(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  } else {
    return a * b;
  }
}
template <typename T>
T add_wrap(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  } else {
    return a + b;
  }
}

}  // namespace

Status Einsum(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(std::string eq_raw, ctx.attrs.get_string("equation", ""));
  std::string eq;
  for (char c : eq_raw)
    if (c != ' ') eq += c;
  if (eq.empty()) return invalid_model("Einsum: missing attribute 'equation'");
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<Term> terms;
  {
    size_t start = 0;
    while (true) {
      const size_t comma = lhs.find(',', start);
      QDIFF_ASSIGN_OR_RETURN(Term t, parse_term(lhs.substr(start, comma - start)));
      terms.push_back(std::move(t));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  const size_t n_in = ctx.num_inputs();
  if (terms.size() != n_in)
    return invalid_model("Einsum: equation has " + std::to_string(terms.size()) +
                         " terms but the node has " + std::to_string(n_in) + " inputs");
  std::vector<const Tensor*> xs(n_in);
  for (size_t i = 0; i < n_in; ++i) {
    QDIFF_ASSIGN_OR_RETURN(xs[i], required_input(ctx, i));
    if (xs[i]->dtype() != xs[0]->dtype())
      return invalid_model("Einsum: all inputs must have the same type");
  }
  const DType dt = xs[0]->dtype();
  if (dt == DType::kBool || dtype_size(dt) == 0 || dt == DType::kFloat16 || dt == DType::kBFloat16)
    return dtype_error("Einsum", 0, dt, "a float or integer type");

  // Per input: the label of each dim. Ellipsis dims are right-aligned in the broadcast block.
  int64_t ell_total = 0;
  std::vector<int64_t> ell(n_in);
  for (size_t i = 0; i < n_in; ++i) {
    QDIFF_RETURN_IF_ERROR(check_term_rank(terms[i], xs[i]->rank(), i, ell[i]));
    ell_total = std::max(ell_total, ell[i]);
  }
  if (kEllipsisBase + ell_total > 200) return invalid_argument("Einsum: too many ellipsis dims");
  std::vector<std::vector<int>> labels(n_in);
  for (size_t i = 0; i < n_in; ++i) {
    labels[i] = terms[i].letters_before;
    for (int64_t e = 0; e < ell[i]; ++e)
      labels[i].push_back(kEllipsisBase + static_cast<int>(ell_total - ell[i] + e));
    labels[i].insert(labels[i].end(), terms[i].letters_after.begin(), terms[i].letters_after.end());
  }
  // Label sizes (1 broadcasts).
  std::array<int64_t, 256> size;
  size.fill(-1);
  std::array<int, 256> count{};
  for (size_t i = 0; i < n_in; ++i)
    for (size_t d = 0; d < labels[i].size(); ++d) {
      const int l = labels[i][d];
      const int64_t s = xs[i]->shape()[d];
      ++count[static_cast<size_t>(l)];
      int64_t& cur = size[static_cast<size_t>(l)];
      if (cur == -1 || cur == 1) {
        cur = s;
      } else if (s != 1 && s != cur) {
        return invalid_argument("Einsum: dimension sizes " + std::to_string(cur) + " and " +
                                std::to_string(s) + " disagree for one label");
      }
    }
  // Output labels.
  std::vector<int> out_labels;
  if (arrow == std::string::npos) {
    for (int64_t e = 0; e < ell_total; ++e)
      out_labels.push_back(kEllipsisBase + static_cast<int>(e));
    for (int l = 0; l < kEllipsisBase; ++l)
      if (count[static_cast<size_t>(l)] == 1) out_labels.push_back(l);
  } else {
    QDIFF_ASSIGN_OR_RETURN(Term ot, parse_term(eq.substr(arrow + 2)));
    out_labels = ot.letters_before;
    if (ot.ellipsis)
      for (int64_t e = 0; e < ell_total; ++e)
        out_labels.push_back(kEllipsisBase + static_cast<int>(e));
    out_labels.insert(out_labels.end(), ot.letters_after.begin(), ot.letters_after.end());
    std::array<bool, 256> seen{};
    for (int l : out_labels) {
      if (seen[static_cast<size_t>(l)])
        return invalid_model("Einsum: output label repeated in '" + eq + "'");
      seen[static_cast<size_t>(l)] = true;
      if (count[static_cast<size_t>(l)] == 0 && l < kEllipsisBase)
        return invalid_model("Einsum: output label not in any input in '" + eq + "'");
    }
  }
  // Summed labels: every used label not in the output (ellipsis dims left out of an explicit
  // output are summed too).
  std::vector<int> sum_labels;
  {
    std::array<bool, 256> in_out{};
    for (int l : out_labels) in_out[static_cast<size_t>(l)] = true;
    for (int l = 0; l < 256; ++l)
      if (count[static_cast<size_t>(l)] > 0 && !in_out[static_cast<size_t>(l)])
        sum_labels.push_back(l);
  }
  qdiff::Shape out_shape;
  for (int l : out_labels) out_shape.push_back(size[static_cast<size_t>(l)]);
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, dt, out_shape));
  qdiff::Shape sum_shape;
  for (int l : sum_labels) sum_shape.push_back(size[static_cast<size_t>(l)]);
  const std::optional<int64_t> sum_n = shape_numel(sum_shape);
  if (!sum_n) return invalid_argument("Einsum: summed dimensions are too large");
  if (out->numel() > 0 && *sum_n > (int64_t{1} << 40) / out->numel())
    return resource_limit("Einsum: the contraction is too large for the reference loop");

  // Per input, per label: the element stride (0 where the dim is 1 and broadcast; summed over
  // repeated labels for diagonals).
  std::vector<std::array<int64_t, 256>> stride(n_in);
  for (size_t i = 0; i < n_in; ++i) {
    stride[i].fill(0);
    const std::vector<int64_t> st = strides_of(xs[i]->shape());
    for (size_t d = 0; d < labels[i].size(); ++d)
      if (xs[i]->shape()[d] != 1) stride[i][static_cast<size_t>(labels[i][d])] += st[d];
  }
  visit_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      T* po = out->mutable_data<T>();
      std::vector<int64_t> oidx(out_labels.size(), 0), sidx(sum_labels.size(), 0);
      std::vector<int64_t> base(n_in);
      for (int64_t o = 0; o < out->numel(); ++o) {
        for (size_t i = 0; i < n_in; ++i) {
          base[i] = 0;
          for (size_t d = 0; d < out_labels.size(); ++d)
            base[i] += oidx[d] * stride[i][static_cast<size_t>(out_labels[d])];
        }
        T acc{0};
        std::fill(sidx.begin(), sidx.end(), 0);
        for (int64_t s = 0; s < *sum_n; ++s) {
          T prod{1};
          for (size_t i = 0; i < n_in; ++i) {
            int64_t off = base[i];
            for (size_t d = 0; d < sum_labels.size(); ++d)
              off += sidx[d] * stride[i][static_cast<size_t>(sum_labels[d])];
            prod = mul_wrap(prod, xs[i]->data<T>()[off]);
          }
          acc = add_wrap(acc, prod);
          for (size_t d = sidx.size(); d-- > 0;) {
            if (++sidx[d] < sum_shape[d]) break;
            sidx[d] = 0;
          }
        }
        po[o] = acc;
        for (size_t d = oidx.size(); d-- > 0;) {
          if (++oidx[d] < out_shape[d]) break;
          oidx[d] = 0;
        }
      }
    }
  });
  return Status::ok_status();
}

}  // namespace qdiff::kernels::ref
