#include <gtest/gtest.h>

#include "mlxcel/errors.h"
#include "mlxcel/size.h"

using namespace mlxcel;

TEST(ParseSize, BinaryAndDecimalUnits) {
  EXPECT_EQ(parse_size("16GiB"), 17179869184ull);
  EXPECT_EQ(parse_size("16G"), 17179869184ull);
  EXPECT_EQ(parse_size("16GB"), 16000000000ull);
  EXPECT_EQ(parse_size("512MiB"), 536870912ull);
  EXPECT_EQ(parse_size("1048576"), 1048576ull);
  EXPECT_EQ(parse_size("1.5GiB"), 1610612736ull);
  EXPECT_EQ(parse_size("2k"), 2048ull);
}

TEST(ParseSize, RejectsGarbageWithTheValueInTheMessage) {
  try {
    parse_size("12XB", "--memory-budget");
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--memory-budget"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("12XB"), std::string::npos);
  }
  EXPECT_THROW(parse_size(""), UsageError);
  EXPECT_THROW(parse_size("GiB"), UsageError);
  EXPECT_THROW(parse_size("1.2.3G"), UsageError);
  EXPECT_THROW(parse_size("99999999999999999999999"), UsageError);
  EXPECT_THROW(parse_size("1.5"), UsageError);
}

TEST(FormatBytes, BinaryUnits) {
  EXPECT_EQ(format_bytes(17), "17 B");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(131072), "128.00 KiB");
  EXPECT_EQ(format_bytes(17179869184ull), "16.00 GiB");
}
