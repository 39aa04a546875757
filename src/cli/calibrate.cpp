// `mlxcel calibrate`: measures real runs (each `mlxcel generate --json-stats` in its own child
// process, so its VmHWM is the point's peak RSS), fits the calibration profile's overhead
// coefficients (src/estimate/calibration_fit.h) and writes the profile with its provenance.
// The sweep and the shipped profile are described in docs/calibration.md.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "arch/registry.h"
#include "cli/calibrate_sweep.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "core/json_input.h"
#include "estimate/calibration_fit.h"
#include "mlxcel/errors.h"
#include "mlxcel/size.h"

extern char** environ;

namespace mlxcel::cli {
namespace fs = std::filesystem;
namespace {

using json = nlohmann::ordered_json;

struct CalibrateOptions {
  std::vector<std::string> models;
  std::string out = "mlxcel-profile.json";
  std::string work_dir;
  bool quick = false;
  uint32_t repeats = 3;  // runs per point; the point's peak RSS is the largest
};

std::string self_exe() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw IoError("calibrate", fmt::format("cannot find the mlxcel binary (/proc/self/exe, readlink, {})", ec.message()));
  return p.string();
}

std::string first_line_of(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      auto c = line.find(':');
      auto v = line.find_first_not_of(" \t", c == std::string::npos ? key.size() : c + 1);
      return v == std::string::npos ? std::string() : line.substr(v);
    }
  }
  return "";
}

std::string machine_description() {
  std::string cpu = first_line_of("/proc/cpuinfo", "model name");
  std::string mem = first_line_of("/proc/meminfo", "MemTotal");
  std::string os = first_line_of("/etc/os-release", "PRETTY_NAME=");
  if (os.rfind("PRETTY_NAME=", 0) == 0) os = os.substr(12);
  if (!os.empty() && os.front() == '"') os = os.substr(1, os.size() - 2);
  struct utsname u {};
  uname(&u);
  return fmt::format("{} ({} online CPUs), MemTotal {}, Linux {} {}, {}", cpu.empty() ? "unknown CPU" : cpu,
                     sysconf(_SC_NPROCESSORS_ONLN), mem, u.release, u.machine, os);
}

std::string build_description() {
  std::string b = fmt::format("GCC {}", __VERSION__);
#ifdef NDEBUG
  b += ", optimized (NDEBUG)";
#else
  b += ", debug (assertions on)";
#endif
#if defined(__SANITIZE_ADDRESS__)
  b += ", AddressSanitizer";
#endif
  return b;
}

bool build_is_measurable() {
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
  return false;
#else
  return true;
#endif
}

