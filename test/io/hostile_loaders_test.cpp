// Hostile input for the loaders written elsewhere (IDX, NPY, CSV, checkpoints), from the
// fuzz seed corpora: every truncation and every single-bit flip ends in an edgestack::error
// that names the file, or in a successful load - never in a crash or another exception.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <functional>

#include "edgestack/data/csv.hpp"
#include "edgestack/data/idx.hpp"
#include "edgestack/data/npy.hpp"
#include "edgestack/train/checkpoint.hpp"
#include "io_util.hpp"

using namespace edgestack;
namespace fs = std::filesystem;

namespace {

const fs::path corpus = fs::path(EDGESTACK_SOURCE_DIR) / "test/fuzz/corpus";

struct Outcome {
    std::size_t loaded = 0, rejected = 0;
};

/// Runs `load(path)` on every truncation and every bit flip (one bit per byte, rotating) of
/// `seed`, written to `name` in a scratch folder.
Outcome torture(const fs::path& seed, const std::string& name,
                const std::function<void(const std::string&)>& load) {
    iotest::TempDir dir;
    const auto path = dir.file(name);
    const auto full = iotest::read_bytes(seed.string());
    BOOST_REQUIRE(!full.empty());
    Outcome o;
    auto one = [&](const std::vector<char>& b, const std::string& what) {
        iotest::write_bytes(path, b);
        try {
            load(path);
            ++o.loaded;
        } catch (const edgestack::error& e) {
            ++o.rejected;
            BOOST_TEST(std::string(e.what()).find(name) != std::string::npos,
                       what << ": message without the file name: " << e.what());
        } catch (const std::exception& e) {
            BOOST_ERROR(what << ": not an edgestack::error: " << e.what());
        }
    };
    one(full, "the seed");
    BOOST_TEST(o.loaded == 1u, seed << " should load");
    for (std::size_t n = 0; n < full.size(); ++n)
        one({full.begin(), full.begin() + static_cast<long>(n)}, "truncated to " + std::to_string(n));
    for (std::size_t i = 0; i < full.size(); ++i) {
        auto b = full;
        b[i] ^= static_cast<char>(1 << (i % 8));
        one(b, "bit flip at byte " + std::to_string(i));
    }
    return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(hostile_loaders)

BOOST_AUTO_TEST_CASE(idx) {
    const auto o = torture(corpus / "idx/images.idx3", "images.idx3",
                           [](const std::string& p) { (void)data::read_idx(p); });
    BOOST_TEST(o.rejected > 34u); // every truncation but none of the pixel flips
}

BOOST_AUTO_TEST_CASE(npy) {
    const auto o = torture(corpus / "npy/f32.npy", "f32.npy",
                           [](const std::string& p) { (void)data::read_npy(p); });
    BOOST_TEST(o.rejected >= 152u);
}

BOOST_AUTO_TEST_CASE(csv) {
    // Text formats accept many variants (a truncated CSV is often a shorter valid one), so
    // only "no crash, clear error" is required here.
    const auto o = torture(corpus / "csv/labelled.csv", "labelled.csv", [](const std::string& p) {
        data::CsvOptions opt;
        opt.label_column = "label";
        (void)data::read_csv(p, opt);
    });
    BOOST_TEST(o.rejected > 0u);
}

BOOST_AUTO_TEST_CASE(checkpoint) {
    const auto o = torture(corpus / "checkpoint/small.ckpt", "small.ckpt",
                           [](const std::string& p) { (void)train::read_checkpoint(p); });
    // The CRC-32 catches every single-bit flip, and no truncation is complete.
    BOOST_TEST(o.loaded == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
