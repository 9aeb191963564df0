#include <boost/test/unit_test.hpp>

#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#if defined(EDGESTACK_HAS_GZIP)
#include <zlib.h>
#endif

#include "data/fixtures.hpp"
#include "edgestack/concepts.hpp"
#include "edgestack/data/csv.hpp"
#include "edgestack/data/table.hpp"

using namespace edgestack;
using namespace edgestack::data;
using fixtures::message_of;

static_assert(Loader<TableLoader>);

BOOST_AUTO_TEST_SUITE(csv)

BOOST_AUTO_TEST_CASE(header_quotes_missing_types_and_label_by_name) {
    fixtures::TempDir dir("csv");
    fixtures::write_text(dir / "sensors.csv",
                         "time,temp,site,\"note, free\",state\r\n"
                         "2024-01-01,21.5,roof,\"says \"\"hi\"\"\",ok\r\n"
                         "2024-01-02,,cellar,\"two\nlines\",fault\r\n"
                         "\r\n"
                         "2024-01-03, -3e1 ,roof,,ok\r\n");
    CsvOptions o;
    o.label_column = "state";
    o.types = {{"time", ColumnType::ignore}, {"note, free", ColumnType::category}};
    const Table t = read_csv(dir / "sensors.csv", o);
    BOOST_TEST(t.columns == (std::vector<std::string>{"temp", "site", "note, free"}),
               boost::test_tools::per_element());
    BOOST_TEST(t.rows() == 3u);
    BOOST_TEST(t.at(0, 0) == 21.5f);
    BOOST_TEST(std::isnan(t.at(1, 0)));        // missing field
    BOOST_TEST(t.at(2, 0) == -30.0f);
    BOOST_TEST(t.at(0, 1) == 0.0f);            // roof
    BOOST_TEST(t.at(1, 1) == 1.0f);            // cellar
    BOOST_TEST(t.at(2, 1) == 0.0f);
    BOOST_TEST(t.categories[2].name_of(0) == "says \"hi\"");
    BOOST_TEST(t.categories[2].name_of(1) == "two\nlines");
    BOOST_TEST(std::isnan(t.at(2, 2)));
    // Label names are sorted: fault = 0, ok = 1.
    BOOST_TEST(t.labels == (std::vector<std::int32_t>{1, 0, 1}), boost::test_tools::per_element());
    BOOST_TEST(t.classes.name_of(0) == "fault");
    BOOST_TEST(t.lines == (std::vector<std::size_t>{2, 3, 6}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(tsv_integer_labels_and_loader) {
    fixtures::TempDir dir("csv");
    fixtures::write_text(dir / "t.tsv", "a\tb\ty\n1\t2\t0\n3\t4\t2\n5\t6\t1\n");
    CsvOptions o;
    o.label_column = "y";
    const auto l = load_csv(dir / "t.tsv", o);
    BOOST_TEST(l.size() == 3u);
    BOOST_TEST(l.sample_size() == 2u);
    BOOST_TEST(l.num_classes() == 3u);
    std::vector<float> x(2);
    BOOST_TEST(l.read(1, x) == 2);
    BOOST_TEST(x == (std::vector<float>{3, 4}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(time_series_windows) {
    fixtures::TempDir dir("csv");
    std::string s = "ax,ay,activity\n";
    for (int i = 0; i < 10; ++i)
        s += std::to_string(i) + "," + std::to_string(10 * i) + "," + (i < 5 ? "walk" : "run") + "\n";
    fixtures::write_text(dir / "imu.csv", s);
    CsvOptions o;
    o.label_column = "activity";
    const auto l = load_csv(dir / "imu.csv", o, {4, 2});
    BOOST_TEST(l.size() == 4u); // starts 0, 2, 4, 6
    BOOST_TEST((l.layout() == SampleLayout{1, 4, 2}));
    std::vector<float> x(8);
    BOOST_TEST(l.read(1, x) == 0); // rows 2..5, last is "run" (index 0 of sorted run, walk)
    BOOST_TEST(x == (std::vector<float>{2, 20, 3, 30, 4, 40, 5, 50}), boost::test_tools::per_element());
    BOOST_TEST(l.read(0, x) == 1); // rows 0..3: walk
}

BOOST_AUTO_TEST_CASE(fixed_label_map_and_unknown_label) {
    fixtures::TempDir dir("csv");
    fixtures::write_text(dir / "a.csv", "x,y\n1,cat\n2,cow\n");
    CsvOptions o;
    o.label_column = "y";
    o.label_map = LabelMap({"dog", "cat"});
    const auto msg = message_of<format_error>([&] { read_csv(dir / "a.csv", o); });
    BOOST_TEST(msg.find((dir / "a.csv").string() + ":3:") != std::string::npos, msg);
    BOOST_TEST(msg.find("'cow'") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(ragged_row_names_file_and_line) {
    fixtures::TempDir dir("csv");
    fixtures::write_text(dir / "ragged.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n");
    const auto msg = message_of<format_error>([&] { read_csv(dir / "ragged.csv"); });
    BOOST_TEST(msg.find((dir / "ragged.csv").string() + ":3:") != std::string::npos, msg);
    BOOST_TEST(msg.find("2 fields, expected 3") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(unparsable_number_names_file_line_and_column) {
    fixtures::TempDir dir("csv");
    fixtures::write_text(dir / "bad.csv", "a,b\n1,2\n3,4\n5,4.2.1\n");
    const auto msg = message_of<format_error>([&] { read_csv(dir / "bad.csv"); });
    BOOST_TEST(msg.find((dir / "bad.csv").string() + ":4:") != std::string::npos, msg);
    BOOST_TEST(msg.find("column 'b'") != std::string::npos, msg);
    BOOST_TEST(msg.find("'4.2.1' is not a number") != std::string::npos, msg);
    // A declared number column fails on its first text value too.
    fixtures::write_text(dir / "typed.csv", "a,b\nx,1\n");
    CsvOptions o;
    o.types = {{"a", ColumnType::number}};
    const auto m2 = message_of<format_error>([&] { read_csv(dir / "typed.csv", o); });
    BOOST_TEST(m2.find(":2:") != std::string::npos, m2);
}

BOOST_AUTO_TEST_CASE(other_bad_inputs) {
    fixtures::TempDir dir("csv");
    fixtures::write_text(dir / "q.csv", "a,b\n1,\"open\n2,3\n");
    auto msg = message_of<format_error>([&] { read_csv(dir / "q.csv"); });
    BOOST_TEST(msg.find(":2:") != std::string::npos, msg);
    fixtures::write_text(dir / "ok.csv", "a,b\n1,2\n");
    CsvOptions o;
    o.label_column = "label";
    msg = message_of<config_error>([&] { read_csv(dir / "ok.csv", o); });
    BOOST_TEST(msg.find("'label'") != std::string::npos, msg);
    BOOST_CHECK_THROW(read_csv(dir / "missing.csv"), file_error);
    fixtures::write_text(dir / "neg.csv", "a,y\n1,0\n2,\n");
    o.label_column = "y";
    const auto t = read_csv(dir / "neg.csv", o);
    BOOST_TEST(t.labels[1] == -1);
    msg = message_of<format_error>([&] { TableLoader l(t); });
    BOOST_TEST(msg.find("line 3") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(missing_label_column_lists_the_columns_there_are) {
    fixtures::TempDir dir("csv");
    fixtures::write_text(dir / "ok.csv", "temp,site,state\n1,roof,ok\n");
    CsvOptions o;
    o.label_column = "status";
    auto msg = message_of<config_error>([&] { read_csv(dir / "ok.csv", o); });
    BOOST_TEST(msg.find("'status'") != std::string::npos, msg);
    BOOST_TEST(msg.find("'temp', 'site', 'state'") != std::string::npos, msg);
    // The same for a type given to a column the file does not have.
    CsvOptions t;
    t.types = {{"when", ColumnType::ignore}};
    msg = message_of<config_error>([&] { read_csv(dir / "ok.csv", t); });
    BOOST_TEST(msg.find("'when'") != std::string::npos, msg);
    BOOST_TEST(msg.find("'temp', 'site', 'state'") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(headerless_file_names_columns_c0_c1) {
    fixtures::TempDir dir("csv");
    fixtures::write_text(dir / "raw.csv", "1,2,a\n3,4,b\n5,6,a\n");
    CsvOptions o;
    o.header = false;
    o.label_column = "c2";
    o.types = {{"c0", ColumnType::ignore}};
    const Table t = read_csv(dir / "raw.csv", o);
    BOOST_TEST(t.columns == (std::vector<std::string>{"c1"}), boost::test_tools::per_element());
    BOOST_TEST(t.rows() == 3u); // the first row is data, not a header
    BOOST_TEST(t.at(0, 0) == 2.0f);
    BOOST_TEST(t.at(2, 0) == 6.0f);
    BOOST_TEST(t.labels == (std::vector<std::int32_t>{0, 1, 0}), boost::test_tools::per_element());
    BOOST_TEST(t.lines == (std::vector<std::size_t>{1, 2, 3}), boost::test_tools::per_element());
    o.label_column = "c9";
    const auto msg = message_of<config_error>([&] { read_csv(dir / "raw.csv", o); });
    BOOST_TEST(msg.find("'c0', 'c1', 'c2'") != std::string::npos, msg);
}

#if defined(EDGESTACK_HAS_GZIP)
BOOST_AUTO_TEST_CASE(gzip_compressed_csv_and_tsv) {
    fixtures::TempDir dir("csv");
    const std::string text = "a\tb\ty\n1\t2\t0\n3\t\"4\"\t1\n";
    gzFile f = gzopen((dir / "t.tsv.gz").c_str(), "wb");
    gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
    gzclose(f);
    CsvOptions o;
    o.label_column = "y";
    const Table t = read_csv(dir / "t.tsv.gz", o); // tab: the extension under .gz decides
    BOOST_TEST(t.columns == (std::vector<std::string>{"a", "b"}), boost::test_tools::per_element());
    BOOST_TEST(t.rows() == 2u);
    BOOST_TEST(t.at(1, 1) == 4.0f);
    BOOST_TEST(t.labels == (std::vector<std::int32_t>{0, 1}), boost::test_tools::per_element());
    // Damaged compressed data is an error naming the file, never a wrong table.
    std::string rows = "x,y\n";
    for (int i = 0; i < 20000; ++i) rows += std::to_string(i) + "," + std::to_string(i % 3) + "\n";
    f = gzopen((dir / "big.csv.gz").c_str(), "wb");
    gzwrite(f, rows.data(), static_cast<unsigned>(rows.size()));
    gzclose(f);
    BOOST_TEST(read_csv(dir / "big.csv.gz").rows() == 20000u);
    std::ifstream in(dir / "big.csv.gz", std::ios::binary);
    std::vector<std::uint8_t> gz((std::istreambuf_iterator<char>(in)), {});
    for (std::size_t i = gz.size() / 3; i < gz.size() / 3 + 64; ++i) gz[i] ^= 0x5a;
    fixtures::write_bytes(dir / "cut.csv.gz", gz);
    const auto msg = message_of<format_error>([&] { read_csv(dir / "cut.csv.gz"); });
    BOOST_TEST(msg.find((dir / "cut.csv.gz").string()) != std::string::npos, msg);
}
#endif

BOOST_AUTO_TEST_SUITE_END()
