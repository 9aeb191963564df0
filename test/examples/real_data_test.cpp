// examples/diabetes_regressor and examples/digits_anomaly as a user runs them, on the data
// Debian's python3-sklearn ships: their held-out figures, fp32 and int8, must clear bounds
// that a model which learned nothing fails (R² > 0.3 where predicting the mean gives 0;
// ROC-AUC > 0.8 where random scores give 0.5), and bad arguments are refused.
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include <unistd.h>

#include "support/program.hpp"

namespace {

using edgestack::test::has;
using edgestack::test::run_program;

// The number after `key` on the line that starts with `line`.
double figure(const std::string& out, const std::string& line, const std::string& key) {
    const std::regex re("(^|\n)" + line + "[^\n]*" + key + " (-?[0-9.]+)");
    std::smatch m;
    BOOST_REQUIRE_MESSAGE(std::regex_search(out, m, re), "no '" + key + "' on '" + line +
                                                             "' in:\n" + out);
    return std::stod(m[2].str());
}

} // namespace

BOOST_AUTO_TEST_SUITE(real_data)

BOOST_AUTO_TEST_CASE(diabetes_regressor_explains_the_held_out_rows) {
    const auto file = std::filesystem::temp_directory_path() /
                      ("edgestack-diabetes-" + std::to_string(::getpid()) + ".edgemdl");
    const auto r = run_program(EDGESTACK_DIABETES_REGRESSOR,
                               {"--data", EDGESTACK_SKLEARN_DATA, "-o", file.string()});
    BOOST_TEST_REQUIRE(r.status == 0, r.out);
    BOOST_TEST(has(r.out, "442 rows, 10 features; 353 to train, 89 held out"));
    // The deployed file takes the raw rows and answers as the int8 engine on scaled rows did.
    BOOST_TEST(std::filesystem::exists(file));
    BOOST_TEST(figure(r.out, "file", "R2") == figure(r.out, "int8", "R2"),
               boost::test_tools::tolerance(2e-4));
    BOOST_TEST(figure(r.out, "file", "MAE") == figure(r.out, "int8", "MAE"),
               boost::test_tools::tolerance(2e-4));
    std::filesystem::remove(file);
    for (const char* engine : {"fp32", "int8"}) {
        BOOST_TEST(figure(r.out, engine, "R2") > 0.3, engine << ":\n" << r.out);
        // The targets run from 25 to 346 with a standard deviation near 77.
        BOOST_TEST(figure(r.out, engine, "MAE") < 60.0, engine << ":\n" << r.out);
        BOOST_TEST(figure(r.out, engine, "RMSE") < 70.0, engine << ":\n" << r.out);
    }
}

BOOST_AUTO_TEST_CASE(digits_anomaly_finds_the_unseen_class) {
    const auto r = run_program(EDGESTACK_DIGITS_ANOMALY, {"--data", EDGESTACK_SKLEARN_DATA});
    BOOST_TEST_REQUIRE(r.status == 0, r.out);
    BOOST_TEST(has(r.out, "held out (179 of class 7)"));
    for (const char* engine : {"fp32", "int8"}) {
        BOOST_TEST(figure(r.out, engine, "ROC-AUC") > 0.8, engine << ":\n" << r.out);
        // The threshold is the 99th percentile of normal training scores: few held-out normal
        // digits cross it, many unseen ones do.
        BOOST_TEST(figure(r.out, engine, "flags") < 10.0, engine << ":\n" << r.out);
        BOOST_TEST(figure(r.out, engine, "digits,") > 30.0, engine << ":\n" << r.out);
    }
}

BOOST_AUTO_TEST_CASE(bad_arguments_are_refused) {
    const auto missing = run_program(EDGESTACK_DIABETES_REGRESSOR,
                                     {"--data", "/nonexistent", "-o", "/nonexistent/m.edgemdl"});
    BOOST_TEST(missing.status == 1);
    BOOST_TEST(has(missing.out, "diabetes_regressor: "), missing.out);
    const auto bad = run_program(EDGESTACK_DIGITS_ANOMALY, {"--anomaly", "12"});
    BOOST_TEST(bad.status == 2, bad.out);
}

BOOST_AUTO_TEST_SUITE_END()
