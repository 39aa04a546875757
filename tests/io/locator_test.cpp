// Model locator: directories, single files, split GGUF and the Hugging Face cache.
#include "io/locator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>

#include "io/gguf.h"
#include "io/safetensors.h"
#include "io_test_util.h"
#include "mlxcel/errors.h"
#include "support/test_paths.h"

namespace mlxcel {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

void tiny_safetensors(const std::string& path) { write_safetensors(path, {{"w", DType::F32, {2}, nullptr}}); }
void tiny_gguf(const std::string& path) { write_gguf(path, {{"general.architecture", "llama"}}, {}); }

// Sets an environment variable for the scope of a test and restores it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(Locator, SingleFileDirectory) {
  TempDir dir;
  test::write_file(dir.file("config.json"), "{}");
  tiny_safetensors(dir.file("model.safetensors"));
  LocatedModel m = locate_model(dir.path().string() + "/");
  EXPECT_EQ(m.format, ModelFormat::SafetensorsDir);
  EXPECT_EQ(m.root, dir.path().string());
  EXPECT_EQ(m.config_path, dir.file("config.json"));
  EXPECT_FALSE(m.index_path.has_value());
  EXPECT_EQ(m.weight_files, std::vector<std::string>{dir.file("model.safetensors")});
}

TEST(Locator, UnindexedShardsAreSorted) {
  TempDir dir;
  tiny_safetensors(dir.file("b.safetensors"));
  tiny_safetensors(dir.file("a.safetensors"));
  LocatedModel m = locate_model(dir.path().string());
  EXPECT_EQ(m.weight_files, (std::vector<std::string>{dir.file("a.safetensors"), dir.file("b.safetensors")}));
  EXPECT_FALSE(m.config_path.has_value());
}

TEST(Locator, ShardedDirectoryWithIndex) {
  TempDir dir;
  test::write_file(dir.file("config.json"), "{}");
  tiny_safetensors(dir.file("model-00002-of-00002.safetensors"));
  tiny_safetensors(dir.file("model-00001-of-00002.safetensors"));
  tiny_safetensors(dir.file("consolidated.safetensors"));  // not in the index: ignored
  write_safetensors_index(dir.file("model.safetensors.index.json"), 16,
                          {{"x", "model-00002-of-00002.safetensors"}, {"y", "model-00001-of-00002.safetensors"}});
  LocatedModel m = locate_model(dir.path().string());
  EXPECT_EQ(m.format, ModelFormat::SafetensorsDir);
  EXPECT_EQ(m.index_path, dir.file("model.safetensors.index.json"));
  EXPECT_EQ(m.weight_files, (std::vector<std::string>{dir.file("model-00001-of-00002.safetensors"),
                                                      dir.file("model-00002-of-00002.safetensors")}));
}

TEST(Locator, UnsafeIndexIsFormatError) {
  TempDir dir;
  test::write_file(dir.file("model.safetensors.index.json"), R"({"weight_map": {"w": "../x.safetensors"}})");
  EXPECT_THROW_MSG(locate_model(dir.path().string()), FormatError, "unsafe path");
}

TEST(Locator, ConfigOnlyDirectory) {
  TempDir dir;
  test::write_file(dir.file("config.json"), "{}");
  LocatedModel m = locate_model(dir.path().string());
  EXPECT_EQ(m.format, ModelFormat::ConfigOnly);
  EXPECT_TRUE(m.weight_files.empty());
  EXPECT_EQ(m.config_path, dir.file("config.json"));
}

TEST(Locator, EmptyDirectoryIsIoError) {
  TempDir dir;
  EXPECT_THROW_MSG(locate_model(dir.path().string()), IoError, "no config.json, *.safetensors or *.gguf");
}

