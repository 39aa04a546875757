#include <gtest/gtest.h>

#include <fstream>

#include "mlxcel/errors.h"
#include "mlxcel/estimate.h"
#include "support/test_paths.h"

using namespace mlxcel;

namespace {

const char* kValid = R"({
  "schema_version": 1,
  "calibrated": true,
  "provenance": {"summary": "fitted on 12 runs"},
  "coefficients": {"base_bytes": 1000, "per_thread_bytes": 200, "weights_fraction": 0.5,
                   "kv_fraction": 0, "workspace_fraction": 0.25, "margin": 0.03}
})";

std::string write_profile(const test::TempDir& t, const std::string& text) {
  std::string path = t.file("profile.json");
  std::ofstream(path) << text;
  return path;
}

// Expects FormatError whose message names the file and the field.
void expect_format_error(const std::string& text, const std::string& field) {
  test::TempDir t;
  std::string path = write_profile(t, text);
  try {
    load_calibration_profile(path);
    FAIL() << "expected FormatError for " << field;
  } catch (const FormatError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(field), std::string::npos) << msg;
  }
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return s.replace(pos, from.size(), to);
}

}  // namespace

TEST(CalibrationProfile, TokenizerCoefficientIsOptional) {
  test::TempDir t;
  EXPECT_DOUBLE_EQ(load_calibration_profile(write_profile(t, kValid)).tokenizer_heap_per_file_byte, 0.0);
  const std::string with = replace(kValid, "\"margin\": 0.03", "\"margin\": 0.03, \"tokenizer_heap_per_file_byte\": 5.07");
  test::TempDir t2;
  EXPECT_DOUBLE_EQ(load_calibration_profile(write_profile(t2, with)).tokenizer_heap_per_file_byte, 5.07);
  EXPECT_FALSE(load_calibration_profile(write_profile(t2, with)).tiktoken_heap_per_file_byte.has_value());
  const std::string both = replace(with, "5.07", "5.07, \"tiktoken_heap_per_file_byte\": 7.33");
  test::TempDir t3;
  EXPECT_EQ(load_calibration_profile(write_profile(t3, both)).tiktoken_heap_per_file_byte, 7.33);
}

TEST(CalibrationProfile, NegativeTiktokenCoefficientIsAFormatError) {
  expect_format_error(replace(kValid, "\"margin\": 0.03", "\"margin\": 0.03, \"tiktoken_heap_per_file_byte\": -2"),
                      "coefficients.tiktoken_heap_per_file_byte");
}

TEST(CalibrationProfile, ServerPreparationCoefficientIsOptional) {
  test::TempDir t;
  EXPECT_EQ(load_calibration_profile(write_profile(t, kValid)).server_preparation_per_body_byte, 0.0);
  const std::string with =
      replace(kValid, "\"margin\": 0.03", "\"margin\": 0.03, \"server_preparation_per_body_byte\": 3.25");
  test::TempDir t2;
  EXPECT_DOUBLE_EQ(load_calibration_profile(write_profile(t2, with)).server_preparation_per_body_byte, 3.25);
  expect_format_error(replace(with, "3.25", "\"many\""), "coefficients.server_preparation_per_body_byte");
}

TEST(CalibrationProfile, ServerBaseBytesAreOptionalWholeBytes) {
  test::TempDir t;
  EXPECT_EQ(load_calibration_profile(write_profile(t, kValid)).server_base_bytes, 0u);
  const std::string with = replace(kValid, "\"margin\": 0.03", "\"margin\": 0.03, \"server_base_bytes\": 524288");
  test::TempDir t2;
  EXPECT_EQ(load_calibration_profile(write_profile(t2, with)).server_base_bytes, 524288u);
  expect_format_error(replace(with, "524288", "-1"), "coefficients.server_base_bytes");
  expect_format_error(replace(with, "524288", "1.5"), "coefficients.server_base_bytes");
}

TEST(CalibrationProfile, NegativeTokenizerCoefficientIsAFormatError) {
  expect_format_error(replace(kValid, "\"margin\": 0.03", "\"margin\": 0.03, \"tokenizer_heap_per_file_byte\": -1"),
                      "coefficients.tokenizer_heap_per_file_byte");
}