std::string command_line() {
  std::string raw = read_whole_file("/proc/self/cmdline");
  std::string out;
  for (char c : raw) out += c == '\0' ? ' ' : c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string pct(double v) { return fmt::format("{:+.2f}%", 100 * v); }

struct Measured {
  CalibrationSample sample;
  std::string model_label;
  json stats;                      // of the run with the largest peak RSS
  std::vector<uint64_t> rss_runs;  // every run's peak RSS
};

int run_calibrate(const CalibrateOptions& o) {
  if (!build_is_measurable())
    fmt::print(stderr, "warning: [calibrate] this binary is a {} build; its memory is not what a release build "
                       "uses, so the profile will not describe release runs\n", build_description());
  const std::string exe = self_exe();
  std::optional<TempWorkDir> temp;
  fs::path work;
  if (o.work_dir.empty()) {
    temp.emplace();
    work = temp->path();
  } else {
    work = o.work_dir;
    fs::create_directories(work);
  }
  const auto t0 = std::chrono::steady_clock::now();

  // Models: given ones (plus MLX 8/4-bit copies of unquantized ones), or random-weight models.
  std::vector<SweepModel> models = o.models.empty() ? make_builtin_models(work, o.quick)
                                                    : prepare_given_models(o.models, work, o.quick);
  std::vector<std::unique_ptr<ModelSpec>> specs;
  for (auto& m : models) specs.push_back(std::make_unique<ModelSpec>(load_model_spec(m.path)));

  std::vector<Measured> points;
  const std::vector<SweepPoint> sweep = sweep_points(o.quick);
  size_t index = 0, failed = 0;
  const size_t planned_runs = models.size() * sweep.size();
  for (size_t mi = 0; mi < models.size(); ++mi) {
    for (const SweepPoint& sp : sweep) {
      ++index;
      RunConfig run = default_run_config(*specs[mi]);
      run.context = sp.context;
      if (specs[mi]->dims.max_position_embeddings && run.context > specs[mi]->dims.max_position_embeddings)
        run.context = specs[mi]->dims.max_position_embeddings;
      run.prefill_chunk = sp.chunk;
      run.threads = sp.threads;
      run.cache_type_k = run.cache_type_v = sp.cache;
      run.sequences = 1;
      const std::string label = fmt::format("{} ctx {} chunk {} t{} {}", models[mi].label, run.context, run.prefill_chunk,
                                            run.threads, kv_cache_type_name(sp.cache));
      // Each point runs `repeats` times and keeps its largest peak RSS: address-space layout
      // randomization alone moves a run's peak RSS (measured ±170 KB on a 17 MB run, none with
      // ASLR off), and the profile must bound every run, not one draw.
      json stats;
      std::vector<uint64_t> rss_runs;
      int code = 0;
      fs::path log_path;
      for (uint32_t rep = 0; rep < o.repeats && code == 0; ++rep) {
        const fs::path stats_path = work / fmt::format("point-{}-run-{}.json", index, rep + 1);
        log_path = work / fmt::format("point-{}-run-{}.log", index, rep + 1);
        std::vector<std::string> args = {exe, "generate", models[mi].path, "--prompt", std::string(kSweepPrompt),
                                         "--max-tokens", std::to_string(kSweepNewTokens), "--ctx-size",
                                         std::to_string(run.context), "--threads", std::to_string(run.threads),
                                         "--prefill-chunk", std::to_string(run.prefill_chunk), "--cache-type-k",
                                         std::string(kv_cache_type_name(sp.cache)), "--cache-type-v",
                                         std::string(kv_cache_type_name(sp.cache)), "--json-stats",
                                         stats_path.string(), "--force", "--no-echo"};
        code = run_measured_child(args, log_path);
        json one;
        if (code == 0) {
          // Our own child wrote it, but a crashed or foreign run can leave anything there.
          if (auto parsed = try_parse_json<json>(read_whole_file(stats_path), nullptr)) one = std::move(*parsed);
        }
        const bool usable = one.is_object() && one.contains("after_run") && one["after_run"].is_object() &&
                            one["after_run"].contains("rss_peak_bytes") &&
                            one["after_run"]["rss_peak_bytes"].is_number_unsigned();
        if (code == 0 && !usable) code = -1;
        if (code != 0) break;
        const uint64_t rss = one["after_run"]["rss_peak_bytes"].get<uint64_t>();
        rss_runs.push_back(rss);
        if (stats.is_null() || rss > stats["after_run"]["rss_peak_bytes"].get<uint64_t>()) stats = std::move(one);
      }
      if (code != 0) {
        ++failed;
        fmt::print(stderr, "[calibrate] {}/{} {}: run failed (exit {}), see {}\n", index, planned_runs, label, code,
                   log_path.string());
        continue;
      }
      Measured m;
      m.model_label = models[mi].label;
      m.sample.label = label;
      m.sample.spec = specs[mi].get();
      m.sample.run = run;
      m.sample.peak_rss = stats["after_run"]["rss_peak_bytes"].get<uint64_t>();
      m.sample.allocator_peak = stats["after_run"]["allocator_peak_bytes"].get<uint64_t>();
      // The child planned with the same function; a difference would break the single-estimator rule.
      const MemoryPlan mine = plan_memory(*specs[mi], run);
      if (stats["plan"]["planned_bytes"].get<uint64_t>() != mine.planned ||
          stats["after_load"]["allocator_active_bytes"].get<uint64_t>() != mine.planned)
        throw std::logic_error(fmt::format("[calibrate] {}: the run's plan or allocator ({} / {}) differs from "
                                           "plan_memory ({})", label, stats["plan"]["planned_bytes"].dump(),
                                           stats["after_load"]["allocator_active_bytes"].dump(), mine.planned));
      m.stats = std::move(stats);
      m.rss_runs = std::move(rss_runs);
      fmt::print(stderr, "[calibrate] {}/{} {}: planned {}, peak RSS {}, allocator peak {}\n", index, planned_runs,
                 label, format_bytes(mine.planned), format_bytes(m.sample.peak_rss),
                 format_bytes(m.sample.allocator_peak));
      points.push_back(std::move(m));
    }
  }
  std::vector<CalibrationSample> samples;
  for (const auto& m : points) samples.push_back(m.sample);
  FitReport fit = fit_calibration(samples, default_calibration_profile());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Table of the points with the fitted profile.
  Table t({Align::Left, Align::Right, Align::Right, Align::Right, Align::Right});
  t.row({"point", "planned", "estimate", "peak RSS", "error"});
  json sweep_json = json::array();
  for (size_t i = 0; i < points.size(); ++i) {
    const auto& s = points[i].sample;
    const MemoryPlan plan = plan_memory(*s.spec, s.run, fit.profile);
    t.row({s.label, format_bytes(plan.planned), format_bytes(fit.totals[i]), format_bytes(s.peak_rss), pct(fit.errors[i])});
    sweep_json.push_back({{"point", s.label},
                          {"model", points[i].model_label},
                          {"context", s.run.context},
                          {"prefill_chunk", s.run.prefill_chunk},
                          {"threads", s.run.threads},
                          {"cache_type", kv_cache_type_name(s.run.cache_type_k)},
                          {"weights_bytes", plan.weights.total},
                          {"kv_bytes", plan.kv.total},
                          {"workspace_bytes", plan.workspace.total},
                          {"planned_bytes", plan.planned},
                          {"peak_rss_bytes", s.peak_rss},
                          {"peak_rss_runs", points[i].rss_runs},
                          {"allocator_peak_bytes", s.allocator_peak},
                          {"estimate_bytes", fit.totals[i]},
                          {"error", fit.errors[i]}});
  }
  std::fputs(t.render().c_str(), stdout);

  const std::string date = utc_now();
  const std::string machine = machine_description();
  const CalibrationProfile& p = fit.profile;
  json doc;
  doc["schema_version"] = 1;
  doc["name"] = fs::path(o.out).stem().string();
  doc["calibrated"] = true;
  doc["provenance"] = {
      {"summary", fmt::format("calibrated {} by mlxcel calibrate: {} points of {} measured run(s) each, estimate above "
                              "peak RSS by {} to {}",
                              date.substr(0, 10), points.size(), o.repeats, pct(fit.min_error), pct(fit.max_error))},
      {"date", date},
      {"machine", machine},
      {"build", build_description()},
      {"command", command_line()},
      {"points", points.size()},
      {"failed_runs", failed},
      {"sweep_seconds", std::round(seconds)},
      {"method",
       fmt::format("each point {} fresh `mlxcel generate --json-stats` child(ren) (short prompt, a few tokens, KV cache "
                   "preallocated for the context); peak RSS = the largest VmHWM of those runs.", o.repeats) +
       std::string(" Non-negative least squares on peak_rss - planned - tokenizer term = base + "
       "threads*per_thread + wf*weights + kf*kv + sf*workspace, rows weighted by 1/peak_rss; then the smallest "
       "margin (1e-5 steps) making plan_memory's total >= peak RSS on every point")},
      {"fit_rms_error_before_margin", fit.rms_fit_error},
      {"max_under_error", fit.min_error},
      {"max_over_error", fit.max_error},
      {"sweep", sweep_json}};
  doc["coefficients"] = {{"base_bytes", p.base_bytes},
                         {"per_thread_bytes", p.per_thread_bytes},
                         {"weights_fraction", p.weights_fraction},
                         {"kv_fraction", p.kv_fraction},
                         {"workspace_fraction", p.workspace_fraction},
                         {"margin", p.margin},
                         // Not fitted here (the sweep's models carry a 258-token tokenizer):
                         // kept from the shipped profile, measured by bench_tokenizer_memory.
                         {"tokenizer_heap_per_file_byte", p.tokenizer_heap_per_file_byte}};
  if (p.tiktoken_heap_per_file_byte) doc["coefficients"]["tiktoken_heap_per_file_byte"] = *p.tiktoken_heap_per_file_byte;
  // Not fitted here either (generate has no server): measured by bench/serve_request_memory.py.
  doc["coefficients"]["server_preparation_per_body_byte"] = p.server_preparation_per_body_byte;
  doc["coefficients"]["server_base_bytes"] = p.server_base_bytes;
  {
    std::ofstream out(o.out, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError("calibrate", fmt::format("cannot write the profile ({}, --out, {})", o.out, o.out));
    out << doc.dump(2) << "\n";
    if (!out) throw IoError("calibrate", fmt::format("cannot write the profile ({}, --out, {})", o.out, o.out));
  }
  load_calibration_profile(o.out);  // what inspect will load: fail here, not there
  fmt::print(stderr,
             "[calibrate] {} points in {:.0f} s; base {}, per thread {}, weights {:.6f}, KV {:.6f}, workspace {:.6f}, "
             "margin {:.5f}; fit RMS {:.2f}%; estimate - peak RSS from {} to {}; wrote {}\n",
             points.size(), seconds, format_bytes(p.base_bytes), format_bytes(p.per_thread_bytes), p.weights_fraction,
             p.kv_fraction, p.workspace_fraction, p.margin, 100 * fit.rms_fit_error, pct(fit.min_error),
             pct(fit.max_error), o.out);
  return failed == 0 ? 0 : static_cast<int>(ExitCode::RuntimeFailure);
}

}  // namespace

void add_calibrate_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<CalibrateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate", "Measure real runs and fit the calibration profile (the estimate's overhead coefficients)");
  cmd->add_option("MODEL", o->models,
                  "models to measure (unquantized safetensors ones are also measured as MLX 8-bit and 4-bit "
                  "copies); default: random-weight models generated from built-in llama and qwen3 shapes");
  cmd->add_option("--out", o->out, "profile to write (default mlxcel-profile.json)")->type_name("FILE");
  cmd->add_option("--work-dir", o->work_dir,
                  "keep generated models, per-point stats and logs here (default: a temporary directory, removed)")
      ->type_name("DIR");
  cmd->add_option("--repeats", o->repeats,
                  "runs per point; each point's peak RSS is the largest (the layout randomization moves it; default 3)")
      ->check(CLI::Range(1, 100));
  cmd->add_flag("--quick", o->quick, "a small sweep (tiny models, few points) for smoke tests; not for shipping");
  cmd->footer("Each point runs `mlxcel generate --json-stats` in a child process. Use a Release build on an "
              "otherwise quiet machine. Profile format: docs/memory-model.md; the sweep: docs/calibration.md.");
  cmd->callback([o, &action] { action = [o] { return run_calibrate(*o); }; });
}

}  // namespace mlxcel::cli