TEST(Locator, SafetensorsFile) {
  TempDir dir;
  tiny_safetensors(dir.file("m.safetensors"));
  LocatedModel m = locate_model(dir.file("m.safetensors"));
  EXPECT_EQ(m.format, ModelFormat::SafetensorsFile);
  EXPECT_EQ(m.root, dir.file("m.safetensors"));
  EXPECT_FALSE(m.config_path.has_value());
  test::write_file(dir.file("config.json"), "{}");
  EXPECT_EQ(locate_model(dir.file("m.safetensors")).config_path, dir.file("config.json"));
}

TEST(Locator, RelativePathBecomesAbsolute) {
  TempDir dir;
  tiny_safetensors(dir.file("m.safetensors"));
  fs::path old = fs::current_path();
  fs::current_path(dir.path());
  LocatedModel m = locate_model("./m.safetensors");
  fs::current_path(old);
  EXPECT_EQ(m.root, dir.file("m.safetensors"));
  EXPECT_EQ(m.display_name, "./m.safetensors");
}

TEST(Locator, GgufFile) {
  TempDir dir;
  tiny_gguf(dir.file("model-Q4_K_M.gguf"));
  LocatedModel m = locate_model(dir.file("model-Q4_K_M.gguf"));
  EXPECT_EQ(m.format, ModelFormat::Gguf);
  EXPECT_EQ(m.weight_files, std::vector<std::string>{dir.file("model-Q4_K_M.gguf")});
}

TEST(Locator, SplitGgufFindsAllParts) {
  TempDir dir;
  for (int i = 1; i <= 3; ++i) tiny_gguf(dir.file("big-0000" + std::to_string(i) + "-of-00003.gguf"));
  const std::vector<std::string> parts = {dir.file("big-00001-of-00003.gguf"), dir.file("big-00002-of-00003.gguf"),
                                          dir.file("big-00003-of-00003.gguf")};
  EXPECT_EQ(locate_model(dir.file("big-00002-of-00003.gguf")).weight_files, parts);
  // The directory holds one split set: the same parts.
  LocatedModel m = locate_model(dir.path().string());
  EXPECT_EQ(m.format, ModelFormat::Gguf);
  EXPECT_EQ(m.weight_files, parts);
}

TEST(Locator, SplitGgufMissingPart) {
  TempDir dir;
  tiny_gguf(dir.file("big-00001-of-00003.gguf"));
  tiny_gguf(dir.file("big-00003-of-00003.gguf"));
  EXPECT_THROW_MSG(locate_model(dir.file("big-00001-of-00003.gguf")), IoError,
                   "split GGUF part 2 of 3 is missing (" + dir.file("big-00002-of-00003.gguf") + ")");
}

TEST(Locator, DirectoryWithSeveralGgufModelsIsAmbiguous) {
  TempDir dir;
  tiny_gguf(dir.file("m-Q4_K_M.gguf"));
  tiny_gguf(dir.file("m-Q8_0.gguf"));
  EXPECT_THROW_MSG(locate_model(dir.path().string()), IoError, "several GGUF models");
}

TEST(Locator, ProjectorNextToGgufIsIgnored) {
  TempDir dir;
  tiny_gguf(dir.file("m-Q4_K_M.gguf"));
  tiny_gguf(dir.file("mmproj-m-f16.gguf"));
  EXPECT_EQ(locate_model(dir.path().string()).weight_files, std::vector<std::string>{dir.file("m-Q4_K_M.gguf")});
}

// A fake hub cache laid out like huggingface_hub's: blobs, refs and snapshots with symlinks.
class HfCache : public ::testing::Test {
 protected:
  static constexpr const char* kMain = "0123456789abcdef0123456789abcdef01234567";
  static constexpr const char* kOld = "89abcdef0123456789abcdef0123456789abcdef";
  void SetUp() override {
    repo_ = hub_.path() / "models--org--tiny";
    fs::create_directories(repo_ / "blobs");
    fs::create_directories(repo_ / "refs");
    test::write_file((repo_ / "refs" / "main").string(), std::string(kMain));  // no newline, like the hub
    test::write_file((repo_ / "refs" / "v1").string(), std::string(kOld) + "\n");
    tiny_safetensors((repo_ / "blobs" / "aaaa").string());
    test::write_file((repo_ / "blobs" / "cccc").string(), "{}");
    for (const char* rev : {kMain, kOld}) {
      fs::path snap = repo_ / "snapshots" / rev;
      fs::create_directories(snap);
      fs::create_symlink("../../blobs/cccc", snap / "config.json");
    }
    // The old revision was only partly downloaded: config.json alone.
    fs::create_symlink("../../blobs/aaaa", repo_ / "snapshots" / kMain / "model.safetensors");
  }
  TempDir hub_;
  fs::path repo_;
};

