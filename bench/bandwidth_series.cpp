// A series of read-bandwidth readings with the probe the other benches use, to see how this
// machine's bandwidth moves over time and what huge pages and software prefetch are worth.
// Prints one line per reading (each the best of --reps passes) and a summary; passes or fails
// nothing.
//
//   bench_bandwidth_series [--mib MiB] [--readings N] [--reps N] [--threads 1,2]
//                          [--no-huge-pages] [--no-prefetch]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bandwidth.h"
#include "bench_args.h"

namespace {

struct Args {
  size_t mib = 1024;
  int readings = 20;
  int reps = 3;
  std::vector<uint32_t> threads = {1, 2};
  bool huge_pages = true, prefetch = true;
};

Args parse(int argc, char** argv) {
  Args a;
  mlxcel::bench::ArgReader r(argc, argv,
                             "usage: bench_bandwidth_series [--mib MiB] [--readings N] [--reps N] [--threads 1,2] "
                             "[--no-huge-pages] [--no-prefetch]");
  while (r.next()) {
    const std::string& k = r.flag();
    if (k == "--mib") a.mib = r.count(2, 1u << 20);
    else if (k == "--readings") a.readings = static_cast<int>(r.count(1, 100000));
    else if (k == "--reps") a.reps = static_cast<int>(r.count(1, 1000));
    else if (k == "--no-huge-pages") a.huge_pages = false;
    else if (k == "--no-prefetch") a.prefetch = false;
    else if (k == "--threads") {
      a.threads.clear();
      for (uint64_t t : r.counts(1, 256)) a.threads.push_back(static_cast<uint32_t>(t));
    } else {
      r.fail();
    }
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  mlxcel::bench::BandwidthProbe probe(args.mib << 20, args.huge_pages);
  std::printf("# %zu MiB, huge pages %s, software prefetch %s, best of %d passes per reading\n",
              probe.bytes() >> 20, args.huge_pages ? "on" : "off", args.prefetch ? "on" : "off", args.reps);
  for (uint32_t t : args.threads) {
    std::vector<double> v;
    std::printf("threads %u:", t);
    for (int r = 0; r < args.readings; ++r) {
      v.push_back(probe.measure(t, args.reps, args.prefetch));
      std::printf(" %.1f", v.back());
      std::fflush(stdout);
    }
    std::sort(v.begin(), v.end());
    std::printf("\nthreads %u: min %.1f, median %.1f, max %.1f GB/s\n", t, v.front(), v[v.size() / 2], v.back());
  }
  return 0;
}
