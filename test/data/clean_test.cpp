#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <vector>

#include "data/fixtures.hpp"
#include "edgestack/data/clean.hpp"
#include "edgestack/data/csv.hpp"
#include "edgestack/io/scaling.hpp"

using namespace edgestack;
using namespace edgestack::data;
using fixtures::message_of;

namespace {
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

Table table(std::size_t cols, std::vector<float> v, std::vector<std::int32_t> y = {}) {
    Table t;
    for (std::size_t c = 0; c < cols; ++c) {
        std::string name = "c"; // not "c" + to_string: GCC 12 warns falsely (-Wrestrict)
        name += std::to_string(c);
        t.columns.push_back(std::move(name));
    }
    t.values = std::move(v);
    t.labels = std::move(y);
    return t;
}
} // namespace

BOOST_AUTO_TEST_SUITE(cleaning)

BOOST_AUTO_TEST_CASE(imputation_is_fitted_on_train_only) {
    Table train = table(2, {1, 10, kNan, 20, 3, kInf, 8, 40});
    Cleaner<ImputeMean> mean;
    const auto r = mean.fit(train);
    BOOST_TEST(r.imputed == 2u);
    BOOST_TEST(train.at(1, 0) == 4.0f);            // (1 + 3 + 8) / 3
    BOOST_TEST(train.at(2, 1) == 70.0f / 3.0f, boost::test_tools::tolerance(1e-5f));
    Table test = table(2, {kNan, kNan, 100, 100});
    const auto rt = mean.apply(test);                // the training means, not the test's
    BOOST_TEST(rt.imputed == 2u);
    BOOST_TEST(test.at(0, 0) == 4.0f);
    BOOST_TEST(test.at(1, 0) == 100.0f);

    Table t2 = table(1, {1, kNan, 2, 100});
    Cleaner<ImputeMedian> med;
    med.fit(t2);
    BOOST_TEST(t2.at(1, 0) == 2.0f);
    Table t3 = table(1, {kNan, 1});
    Cleaner<ImputeConstant> k(ImputeConstant{-1.0f});
    k.fit(t3);
    BOOST_TEST(t3.at(0, 0) == -1.0f);
}

