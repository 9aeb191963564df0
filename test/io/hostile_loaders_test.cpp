// Hostile input for the loaders written elsewhere (IDX, NPY, CSV, checkpoints), from the
// fuzz seed corpora: every truncation and every single-bit flip ends in an edgestack::error
// that names the file, or in a successful load - never in a crash or another exception.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <functional>

#include "data/fixtures.hpp"
#include "edgestack/data/clean.hpp"
#include "edgestack/data/csv.hpp"
#include "edgestack/data/idx.hpp"
#include "edgestack/data/image_folder.hpp"
#include "edgestack/data/npy.hpp"
#include "edgestack/deploy/registry.hpp"
#include "edgestack/train/checkpoint.hpp"
#include "io_util.hpp"

#if defined(EDGESTACK_HAS_GZIP)
#include <zlib.h>
#endif

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

// Registry manifests and serving pointers: a float where a whole number belongs was cast
// unchecked (undefined for 1e300), and a number beyond double's range escaped as nlohmann's
// out_of_range (found by fuzz_manifest).
BOOST_AUTO_TEST_CASE(manifest_numbers_are_checked) {
    namespace d = deploy::detail;
    const std::filesystem::path file = "manifest.json";
    auto message = [&](const std::string& text, const std::function<void(const nlohmann::json&)>& f) {
        try {
            f(d::parse_json_file(file, text));
        } catch (const edgestack::error& e) {
            return std::string(e.what());
        }
        return std::string("<accepted>");
    };
    auto manifest = [&](const nlohmann::json& j) { (void)d::manifest_from_json(j, file); };
    auto history = [&](const nlohmann::json& j) {
        (void)d::field<std::vector<std::uint64_t>>(j, "history", file);
    };
    std::string m = message("{\"schema\": 1e300}", manifest);
    BOOST_TEST(m.find("field 'schema' must hold whole numbers") != std::string::npos, m);
    m = message("{\"history\": [1, 2.5e300]}", history);
    BOOST_TEST(m.find("field 'history' must hold whole numbers") != std::string::npos, m);
    m = message("{\"schema\": 4444E444}", manifest);
    BOOST_TEST(m.find("manifest.json: not valid JSON") != std::string::npos, m);
}

// A path that is a folder, a FIFO or a device: every reader and writer of files from elsewhere
// refuses it with a file_error naming the path and what it is. Before, a folder let
// std::ios_base::failure out of the checkpoint reader, a FIFO hung the process and a
// device was read as if it were a file.
BOOST_AUTO_TEST_CASE(folders_fifos_and_devices_are_refused_by_name) {
    fixtures::TempDir dir("not-regular");
    std::filesystem::create_directories(dir / "folder.bin");
    fixtures::make_fifo(dir / "fifo.bin");
    struct Case {
        const char* reader;
        std::function<void(const std::filesystem::path&)> read;
    };
    const std::vector<Case> readers{
        {"read_pnm", [](const auto& p) { (void)data::read_pnm(p); }},
        {"Cleaner::load", [](const auto& p) { data::Cleaner<data::ImputeMean>().load(p); }},
        {"read_checkpoint", [](const auto& p) { (void)train::read_checkpoint(p); }},
        {"read_idx", [](const auto& p) { (void)data::read_idx(p); }},
        {"read_npy", [](const auto& p) { (void)data::read_npy(p); }},
        {"read_csv", [](const auto& p) { (void)data::read_csv(p); }},
    };
    const std::vector<std::pair<std::filesystem::path, std::string>> paths{
        {dir / "folder.bin", "a directory"}, {dir / "fifo.bin", "a FIFO"}, {"/dev/null", "a device"}};
    for (const auto& c : readers)
        for (const auto& [path, kind] : paths) {
            std::string msg = "<no file_error>";
            try {
                fixtures::without_hanging_on(dir / "fifo.bin", [&] { c.read(path); });
            } catch (const file_error& e) {
                msg = e.what();
            } catch (const std::exception& e) {
                msg = std::string("not a file_error: ") + e.what();
            }
            BOOST_TEST(msg.find(path.string() + ": cannot read: it is " + kind) != std::string::npos,
                       c.reader << " on " << path << ": " << msg);
        }

    // The image folder loader does not skip a FIFO or folder named like an image.
    fixtures::make_fifo(dir / "images/cat/a.pgm");
    std::string msg = "<no file_error>";
    try {
        fixtures::without_hanging_on(dir / "images/cat/a.pgm",
                                     [&] { data::ImageFolderLoader l(dir / "images"); });
    } catch (const file_error& e) {
        msg = e.what();
    }
    BOOST_TEST(msg.find("a.pgm: cannot read: it is a FIFO") != std::string::npos, msg);

    // Writers: a folder or FIFO in the way is refused and left as it was.
    data::Cleaner<data::ImputeMean> cleaner;
    data::Table t;
    t.columns = {"x"};
    t.values = {1, 2};
    cleaner.fit(t);
    for (const auto& [path, kind] : paths) {
        if (path == "/dev/null") continue;
        msg = "<no file_error>";
        try {
            fixtures::without_hanging_on(dir / "fifo.bin", [&] { cleaner.save(path); });
        } catch (const file_error& e) {
            msg = e.what();
        }
        BOOST_TEST(msg.find(path.string() + ": cannot write: it is " + kind) != std::string::npos,
                   "Cleaner::save on " << path << ": " << msg);
    }
    BOOST_TEST(std::filesystem::is_directory(dir / "folder.bin"));
    BOOST_TEST(std::filesystem::is_fifo(dir / "fifo.bin"));
}

BOOST_AUTO_TEST_SUITE_END()

#if defined(EDGESTACK_HAS_GZIP)
// zlib reports a cut-short gzip stream only when asked: a truncated .csv.gz must not read as
// a shorter table, nor a truncated .npy.gz as fewer items.
BOOST_AUTO_TEST_CASE(truncated_gzip_files_are_refused_not_read_short) {
    fixtures::TempDir dir("truncated-gz");
    std::string csv = "x,y,label\n";
    for (int i = 0; i < 4000; ++i)
        csv += std::to_string(i) + "," + std::to_string(i * 7 % 13) + "," + std::to_string(i % 3) + "\n";
    const auto whole = dir / "table.csv.gz";
    {
        gzFile gz = gzopen(whole.c_str(), "wb");
        BOOST_TEST_REQUIRE(gz != nullptr);
        BOOST_TEST_REQUIRE(gzwrite(gz, csv.data(), static_cast<unsigned>(csv.size())) ==
                           static_cast<int>(csv.size()));
        gzclose(gz);
    }
    data::CsvOptions opt;
    opt.label_column = "label";
    BOOST_TEST(data::read_csv(whole, opt).rows() == 4000u);
    const auto bytes = iotest::read_bytes(whole.string());
    const auto cut = dir / "cut.csv.gz";
    iotest::write_bytes(cut.string(), std::vector<char>(bytes.begin(), bytes.begin() + bytes.size() / 2));
    std::string msg = "<read without error>";
    try {
        (void)data::read_csv(cut, opt);
    } catch (const format_error& e) {
        msg = e.what();
    }
    BOOST_TEST(msg.find("cut.csv.gz: byte ") != std::string::npos, msg);
    BOOST_TEST(msg.find("the gzip file is truncated") != std::string::npos, msg);
}
#endif