TEST(CalibrationProfile, LoadsAllCoefficients) {
  test::TempDir t;
  CalibrationProfile p = load_calibration_profile(write_profile(t, kValid));
  EXPECT_TRUE(p.calibrated);
  EXPECT_EQ(p.provenance, "fitted on 12 runs");
  EXPECT_EQ(p.base_bytes, 1000u);
  EXPECT_EQ(p.per_thread_bytes, 200u);
  EXPECT_DOUBLE_EQ(p.weights_fraction, 0.5);
  EXPECT_DOUBLE_EQ(p.kv_fraction, 0.0);
  EXPECT_DOUBLE_EQ(p.workspace_fraction, 0.25);
  EXPECT_DOUBLE_EQ(p.margin, 0.03);
}

TEST(CalibrationProfile, ShippedDefaultIsCalibratedByTheCalibrateCommand) {
  const CalibrationProfile& p = default_calibration_profile();
  EXPECT_TRUE(p.calibrated);
  EXPECT_NE(p.provenance.find("by mlxcel calibrate"), std::string::npos) << p.provenance;
  EXPECT_NE(p.path.find("profiles/cpu-default.json"), std::string::npos);
  EXPECT_GE(p.base_bytes, 3732u * 1024);  // at least the measured `mlxcel --version` VmHWM
}

TEST(CalibrationProfile, MissingFileIsAnIoError) {
  test::TempDir t;
  try {
    load_calibration_profile(t.file("nope.json"));
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("nope.json"), std::string::npos);
  }
}

TEST(CalibrationProfile, InvalidJson) {
  expect_format_error("{\"schema_version\": 1,", "not valid JSON");
}

// Nested 100,000 deep: a stack overflow in the JSON library before the profile went through
// try_parse_json.
TEST(CalibrationProfile, Nested100000DeepIsFormatError) {
  expect_format_error(R"({"provenance": )" + std::string(100000, '[') + std::string(100000, ']') + "}",
                      "provenance[0][0]");
  expect_format_error(R"({"provenance": )" + std::string(100000, '[') + std::string(100000, ']') + "}",
                      "nested deeper than 128 levels");
}

TEST(CalibrationProfile, NumberOverflowNamesFieldAndValue) {
  expect_format_error(replace(kValid, "\"margin\": 0.03", "\"margin\": 1e400"),
                      "coefficients.margin, number overflow parsing '1e400'");
}

TEST(CalibrationProfile, OverOneMiBIsRefused) {
  expect_format_error(std::string(kValid) + std::string(1 << 20, ' '), "calibration profile too large");
}

TEST(CalibrationProfile, NotAnObject) { expect_format_error("[1, 2]", "(document)"); }

TEST(CalibrationProfile, WrongSchemaVersion) {
  expect_format_error(replace(kValid, "\"schema_version\": 1", "\"schema_version\": 2"),
                      "schema_version");
}

TEST(CalibrationProfile, CalibratedNotABool) {
  expect_format_error(replace(kValid, "\"calibrated\": true", "\"calibrated\": \"yes\""),
                      "calibrated");
}

TEST(CalibrationProfile, ProvenanceSummaryMissing) {
  expect_format_error(replace(kValid, "\"summary\": \"fitted on 12 runs\"", "\"note\": 1"),
                      "provenance.summary");
}

TEST(CalibrationProfile, CoefficientsMissing) {
  expect_format_error(R"({"schema_version": 1, "calibrated": false,
                          "provenance": {"summary": "x"}})",
                      "coefficients");
}

TEST(CalibrationProfile, BaseBytesMissing) {
  expect_format_error(replace(kValid, "\"base_bytes\": 1000, ", ""), "coefficients.base_bytes");
}

TEST(CalibrationProfile, BaseBytesNotAWholeNumber) {
  expect_format_error(replace(kValid, "\"base_bytes\": 1000", "\"base_bytes\": 10.5"),
                      "coefficients.base_bytes");
}

TEST(CalibrationProfile, PerThreadBytesNegative) {
  expect_format_error(replace(kValid, "\"per_thread_bytes\": 200", "\"per_thread_bytes\": -1"),
                      "coefficients.per_thread_bytes");
}

TEST(CalibrationProfile, FractionNegative) {
  expect_format_error(replace(kValid, "\"weights_fraction\": 0.5", "\"weights_fraction\": -0.1"),
                      "coefficients.weights_fraction");
}

TEST(CalibrationProfile, FractionAString) {
  expect_format_error(replace(kValid, "\"margin\": 0.03", "\"margin\": \"3%\""),
                      "coefficients.margin");
}

TEST(CalibrationProfile, FractionAbsurd) {
  expect_format_error(replace(kValid, "\"kv_fraction\": 0", "\"kv_fraction\": 1e9"),
                      "coefficients.kv_fraction");
}
