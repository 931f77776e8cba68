#include "tensor/npy.h"

#include <cstring>
#include <fstream>
#include <regex>

namespace qdiff {
namespace {

Status npy_error(const std::filesystem::path& path, const std::string& what) {
  return invalid_argument(path.string() + ": not a valid .npy file: " + what);
}

}  // namespace

std::string npy_header(DType dtype, const Shape& shape) {
  std::string dict =
      "{'descr': '" + std::string(dtype_npy_descr(dtype)) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    dict += (shape.size() == 1 || i + 1 < shape.size()) ? "," : "";
    if (i + 1 < shape.size()) dict += " ";
  }
  dict += "), }";
  // Total header length (magic 6 + version 2 + length 2 + dict + '\n') is a multiple of 64.
  const size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  std::string header = "\x93NUMPY";
  header += '\x01';
  header += '\x00';
  const auto len = static_cast<uint16_t>(dict.size());
  header += static_cast<char>(len & 0xff);
  header += static_cast<char>(len >> 8);
  return header + dict;
}

Result<NpyHeader> read_npy_header(std::istream& in, const std::filesystem::path& path) {
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    return npy_error(path, "bad magic");
  const int major = static_cast<unsigned char>(magic[6]);
  uint32_t header_len = 0;
  uint64_t offset = 0;
  if (major == 1) {
    unsigned char b[2];
    if (!in.read(reinterpret_cast<char*>(b), 2)) return npy_error(path, "truncated header");
    header_len = b[0] | (b[1] << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!in.read(reinterpret_cast<char*>(b), 4)) return npy_error(path, "truncated header");
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
    if (header_len > (1u << 20)) return npy_error(path, "header too long");
    offset = 12;
  } else {
    return npy_error(path, "unsupported version " + std::to_string(major));
  }
  std::string header(header_len, '\0');
  if (!in.read(header.data(), header_len)) return npy_error(path, "truncated header");

  std::smatch m;
  if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")))
    return npy_error(path, "no descr");
  const std::string descr = m[1];
  if (std::regex_search(header, m, std::regex(R"('fortran_order'\s*:\s*True)")))
    return npy_error(path, "Fortran order is not supported; save with np.ascontiguousarray");
  if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
    return npy_error(path, "no shape");
  NpyHeader h;
  const std::string dims = m[1];
  std::regex num(R"(\d+)");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator();
       ++it) {
    const std::string s = it->str();
    if (s.size() > 15) return npy_error(path, "dimension too large");
    h.shape.push_back(std::stoll(s));
  }
  if (!descr.empty() && descr[0] == '>') return npy_error(path, "big-endian data is not supported");
  auto dtype = dtype_from_npy_descr(descr);
  if (!dtype) return npy_error(path, "unsupported dtype '" + descr + "'");
  h.dtype = *dtype;
  h.data_offset = offset + header_len;
  return h;
}

Result<Tensor> read_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path.string() + ": cannot open file");
  QDIFF_ASSIGN_OR_RETURN(NpyHeader h, read_npy_header(in, path));
  QDIFF_ASSIGN_OR_RETURN(Tensor t, Tensor::create(h.dtype, h.shape));
  const auto pos = in.tellg();
  in.seekg(0, std::ios::end);
  const auto available = static_cast<uint64_t>(in.tellg() - pos);
  in.seekg(pos);
  if (available < t.nbytes())
    return npy_error(path, "data truncated: " + std::to_string(available) + " bytes for shape " +
                               shape_to_string(h.shape) + " of " +
                               std::string(dtype_name(h.dtype)));
  if (t.nbytes() &&
      !in.read(reinterpret_cast<char*>(t.raw_mutable()), static_cast<std::streamsize>(t.nbytes())))
    return npy_error(path, "read failed");
  return t;
}

Status write_npy(const std::filesystem::path& path, const Tensor& t) {
  if (dtype_npy_descr(t.dtype()).empty())
    return unsupported("cannot write " + std::string(dtype_name(t.dtype())) + " to .npy");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return io_error(path.string() + ": cannot create file");
  const std::string header = npy_header(t.dtype(), t.shape());
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.nbytes()));
  if (!out) return io_error(path.string() + ": write failed");
  return Status();
}

}  // namespace qdiff