BOOST_AUTO_TEST_CASE(forward_fill_for_time_series) {
    Table t = table(2, {kNan, 1, 5, kNan, kNan, kNan, 7, 2});
    Cleaner<ForwardFill> ff;
    const auto r = ff.fit(t);
    BOOST_TEST(r.imputed == 4u);
    BOOST_TEST(t.values == (std::vector<float>{6, 1, 5, 1, 5, 1, 7, 2}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(outliers_clipped_or_dropped) {
    std::vector<float> v(20, 10.0f);
    for (std::size_t i = 0; i < 20; ++i) v[i] += static_cast<float>(i % 5);
    v[7] = 1000.0f;
    Table a = table(1, v), b = table(1, v), c = table(1, v);
    Cleaner<IqrClip> iqr;
    const auto ri = iqr.fit(a);
    BOOST_TEST(ri.clipped == 1u);
    BOOST_TEST(a.at(7, 0) < 20.0f);
    Cleaner<ZScoreClip> z(ZScoreClip{2.0f});
    const auto rz = z.fit(b);
    BOOST_TEST(rz.clipped == 1u);
    BOOST_TEST(b.at(7, 0) < 1000.0f);
    Cleaner<DropOutliers> d(DropOutliers{3.0f});
    const auto rd = d.fit(c);
    BOOST_TEST(rd.dropped_outliers == 1u);
    BOOST_TEST(c.rows() == 19u);
    BOOST_TEST(rd.rows_dropped() == 1u);
}

BOOST_AUTO_TEST_CASE(inconsistencies) {
    Table t = table(2, {1, 2, 1, 2, 1, 2, 3, kNan, 4, kInf, 5, 6, 7, 8}, {0, 0, 1, 0, 1, 7, -1});
    t.lines = {2, 3, 4, 5, 6, 7, 8};
    Cleaner<DropDuplicates, DropNonFinite, DropBadLabels> c(DropDuplicates{}, DropNonFinite{},
                                                            DropBadLabels{3});
    const auto r = c.fit(t);
    BOOST_TEST(r.dropped_duplicates == 1u); // row 1 equals row 0 (row 2 has another label)
    BOOST_TEST(r.dropped_non_finite == 2u);
    BOOST_TEST(r.dropped_bad_labels == 2u);  // 7 and -1
    BOOST_TEST(r.rows_out == 2u);
    BOOST_TEST(t.labels == (std::vector<std::int32_t>{0, 1}), boost::test_tools::per_element());
    BOOST_TEST(t.lines == (std::vector<std::size_t>{2, 4}), boost::test_tools::per_element());
    BOOST_TEST(r.to_string().find("rows 7 -> 2") != std::string::npos, r.to_string());
}

BOOST_AUTO_TEST_CASE(scaling_and_serving_rows) {
    Table t = table(2, {0, 10, 5, 20, 10, 30});
    Cleaner<MinMaxScale> mm;
    mm.fit(t);
    BOOST_TEST(t.values == (std::vector<float>{0, 0, 0.5f, 0.5f, 1, 1}), boost::test_tools::per_element());
    std::vector<float> row{20, 10};
    mm.transform(row);
    BOOST_TEST(row[0] == 2.0f);
    BOOST_TEST(row[1] == 0.0f);

    Table s = table(1, {1, 2, 3, 4});
    Cleaner<ImputeMean, DropOutliers, Standardize> st;
    st.fit(s);
    double m = 0, q = 0;
    for (float v : s.values) m += v, q += v * v;
    BOOST_TEST(m / 4 == 0.0, boost::test_tools::tolerance(1e-6));
    BOOST_TEST(q / 4 == 1.0, boost::test_tools::tolerance(1e-5));
    std::vector<float> serve{kNan};
    const auto r = st.transform(serve); // imputed with the mean, then standardized
    BOOST_TEST(r.imputed == 1u);
    BOOST_TEST(serve[0] == 0.0f, boost::test_tools::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(state_round_trips_through_a_file) {
    fixtures::TempDir dir("clean");
    Table train = table(2, {1, 100, kNan, 200, 3, 300, 50, 400});
    using C = Cleaner<ImputeMedian, IqrClip, Standardize>;
    C fitted;
    fitted.fit(train);
    fitted.save(dir / "clean.bin");
    C loaded;
    BOOST_CHECK_THROW(loaded.apply(train), config_error); // not fitted yet
    loaded.load(dir / "clean.bin");
    Table a = table(2, {kNan, 1000, 2, -5}), b = a;
    fitted.apply(a);
    loaded.apply(b);
    BOOST_TEST(a.values == b.values, boost::test_tools::per_element());
    BOOST_TEST(loaded.get<1>().bounds == fitted.get<1>().bounds, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(damaged_or_foreign_state_is_a_clear_error) {
    fixtures::TempDir dir("clean");
    Table train = table(1, {1, 2, 3});
    Cleaner<ImputeMean, Standardize> c;
    c.fit(train);
    auto bytes = c.serialize();
    // A flipped value byte: the checksum catches it.
    auto bad = bytes;
    bad[30] ^= 0x40;
    fixtures::write_bytes(dir / "flip.bin", bad);
    auto msg = message_of<integrity_error>([&] { Cleaner<ImputeMean, Standardize>().load(dir / "flip.bin"); });
    BOOST_TEST(msg.find("flip.bin: byte") != std::string::npos, msg);
    BOOST_TEST(msg.find("checksum") != std::string::npos, msg);
    // A version from the future.
    bad = bytes;
    bad[8] = 9;
    fixtures::write_bytes(dir / "v9.bin", bad);
    msg = message_of<format_error>([&] { Cleaner<ImputeMean, Standardize>().load(dir / "v9.bin"); });
    BOOST_TEST(msg.find("v9.bin: byte 8") != std::string::npos, msg);
    BOOST_TEST(msg.find("version 9") != std::string::npos, msg);
    // Not a state file.
    fixtures::write_text(dir / "junk.bin", "hello, world");
    msg = message_of<format_error>([&] { Cleaner<ImputeMean, Standardize>().load(dir / "junk.bin"); });
    BOOST_TEST(msg.find("byte 0") != std::string::npos, msg);
    // Another Cleaner's state.
    fixtures::write_bytes(dir / "ok.bin", bytes);
    msg = message_of<format_error>([&] { Cleaner<ImputeMean, MinMaxScale>().load(dir / "ok.bin"); });
    BOOST_TEST(msg.find("'standardize'") != std::string::npos, msg);
    BOOST_TEST(msg.find("'min_max_scale'") != std::string::npos, msg);
    // Applying to a table of another width.
    Table wide = table(2, {1, 2});
    BOOST_CHECK_THROW(c.apply(wide), shape_error);
}

BOOST_AUTO_TEST_CASE(save_replaces_the_file_atomically_and_refuses_a_folder) {
    fixtures::TempDir dir("clean");
    using C = Cleaner<ImputeMean, Standardize>;
    Table first = table(1, {1, 2, 3}), second = table(1, {10, 20, 30});
    C a, b;
    a.fit(first);
    b.fit(second);
    a.save(dir / "state.bin");
    // A second name for the old file: a writer that truncates in place changes what it
    // holds, one that writes a new file and renames it over the target does not.
    std::filesystem::create_hard_link(dir / "state.bin", dir / "old.bin");
    b.save(dir / "state.bin");
    C old_state, new_state;
    old_state.load(dir / "old.bin");
    new_state.load(dir / "state.bin");
    BOOST_TEST(old_state.get<0>().fill == a.get<0>().fill, boost::test_tools::per_element());
    BOOST_TEST(new_state.get<0>().fill == b.get<0>().fill, boost::test_tools::per_element());
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path)) ++files;
    BOOST_TEST(files == 2u); // no temporary file left behind
    // A folder in the way is refused, and left as it was.
    std::filesystem::create_directories(dir / "folder.bin");
    const auto msg = message_of<file_error>([&] { a.save(dir / "folder.bin"); });
    BOOST_TEST(msg.find("folder.bin") != std::string::npos, msg);
    BOOST_TEST(msg.find("directory") != std::string::npos, msg);
    BOOST_TEST(std::filesystem::is_directory(dir / "folder.bin"));
}

// Policies without state (found by fuzz_clean under UBSan: memcpy from a null buffer).
BOOST_AUTO_TEST_CASE(stateless_policies_round_trip) {
    fixtures::TempDir dir("clean");
    Table t = table(2, {1, 2, 1, 2, kNan, 3}, {0, 0, 1});
    Cleaner<DropNonFinite, DropDuplicates, Standardize> a, b;
    a.fit(t);
    a.save(dir / "stateless.bin");
    b.load(dir / "stateless.bin");
    BOOST_TEST(b.fitted());
    BOOST_TEST(b.get<2>().ms == a.get<2>().ms, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_loaded_state_must_fit_its_column_count) {
    fixtures::TempDir dir("clean");
    auto with_cols = [](std::vector<unsigned char> b, std::uint32_t cols) {
        std::memcpy(b.data() + 12, &cols, 4);
        const std::uint32_t crc = data::detail::crc32(b.data(), b.size() - 4);
        std::memcpy(b.data() + b.size() - 4, &crc, 4);
        return std::vector<std::uint8_t>(b.begin(), b.end());
    };
    // Fitted on one column, the file claiming two: the clipping bounds of column 1 would be
    // read past the end of the state when a row is cleaned.
    Cleaner<ImputeMean, ZScoreClip> one;
    Table t = table(1, {1, 2, 3});
    one.fit(t);
    fixtures::write_bytes(dir / "cols.bin", with_cols(one.serialize(), 2));
    Cleaner<ImputeMean, ZScoreClip> c;
    auto msg = message_of<format_error>([&] { c.load(dir / "cols.bin"); });
    BOOST_TEST(msg.find("cols.bin: byte") != std::string::npos, msg);
    BOOST_TEST(msg.find("impute_mean") != std::string::npos, msg);
    BOOST_TEST(!c.fitted()); // a refused file leaves the Cleaner as it was
    // A class count that is no whole number (converting it was undefined behaviour).
    Cleaner<DropBadLabels> labels;
    Table y = table(1, {1, 2}, {0, 1});
    labels.fit(y);
    auto b = labels.serialize();
    const double nan = std::nan("");
    std::memcpy(b.data() + b.size() - 12, &nan, 8);
    fixtures::write_bytes(dir / "nan.bin", with_cols(b, 1));
    msg = message_of<format_error>([&] { Cleaner<DropBadLabels>().load(dir / "nan.bin"); });
    BOOST_TEST(msg.find("class count") != std::string::npos, msg);
    // Standalone policies check the width too, not only that it divides.
    ZScoreClip z;
    z.fit(table(3, {1, 2, 3, 4, 5, 6}));
    std::vector<float> row{1};
    CleaningReport r;
    BOOST_CHECK_THROW(z.transform(row, r), shape_error);
}

BOOST_AUTO_TEST_CASE(csv_to_clean_loader) {
    fixtures::TempDir dir("clean");
    fixtures::write_text(dir / "train.csv", "t,h,y\n20,0.5,a\n,0.6,b\n22,NA,a\n20,0.5,a\n25,0.7,zz\n");
    fixtures::write_text(dir / "test.csv", "t,h,y\n,0.55,b\n30,0.6,a\n");
    CsvOptions o;
    o.label_column = "y";
    Table train = read_csv(dir / "train.csv", o);
    o.label_map = train.classes;
    Table test = read_csv(dir / "test.csv", o);
    Cleaner<DropDuplicates, ImputeMean, MinMaxScale> c;
    const auto r = c.fit(train);
    BOOST_TEST(r.dropped_duplicates == 1u);
    BOOST_TEST(r.imputed == 2u);
    c.apply(test);
    const TableLoader l(std::move(test));
    BOOST_TEST(l.size() == 2u);
    std::vector<float> x(2);
    BOOST_TEST(l.read(0, x) == 1);
    BOOST_TEST((x[0] >= 0.0f && x[0] <= 1.0f));
}

// The deployment form of fitted cleaning (io::Scaling, applied by the server before the
// engine) must clean a request row exactly as the Cleaner cleans it: missing values filled,
// outliers clipped, then scaled.
BOOST_AUTO_TEST_CASE(input_scaling_cleans_a_row_as_the_cleaner_does) {
    Table train = table(3, {1, 10, -5, kNan, 20, 0, 3, kInf, 5, 8, 40, 2, 2, 15, 100, 5, 30, 1});
    auto check = [&](const auto& cleaner, const char* what) {
        const io::Scaling s = cleaner.input_scaling();
        for (std::vector<float> row : {std::vector<float>{kNan, 1e6f, -1e6f}, {2.5f, 12.0f, kInf}, {-50, kNan, 3}}) {
            std::vector<float> want = row, got = row;
            cleaner.transform(want);
            s.to_model(got);
            for (std::size_t c = 0; c < 3; ++c)
                BOOST_TEST(got[c] == want[c], what << ": column " << c << ": " << got[c] << " vs " << want[c]
                                                   << boost::test_tools::tolerance(1e-5f));
        }
    };
    {
        Cleaner<ImputeMean, ZScoreClip, Standardize> c(ImputeMean{}, ZScoreClip{1.0f}, Standardize{});
        Table t = train;
        c.fit(t);
        const auto s = c.input_scaling();
        BOOST_TEST(s.input_fill.size() == 3u);
        BOOST_TEST(s.input_lo.size() == 3u);
        BOOST_TEST(s.input_mean.size() == 3u);
        BOOST_TEST(s.cleans());
        check(c, "impute, z-score clip, standardize");
    }
    {
        Cleaner<DropDuplicates, ImputeMedian, IqrClip, MinMaxScale> c;
        Table t = train;
        c.fit(t);
        check(c, "drop duplicates, impute median, IQR clip, min-max");
    }
    {
        Cleaner<ImputeConstant, MinMaxScale> c(ImputeConstant{-1.0f}, MinMaxScale{-1.0f, 1.0f});
        Table t = table(2, {1, 4, kNan, 4, 3, 4}); // column 1 is constant
        c.fit(t);
        const io::Scaling s = c.input_scaling();
        std::vector<float> want{kNan, 123.0f}, got = want;
        c.transform(want);
        s.to_model(got);
        BOOST_TEST(got[0] == want[0], boost::test_tools::tolerance(1e-6f));
        BOOST_TEST(got[1] == want[1]); // a constant column lands on lo whatever comes in
    }
}

BOOST_AUTO_TEST_CASE(input_scaling_refuses_what_a_deployment_cannot_apply) {
    Table train = table(2, {1, 10, kNan, 20, 3, 30});
    Cleaner<Standardize, ImputeMean> late;
    BOOST_CHECK_THROW((void)late.input_scaling(), config_error); // not fitted
    late.fit(train);
    const std::string m = message_of<config_error>([&] { (void)late.input_scaling(); });
    BOOST_TEST(m.find("impute_mean after standardize") != std::string::npos, m);
}

BOOST_AUTO_TEST_SUITE_END()
