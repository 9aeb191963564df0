// examples/own_data as the README runs it: the Iris CSV in, a model file out that takes the
// raw rows, in fp32 and after min/max int8 quantization (what `edgestack quantize` does),
// and the program's answers to bad input.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "support/program.hpp"

#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/reference_nets.hpp"
#include "edgestack/data/csv.hpp"
#include "edgestack/io/model_file.hpp"

using namespace edgestack;
namespace fs = std::filesystem;

namespace {

using edgestack::test::has;

// Run own_data with arguments and collect what it prints.
edgestack::test::ProgramRun own_data(const std::vector<std::string>& args) {
    return edgestack::test::run_program(EDGESTACK_OWN_DATA, args);
}

// A scratch folder holding iris.csv as the README makes it: scikit-learn's file has a first
// line of counts and class names instead of column names, so it is replaced by a header.
struct Fixture {
    Fixture()
        : dir(fs::temp_directory_path() / ("edgestack-own-data-" + std::to_string(::getpid()))) {
        fs::remove_all(dir);
        fs::create_directories(dir);
        std::ifstream in(EDGESTACK_IRIS_CSV);
        std::ofstream out(dir / "iris.csv");
        std::string line;
        BOOST_REQUIRE(std::getline(in, line)); // "150,4,setosa,versicolor,virginica"
        out << "sepal_length,sepal_width,petal_length,petal_width,species\n";
        while (std::getline(in, line)) out << line << '\n';
    }
    ~Fixture() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    std::string operator/(const std::string& f) const { return (dir / f).string(); }
    fs::path dir;
};

// Share of the rows of `t` whose label an engine compiled from `g` predicts.
double accuracy(const compile::Graph& g, const data::Table& t) {
    const auto engine = backend::Reference{}.compile(g);
    auto arena = engine.make_arena(1);
    std::vector<float> logits(g.output_size());
    std::size_t correct = 0;
    for (std::size_t r = 0; r < t.rows(); ++r) {
        BOOST_REQUIRE(engine.run(t.row(r), logits, arena));
        correct += std::max_element(logits.begin(), logits.end()) - logits.begin() == t.labels[r];
    }
    return static_cast<double>(correct) / static_cast<double>(t.rows());
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(own_data_walkthrough, Fixture)

BOOST_AUTO_TEST_CASE(trains_and_writes_a_model_of_raw_rows) {
    const auto r = own_data({*this / "iris.csv", "--label", "species", "-o", *this / "iris.edgemdl"});
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.out);
    BOOST_TEST(has(r.out, "150 rows, 4 features, 3 classes; 120 to train, 30 to validate"), r.out);

    data::CsvOptions o;
    o.label_column = "species";
    const auto rows = data::read_csv(*this / "iris.csv", o); // raw, never standardized
    auto g = io::load_model(*this / "iris.edgemdl").to_graph();
    BOOST_TEST(g.input_size() == 4u);
    BOOST_TEST(g.output_size() == 3u);
    BOOST_TEST(g.value_quant.empty()); // fp32
    const double fp32 = accuracy(g, rows);
    BOOST_TEST(fp32 >= 0.93, "fp32 accuracy on the raw rows " << fp32);

    // What `edgestack quantize --calibration iris.csv` does: min/max int8 over the raw rows.
    backend::nets::quantize_minmax(g, rows.values);
    const double int8 = accuracy(g, rows);
    BOOST_TEST(int8 >= 0.93, "int8 accuracy on the raw rows " << int8);
    BOOST_TEST(int8 >= fp32 - 0.02, "int8 " << int8 << " against fp32 " << fp32);

    io::save_model(*this / "iris-int8.edgemdl", g);
    const auto e = own_data({*this / "iris.csv", "--label", "species", "--evaluate",
                             *this / "iris-int8.edgemdl"});
    BOOST_TEST(e.status == 0, e.out);
    BOOST_TEST(has(e.out, "on the 30 validation rows"), e.out);
}

BOOST_AUTO_TEST_CASE(the_same_seed_gives_the_same_model) {
    for (const char* f : {"a.edgemdl", "b.edgemdl"})
        BOOST_REQUIRE(own_data({*this / "iris.csv", "--label", "species", "--seed", "7", "-o", *this / f})
                          .status == 0);
    const auto a = io::load_model(*this / "a.edgemdl").to_graph();
    const auto b = io::load_model(*this / "b.edgemdl").to_graph();
    BOOST_REQUIRE(a.nodes.size() == b.nodes.size());
    for (std::size_t i = 0; i < a.nodes.size(); ++i) BOOST_TEST(a.nodes[i].weights == b.nodes[i].weights);
}

BOOST_AUTO_TEST_CASE(bad_input_is_named) {
    auto r = own_data({*this / "iris.csv", "--label", "colour"});
    BOOST_TEST(r.status == 1, r.out);
    BOOST_TEST(has(r.out, "no column named 'colour'"), r.out);

    { // five feature columns where the program is built for four
        std::ofstream f(*this / "wide.csv");
        f << "a,b,c,d,e,y\n";
        for (int i = 0; i < 12; ++i) f << i << ",1,2,3,4," << i % 3 << '\n';
    }
    r = own_data({*this / "wide.csv", "--label", "y"});
    BOOST_TEST(r.status == 1, r.out);
    BOOST_TEST(has(r.out, "5 feature columns; this program is built for 4 (set `features`"), r.out);

    r = own_data({*this / "nothere.csv", "--label", "species"});
    BOOST_TEST(r.status == 1, r.out);
    BOOST_TEST(has(r.out, "nothere.csv"), r.out);

    r = own_data({*this / "iris.csv"}); // --label is required
    BOOST_TEST(r.status == 2, r.out);
    r = own_data({*this / "iris.csv", "--label", "species", "--evaluate", *this / "nothere.edgemdl"});
    BOOST_TEST(r.status == 1, r.out);
}

BOOST_AUTO_TEST_SUITE_END()
