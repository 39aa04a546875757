// Calibration profile: the coefficients of the estimated part of the plan (docs/memory-model.md).
#include <fmt/format.h>

#include <cmath>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/json_input.h"
#include "io/file_util.h"
#include "mlxcel/errors.h"
#include "mlxcel/estimate.h"

namespace mlxcel {
namespace {

using nlohmann::json;

// Fractions above this are surely a typo (1000% slack), not a measurement.
constexpr double kMaxFraction = 10.0;
// Bytes of heap per byte of input (a request body's preparation measured ~52).
constexpr double kMaxPerByte = 1000.0;

[[noreturn]] void bad(const std::string& path, std::string_view field, std::string_view what,
                      const json* value) {
  std::string shown = value ? value->dump() : "missing";
  if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
  throw FormatError("estimate", fmt::format("calibration profile field {} ({}, {}, {})", what, path,
                                            field, shown));
}

const json& field(const json& obj, const std::string& path, std::string_view name,
                  std::string_view prefix = "") {
  std::string full = prefix.empty() ? std::string(name) : fmt::format("{}.{}", prefix, name);
  auto it = obj.find(std::string(name));
  if (it == obj.end()) bad(path, full, "is missing", nullptr);
  return *it;
}

uint64_t read_bytes(const json& obj, const std::string& path, std::string_view name) {
  const json& v = field(obj, path, name, "coefficients");
  if (!v.is_number_unsigned())
    bad(path, fmt::format("coefficients.{}", name), "must be a whole number of bytes >= 0", &v);
  return v.get<uint64_t>();
}

double read_fraction(const json& obj, const std::string& path, std::string_view name,
                     double max = kMaxFraction) {
  const json& v = field(obj, path, name, "coefficients");
  if (!v.is_number())
    bad(path, fmt::format("coefficients.{}", name), "must be a number", &v);
  double d = v.get<double>();
  if (!std::isfinite(d) || d < 0 || d > max)
    bad(path, fmt::format("coefficients.{}", name), fmt::format("must be a number between 0 and {}", max), &v);
  return d;
}

}  // namespace

CalibrationProfile load_calibration_profile(const std::string& path) {
  // Profiles are a few hundred bytes; a megabyte is already far more than one can hold.
  const std::string text = io::read_small_file(path, 1ull << 20, "estimate", "calibration profile");
  std::string why;
  std::optional<json> parsed = try_parse_json(text, &why);
  if (!parsed)
    throw FormatError("estimate", fmt::format("calibration profile is not valid JSON ({}, {}, {})",
                                              path, io::json_error_field(text),
                                              io::printable(why)));
  const json& doc = *parsed;
  if (!doc.is_object()) bad(path, "(document)", "must be a JSON object", &doc);

  const json& version = field(doc, path, "schema_version");
  if (!version.is_number_unsigned() || version.get<uint64_t>() != 1)
    bad(path, "schema_version", "must be 1", &version);

  CalibrationProfile p;
  p.path = path;
  const json& calibrated = field(doc, path, "calibrated");
  if (!calibrated.is_boolean()) bad(path, "calibrated", "must be true or false", &calibrated);
  p.calibrated = calibrated.get<bool>();

  const json& prov = field(doc, path, "provenance");
  if (!prov.is_object()) bad(path, "provenance", "must be an object", &prov);
  const json& summary = field(prov, path, "summary", "provenance");
  if (!summary.is_string() || summary.get<std::string>().empty())
    bad(path, "provenance.summary", "must be a non-empty string", &summary);
  p.provenance = summary.get<std::string>();

  const json& coeff = field(doc, path, "coefficients");
  if (!coeff.is_object()) bad(path, "coefficients", "must be an object", &coeff);
  p.base_bytes = read_bytes(coeff, path, "base_bytes");
  p.per_thread_bytes = read_bytes(coeff, path, "per_thread_bytes");
  p.weights_fraction = read_fraction(coeff, path, "weights_fraction");
  p.kv_fraction = read_fraction(coeff, path, "kv_fraction");
  p.workspace_fraction = read_fraction(coeff, path, "workspace_fraction");
  p.margin = read_fraction(coeff, path, "margin");
  if (coeff.contains("tokenizer_heap_per_file_byte"))
    p.tokenizer_heap_per_file_byte = read_fraction(coeff, path, "tokenizer_heap_per_file_byte");
  if (coeff.contains("tiktoken_heap_per_file_byte"))
    p.tiktoken_heap_per_file_byte = read_fraction(coeff, path, "tiktoken_heap_per_file_byte");
  if (coeff.contains("server_preparation_per_body_byte"))
    p.server_preparation_per_body_byte =
        read_fraction(coeff, path, "server_preparation_per_body_byte", kMaxPerByte);
  return p;
}

std::string default_calibration_profile_path() {
  return std::string(MLXCEL_SOURCE_DIR) + "/profiles/cpu-default.json";
}

const CalibrationProfile& default_calibration_profile() {
  static const CalibrationProfile profile =
      load_calibration_profile(default_calibration_profile_path());
  return profile;
}

}  // namespace mlxcel
