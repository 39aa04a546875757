// Which families the runtime has a forward pass for is registry data (Family::runnable), read
// through has_forward_pass / runnable_architectures like the loader does.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "arch/family.h"
#include "arch/registry.h"

namespace mlxcel {
namespace {

TEST(Runnable, TheLlamaBlockFamiliesHaveAForwardPass) {
  for (const char* name : {"llama", "mistral", "qwen2", "qwen3"})
    EXPECT_TRUE(has_forward_pass(name)) << name;
}

TEST(Runnable, OtherKnownFamiliesDoNot) {
  for (const char* name : {"gemma", "gemma2", "gemma3", "phi3", "granite", "falcon", "mixtral",
                           "qwen3_moe", "deepseek_v3"})
    EXPECT_FALSE(has_forward_pass(name)) << name;
}

TEST(Runnable, UnknownNamesAndModelTypeSpellingsDoNot) {
  EXPECT_FALSE(has_forward_pass(""));
  EXPECT_FALSE(has_forward_pass("no_such_family"));
  // gemma3_text is a model_type spelling of gemma3, not a family name.
  EXPECT_FALSE(has_forward_pass("gemma3_text"));
}

TEST(Runnable, SmolLM3IsItsOwnFamilyAndDoesNotRun) {
  // Its NoPE layers (no_rope_layers) are not in the runtime's llama block.
  const arch::Family* smollm3 = arch::find_family("smollm3");
  ASSERT_NE(smollm3, nullptr);
  EXPECT_EQ(smollm3->name, "smollm3");
  EXPECT_FALSE(smollm3->runnable);
  EXPECT_FALSE(has_forward_pass("smollm3"));
}

TEST(Runnable, ListIsExactlyTheFourInRegistryOrder) {
  EXPECT_EQ(runnable_architectures(),
            (std::vector<std::string>{"llama", "mistral", "qwen2", "qwen3"}));
}

TEST(Runnable, FlagLivesOnTheFamilyEntries) {
  const arch::Family* qwen3 = arch::find_family("qwen3");
  const arch::Family* gemma3 = arch::find_family("gemma3_text");
  ASSERT_NE(qwen3, nullptr);
  ASSERT_NE(gemma3, nullptr);
  EXPECT_TRUE(qwen3->runnable);
  EXPECT_FALSE(gemma3->runnable);
}

}  // namespace
}  // namespace mlxcel