TEST_F(HfCache, RefsMain) {
  ScopedEnv env("HF_HUB_CACHE", hub_.path().string());
  LocatedModel m = locate_model("org/tiny");
  EXPECT_EQ(m.format, ModelFormat::SafetensorsDir);
  EXPECT_EQ(m.display_name, "org/tiny@main");
  EXPECT_EQ(m.root, (repo_ / "snapshots" / kMain).string());
  EXPECT_EQ(m.weight_files, std::vector<std::string>{(repo_ / "snapshots" / kMain / "model.safetensors").string()});
  // The symlinked shard reads through to its blob.
  EXPECT_EQ(read_safetensors_header(m.weight_files[0]).tensors.size(), 1u);
}

TEST_F(HfCache, NamedRevision) {
  ScopedEnv env("HF_HUB_CACHE", hub_.path().string());
  LocatedModel m = locate_model("org/tiny@v1");
  EXPECT_EQ(m.format, ModelFormat::ConfigOnly);
  EXPECT_EQ(m.root, (repo_ / "snapshots" / kOld).string());
  EXPECT_EQ(m.display_name, "org/tiny@v1");
}

TEST_F(HfCache, SnapshotHash) {
  ScopedEnv env("HF_HUB_CACHE", hub_.path().string());
  LocatedModel m = locate_model(std::string("org/tiny@") + kOld);
  EXPECT_EQ(m.root, (repo_ / "snapshots" / kOld).string());
}

TEST_F(HfCache, HfHomeIsUsedWithoutHubCache) {
  TempDir home;
  fs::create_directory_symlink(hub_.path(), home.path() / "hub");
  ScopedEnv unset("HF_HUB_CACHE", std::nullopt);
  ScopedEnv env("HF_HOME", home.path().string());
  EXPECT_EQ(locate_model("org/tiny").format, ModelFormat::SafetensorsDir);
}

TEST_F(HfCache, UnknownRevisionListsWhatWasTriedAndWhatTheCacheHas) {
  ScopedEnv env("HF_HUB_CACHE", hub_.path().string());
  EXPECT_THROW_MSG(locate_model("org/tiny@v9"), IoError, (repo_ / "refs" / "v9").string());
  EXPECT_THROW_MSG(locate_model("org/tiny@v9"), IoError, "revision v9 is not in the cache");
  EXPECT_THROW_MSG(locate_model("org/tiny@v9"), IoError, "the cache has refs: main, v1; snapshots: ");
}

TEST_F(HfCache, UnknownRepo) {
  ScopedEnv env("HF_HUB_CACHE", hub_.path().string());
  EXPECT_THROW_MSG(locate_model("org/other"), IoError, (hub_.path() / "models--org--other").string() + " does not exist");
}

TEST_F(HfCache, RevisionWithParentPathIsRefusedAsARevision) {
  ScopedEnv env("HF_HUB_CACHE", hub_.path().string());
  EXPECT_THROW_MSG(locate_model("org/tiny@../../x"), IoError,
                   "revision \"../../x\" is not a branch, tag or commit name");
}

TEST(Locator, NothingMatches) {
  EXPECT_THROW_MSG(locate_model("/nonexistent/dir/model"), IoError, "model not found");
  EXPECT_THROW_MSG(locate_model("no-such-thing"), IoError, "not a Hugging Face repo id (org/name[@revision])");
}

}  // namespace
}  // namespace mlxcel
