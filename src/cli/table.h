// Aligned text tables for human output: columns padded to their widest cell, numbers right-aligned.
#pragma once

#include <string>
#include <vector>

namespace mlxcel::cli {

enum class Align { Left, Right };

class Table {
 public:
  explicit Table(std::vector<Align> columns, std::string indent = "  ");
  // A row of cells (missing trailing cells are empty).
  void row(std::vector<std::string> cells);
  // A line printed as-is between rows (a section title); does not affect column widths.
  void heading(std::string text);
  std::string render() const;

 private:
  struct Line {
    bool is_heading = false;
    std::string text;
    std::vector<std::string> cells;
  };
  std::vector<Align> columns_;
  std::string indent_;
  std::vector<Line> lines_;
};

// "1 sequence" / "3 sequences".
std::string plural(uint64_t n, const std::string& one, const std::string& many);

// 1234567 -> "1,234,567".
std::string group_digits(uint64_t n);

}  // namespace mlxcel::cli
