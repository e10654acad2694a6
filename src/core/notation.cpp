// The one-line problem notation (see vconv/problem.h).
#include <cctype>
#include <optional>
#include <sstream>

#include "vconv/error.h"
#include "vconv/problem.h"

namespace vconv {
namespace {

struct Token {
  std::string text;
  size_t pos;
};

std::vector<Token> split_tokens(const std::string& line) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    const size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i > start) tokens.push_back({line.substr(start, i - start), start});
  }
  return tokens;
}

[[noreturn]] void fail(const std::string& line, const Token& t, const std::string& why) {
  throw Error("problem: " + why + " in token '" + t.text + "'\n  " + line + "\n  " +
              std::string(t.pos, ' ') + std::string(t.text.size(), '^'));
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string cur;
  for (char ch : s) {
    if (ch == sep) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  parts.push_back(cur);
  return parts;
}

std::optional<int64_t> to_int(const std::string& s) {
  if (s.empty()) return std::nullopt;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  for (size_t j = i; j < s.size(); ++j)
    if (!std::isdigit(static_cast<unsigned char>(s[j]))) return std::nullopt;
  try {
    return std::stoll(s);
  } catch (const std::out_of_range&) {
    return std::nullopt;
  }
}

template <typename T>
std::string join(const T* v, int n, const char* sep) {
  std::ostringstream os;
  for (int i = 0; i < n; ++i) os << (i ? sep : "") << v[i];
  return os.str();
}

// Prints a per-dimension field of the last `dims` slots, as one value when all are equal.
std::string dims_field(const std::array<int64_t, 3>& a, int dims) {
  const int64_t* v = a.data() + 3 - dims;
  bool same = true;
  for (int i = 1; i < dims; ++i) same = same && v[i] == v[0];
  return same ? std::to_string(v[0]) : join(v, dims, "x");
}

}  // namespace

std::string to_string(const Problem& p) {
  const int off = 3 - p.dims;
  std::ostringstream os;
  os << dtype_name(p.dtype) << " n=" << p.n << " in=" << join(p.in.data() + off, p.dims, "x")
     << " c=" << p.c << " o=" << p.o << " k=" << join(p.k.data() + off, p.dims, "x");
  auto all_eq = [&](const std::array<int64_t, 3>& a, int64_t v) {
    for (int i = off; i < 3; ++i)
      if (a[i] != v) return false;
    return true;
  };
  if (!all_eq(p.stride, 1)) os << " s=" << dims_field(p.stride, p.dims);
  if (!all_eq(p.pad_lo, 0) || !all_eq(p.pad_hi, 0)) {
    std::vector<std::string> pads;
    for (int i = off; i < 3; ++i)
      pads.push_back(p.pad_lo[i] == p.pad_hi[i]
                         ? std::to_string(p.pad_lo[i])
                         : std::to_string(p.pad_lo[i]) + ":" + std::to_string(p.pad_hi[i]));
    bool same = true;
    for (auto& s : pads) same = same && s == pads[0];
    os << " p=" << (same ? pads[0] : join(pads.data(), p.dims, "x"));
  }
  bool all_zeros = true, same_mode = true;
  for (int i = off; i < 3; ++i) {
    all_zeros = all_zeros && p.mode[i] == PadMode::zeros;
    same_mode = same_mode && p.mode[i] == p.mode[off];
  }
  if (!all_zeros) {
    os << " pm=";
    if (same_mode) {
      os << pad_mode_name(p.mode[off]);
    } else {
      for (int i = off; i < 3; ++i) os << (i > off ? "/" : "") << pad_mode_name(p.mode[i]);
    }
  }
  if (!all_eq(p.kdil, 1)) os << " kd=" << dims_field(p.kdil, p.dims);
  if (!all_eq(p.idil, 1)) os << " id=" << dims_field(p.idil, p.dims);
  if (!all_eq(p.up, 1)) os << " up=" << dims_field(p.up, p.dims);
  if (!all_eq(p.d2s, 1)) os << " d2s=" << dims_field(p.d2s, p.dims);
  if (p.groups != 1) os << " g=" << p.groups;
  if (p.flip) os << " flip";
  if (p.causal_up) os << " causal_up";
  return os.str();
}

