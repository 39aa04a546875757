// The loader takes "which families have a forward pass" from the registry (has_forward_pass),
// and its refusal names the families the registry marks runnable.
#include <gtest/gtest.h>

#include <string>

#include "arch/registry.h"
#include "mlxcel/errors.h"
#include "model_helpers.h"
#include "runtime/model.h"
#include "support/test_paths.h"

namespace mlxcel::runtime {
namespace {

using test_helpers::make_model;
using test_helpers::testdata_config;

RandomModelOptions tiny() { return test_helpers::tiny_model_options(7); }

std::string refusal_of(const std::string& config_name) {
  mlxcel::test::TempDir dir;
  const std::string m = make_model(dir.file("m"), testdata_config(config_name), tiny());
  LoadOptions lo;
  lo.progress = false;
  lo.run.context = 16;
  try {
    Model::load(load_model_spec(m), lo);
  } catch (const UnsupportedArchitecture& e) {
    return e.what();
  }
  return "loaded";
}

TEST(LoaderRegistry, Gemma2IsRefusedNamingTheRunnableFamilies) {
  const std::string m = refusal_of("google__gemma-2-27b");
  EXPECT_NE(m.find("no forward pass for this family"), std::string::npos) << m;
  EXPECT_NE(m.find("architecture, gemma2); it runs llama, mistral, qwen2, qwen3"), std::string::npos) << m;
}

TEST(LoaderRegistry, AQwen3ModelLoads) {
  mlxcel::test::TempDir dir;
  const std::string m = make_model(dir.file("m"), testdata_config("Qwen__Qwen3-0.6B"), tiny());
  LoadOptions lo;
  lo.progress = false;
  lo.run.context = 16;
  const ModelSpec spec = load_model_spec(m);
  ASSERT_TRUE(has_forward_pass(spec.architecture)) << spec.architecture;
  EXPECT_NE(Model::load(spec, lo), nullptr);
}

}  // namespace
}  // namespace mlxcel::runtime
