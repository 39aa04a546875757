#include "cli/table.h"

#include <fmt/format.h>

#include <algorithm>

namespace mlxcel::cli {

Table::Table(std::vector<Align> columns, std::string indent)
    : columns_(std::move(columns)), indent_(std::move(indent)) {}

void Table::row(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  lines_.push_back({false, {}, std::move(cells)});
}

void Table::heading(std::string text) { lines_.push_back({true, std::move(text), {}}); }

std::string Table::render() const {
  std::vector<size_t> width(columns_.size(), 0);
  for (const auto& l : lines_)
    if (!l.is_heading)
      for (size_t c = 0; c < columns_.size(); ++c) width[c] = std::max(width[c], l.cells[c].size());
  std::string out;
  for (const auto& l : lines_) {
    if (l.is_heading) {
      out += l.text + "\n";
      continue;
    }
    // Trailing empty cells are not padded, so lines carry no trailing blanks.
    size_t last = columns_.size();
    while (last > 0 && l.cells[last - 1].empty()) --last;
    std::string line = indent_;
    for (size_t c = 0; c < last; ++c) {
      if (c > 0) line += "  ";
      const auto& cell = l.cells[c];
      std::string pad(width[c] - cell.size(), ' ');
      bool final_left = c + 1 == last && columns_[c] == Align::Left;
      if (columns_[c] == Align::Right) line += pad + cell;
      else line += final_left ? cell : cell + pad;
    }
    out += line + "\n";
  }
  return out;
}

std::string plural(uint64_t n, const std::string& one, const std::string& many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::string group_digits(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  int count = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (count > 0 && count % 3 == 0) out.insert(out.begin(), ',');
    out.insert(out.begin(), *it);
    ++count;
  }
  return out;
}

}  // namespace mlxcel::cli