Problem parse_problem(const std::string& line) {
  const auto tokens = split_tokens(line);
  if (tokens.empty())
    throw Error("problem: empty line, expected e.g. 'bf16 in=17x64x64 c=256 o=256 k=3x3x3'");
  std::optional<DType> dtype;
  int64_t n = 1, c = 0, o = 0, groups = 1;
  bool flip = false, causal_up = false;
  std::vector<int64_t> in, k;
  ConvParams params;
  std::vector<std::pair<const Token*, std::string>> seen;

  auto ints = [&](const Token& t, const std::string& v, char sep) {
    std::vector<int64_t> r;
    for (const auto& part : split(v, sep)) {
      auto x = to_int(part);
      if (!x) fail(line, t, "'" + part + "' is not an integer");
      r.push_back(*x);
    }
    return r;
  };
  auto one_int = [&](const Token& t, const std::string& v) {
    auto x = to_int(v);
    if (!x) fail(line, t, "'" + v + "' is not an integer");
    return *x;
  };

  for (const auto& t : tokens) {
    if (t.text == "flip") {
      flip = true;
      continue;
    }
    if (t.text == "causal_up") {
      causal_up = true;
      continue;
    }
    if (t.text == "f32" || t.text == "f16" || t.text == "bf16") {
      if (dtype) fail(line, t, "dtype given twice");
      dtype = parse_dtype(t.text);
      continue;
    }
    const size_t eq = t.text.find('=');
    if (eq == std::string::npos)
      fail(line, t, "expected key=value, a dtype (f32, f16, bf16), 'flip' or 'causal_up'");
    const std::string key = t.text.substr(0, eq), v = t.text.substr(eq + 1);
    for (auto& s : seen)
      if (s.second == key) fail(line, t, "key '" + key + "' given twice");
    seen.push_back({&t, key});
    if (key == "n") {
      n = one_int(t, v);
    } else if (key == "c") {
      c = one_int(t, v);
    } else if (key == "o") {
      o = one_int(t, v);
    } else if (key == "g") {
      groups = one_int(t, v);
    } else if (key == "in") {
      in = ints(t, v, 'x');
    } else if (key == "k") {
      k = ints(t, v, 'x');
    } else if (key == "s") {
      params.stride = ints(t, v, 'x');
    } else if (key == "kd") {
      params.kernel_dilation = ints(t, v, 'x');
    } else if (key == "id") {
      params.input_dilation = ints(t, v, 'x');
    } else if (key == "up") {
      params.upsample = ints(t, v, 'x');
    } else if (key == "d2s") {
      params.depth_to_space = ints(t, v, 'x');
    } else if (key == "p") {
      for (const auto& part : split(v, 'x')) {
        const auto lohi = split(part, ':');
        if (lohi.size() > 2) fail(line, t, "padding '" + part + "' is not 'lo:hi' or 'p'");
        const auto lo = to_int(lohi[0]);
        const auto hi = to_int(lohi.back());
        if (!lo || !hi) fail(line, t, "padding '" + part + "' is not 'lo:hi' or 'p'");
        params.padding_lo.push_back(*lo);
        params.padding_hi.push_back(*hi);
      }
    } else if (key == "pm") {
      for (const auto& part : split(v, '/')) {
        if (part == "zeros")
          params.pad_mode.push_back(PadMode::zeros);
        else if (part == "replicate")
          params.pad_mode.push_back(PadMode::replicate);
        else if (part == "reflect")
          params.pad_mode.push_back(PadMode::reflect);
        else
          fail(line, t, "pad mode '" + part + "' is not zeros, replicate or reflect");
      }
    } else {
      fail(line, t,
           "unknown key '" + key + "' (expected n, in, c, o, k, s, p, pm, kd, id, up, d2s, g)");
    }
  }
  auto need = [&](bool ok, const char* what) {
    if (!ok) throw Error(std::string("problem: missing ") + what + " in '" + line + "'");
  };
  need(dtype.has_value(), "the dtype (f32, f16 or bf16)");
  need(!in.empty(), "in=<spatial sizes>");
  need(!k.empty(), "k=<kernel sizes>");
  auto given = [&](const char* key) {
    for (auto& s : seen)
      if (s.second == key) return true;
    return false;
  };
  need(given("c"), "c=<input channels>");
  need(given("o"), "o=<output channels>");
  if (in.size() != k.size() || in.size() > 3)
    throw Error("problem: in= has " + std::to_string(in.size()) + " sizes and k= has " +
                std::to_string(k.size()) + ", expected the same number, 1 to 3, in '" + line + "'");
  params.groups = groups;
  params.flip = flip;
  params.causal_upsample = causal_up;
  std::vector<int64_t> input_shape{n}, weight_shape{o};
  input_shape.insert(input_shape.end(), in.begin(), in.end());
  input_shape.push_back(c);
  weight_shape.insert(weight_shape.end(), k.begin(), k.end());
  weight_shape.push_back(groups > 0 && c % groups == 0 ? c / groups : c);
  try {
    return make_problem(input_shape, weight_shape, params, *dtype);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (in problem '" + line + "')");
  }
}

}  // namespace vconv
