#include <boost/test/unit_test.hpp>

#include <cmath>
#include <vector>

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

BOOST_AUTO_TEST_SUITE_END()
