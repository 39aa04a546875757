// Python's json.dumps, which is what Hugging Face's `tojson` filter calls.
#include <algorithm>
#include <cmath>

#include "templates/budget.h"
#include "templates/builtins.h"
#include "templates/text.h"

namespace mlxcel::templates {

namespace {

void dump_string(std::string& out, const std::string& s, bool ensure_ascii) {
  static const char* hex = "0123456789abcdef";
  auto u_escape = [&](unsigned cp) {
    out += "\\u";
    for (int k = 3; k >= 0; --k) out.push_back(hex[(cp >> (4 * k)) & 0xF]);
  };
  out.push_back('"');
  for (char32_t c : text::decode(s)) {
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (c < 0x20 || (ensure_ascii && c == 0x7F)) {
      u_escape(c);
    } else if (ensure_ascii && c > 0x7F) {
      if (c >= 0x10000) {
        const unsigned v = c - 0x10000;
        u_escape(0xD800 + (v >> 10));
        u_escape(0xDC00 + (v & 0x3FF));
      } else {
        u_escape(c);
      }
    } else {
      text::append_utf8(out, c);
    }
  }
  out.push_back('"');
}

std::string float_json(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return float_repr(d);
}

class Dumper {
 public:
  explicit Dumper(const JsonOptions& o) : o_(o) {}

  void dump(std::string& out, const Value& v, int depth) {
    check_string_bytes(out.size(), "tojson's output");
    switch (v.kind()) {
      case Kind::None: out += "null"; return;
      case Kind::Bool: out += v.as_bool() ? "true" : "false"; return;
      case Kind::Int: out += std::to_string(v.as_int()); return;
      case Kind::Float: out += float_json(v.as_float()); return;
      case Kind::String: dump_string(out, v.as_string(), o_.ensure_ascii); return;
      case Kind::List:
      case Kind::Tuple: {
        const auto& items = v.items();
        if (items.empty()) {
          out += "[]";
          return;
        }
        Open open(*this, v.identity());
        out += "[";
        for (size_t i = 0; i < items.size(); ++i) {
          out += i ? item_sep(depth + 1) : newline(depth + 1);
          dump(out, items[i], depth + 1);
        }
        out += newline(depth);
        out += "]";
        return;
      }
      case Kind::Dict: {
        std::vector<const std::pair<Value, Value>*> entries;
        for (const auto& e : v.as_dict().entries) entries.push_back(&e);
        if (entries.empty()) {
          out += "{}";
          return;
        }
        Open open(*this, v.identity());
        if (o_.sort_keys) {
          std::stable_sort(entries.begin(), entries.end(), [](const auto* x, const auto* y) {
            return less_than(x->first, y->first);
          });
        }
        out += "{";
        bool first = true;
        for (const auto* e : entries) {
          out += first ? newline(depth + 1) : item_sep(depth + 1);
          first = false;
          dump_string(out, key_string(e->first), o_.ensure_ascii);
          out += o_.key_separator;
          dump(out, e->second, depth + 1);
        }
        out += newline(depth);
        out += "}";
        return;
      }
      default: fail("Object of type " + v.type_name() + " is not JSON serializable");
    }
  }

 private:
  // A container being written: meeting it again inside itself is Python's "Circular reference
  // detected"; nesting past the limit fails like the other walks.
  class Open {
   public:
    Open(Dumper& d, const void* id) : d_(d), guard_("serializing") {
      if (std::find(d.open_.begin(), d.open_.end(), id) != d.open_.end()) {
        fail("Circular reference detected");
      }
      d.open_.push_back(id);
    }
    ~Open() { d_.open_.pop_back(); }
    Open(const Open&) = delete;
    Open& operator=(const Open&) = delete;

   private:
    Dumper& d_;
    WalkGuard guard_;
  };

  std::string newline(int depth) const {
    if (!o_.indent) return "";
    std::string s = "\n";
    for (int i = 0; i < depth; ++i) s += *o_.indent;
    return s;
  }
  std::string item_sep(int depth) const { return o_.item_separator + newline(depth); }

  static std::string key_string(const Value& k) {
    switch (k.kind()) {
      case Kind::String: return k.as_string();
      case Kind::Int: return std::to_string(k.as_int());
      case Kind::Float: return float_json(k.as_float());
      case Kind::Bool: return k.as_bool() ? "true" : "false";
      case Kind::None: return "null";
      default:
        fail("keys must be str, int, float, bool or None, not " + k.type_name());
    }
  }

  const JsonOptions& o_;
  std::vector<const void*> open_;
};

}  // namespace

std::string json_dumps(const Value& v, const JsonOptions& options) {
  std::string out;
  Dumper(options).dump(out, v, 0);
  check_string_bytes(out.size(), "tojson's output");
  return out;
}

}  // namespace mlxcel::templates
