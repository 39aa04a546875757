// The benches' argument reader (bench/bench_args.h): values, strict numbers and lists, and exit 2
// with the usage line on every malformed case instead of an uncaught exception.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../../bench/bench_args.h"

namespace {

using mlxcel::bench::ArgReader;

// argv storage for one reader
struct Argv {
  std::vector<std::string> s;
  std::vector<char*> p;
  explicit Argv(std::vector<std::string> args) : s(std::move(args)) {
    s.insert(s.begin(), "bench");
    for (auto& a : s) p.push_back(a.data());
  }
  int argc() const { return static_cast<int>(p.size()); }
  char** argv() { return p.data(); }
};

TEST(BenchArgs, ReadsValuesNumbersAndLists) {
  Argv a({"--dir", "/tmp/x", "--threads", "2", "--parallel", "1,2,8", "--formats", "q8,q4"});
  ArgReader r(a.argc(), a.argv(), "usage");
  ASSERT_TRUE(r.next());
  EXPECT_EQ(r.flag(), "--dir");
  EXPECT_EQ(r.value(), "/tmp/x");
  ASSERT_TRUE(r.next());
  EXPECT_EQ(r.count(1, 4), 2u);
  ASSERT_TRUE(r.next());
  EXPECT_EQ(r.counts(1, 8), (std::vector<uint64_t>{1, 2, 8}));
  ASSERT_TRUE(r.next());
  EXPECT_EQ(r.list(), (std::vector<std::string>{"q8", "q4"}));
  EXPECT_FALSE(r.next());
}

void expect_exit2(std::vector<std::string> args, void (*read)(ArgReader&), const std::string& message) {
  Argv a(std::move(args));
  EXPECT_EXIT(
      {
        ArgReader r(a.argc(), a.argv(), "usage: bench [--n N]");
        r.next();
        read(r);
      },
      ::testing::ExitedWithCode(2), message);
}

TEST(BenchArgs, MissingValueExits2) {
  expect_exit2({"--n"}, [](ArgReader& r) { r.value(); }, "missing value for --n");
}

TEST(BenchArgs, NotANumberExits2) {
  expect_exit2({"--n", "two"}, [](ArgReader& r) { r.count(); }, "--n wants a whole number");
}

TEST(BenchArgs, TrailingCharactersExit2) {
  expect_exit2({"--n", "2x"}, [](ArgReader& r) { r.count(); }, "got '2x'");
}

TEST(BenchArgs, NegativeNumberExits2) {
  expect_exit2({"--n", "-1"}, [](ArgReader& r) { r.count(); }, "got '-1'");
}

TEST(BenchArgs, OutOfRangeExits2) {
  expect_exit2({"--n", "0"}, [](ArgReader& r) { r.count(1, 8); }, "from 1 to 8");
}

TEST(BenchArgs, EmptyListItemExits2) {
  expect_exit2({"--n", "1,,2"}, [](ArgReader& r) { r.counts(); }, "empty item in the list of --n");
}

TEST(BenchArgs, UnknownFlagPrintsTheUsage) {
  expect_exit2({"--bogus"}, [](ArgReader& r) { r.fail(); }, "usage: bench");
}

}  // namespace
