// The fitted scaling saved in the deployment file (format version 2; 3 with input filling
// and clipping) and applied by the server: a client sends raw features, missing ones as
// null, and reads answers in target units. Expected answers are computed here by hand from
// the weights and the scaling, not by edgestack.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "deploy/http_client.hpp"
#include "deploy/scratch.hpp"
#include "deploy/server_fixtures.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/deploy/model_files.hpp"
#include "edgestack/deploy/registry.hpp"
#include "edgestack/deploy/server.hpp"
#include "edgestack/io/model_file.hpp"

using namespace edgestack;
using json = nlohmann::json;

namespace {

// y = 0.5 x0 - 2 x1 + 0.25 x2 + 1 on standardized inputs: a 3 -> 1 dense layer.
const std::vector<float> w{0.5f, -2.0f, 0.25f};
constexpr float bias = 1.0f;

compile::Graph regressor() {
    auto g = compile::Graph::with_input({3});
    compile::Node n;
    n.op = compile::Op::dense;
    n.name = "dense_0";
    n.weights = w;
    n.bias = {bias};
    g.append(n, {0}, {1});
    return g;
}

io::Scaling fitted() {
    io::Scaling s;
    s.input_mean = {10.0, -3.0, 100.0};
    s.input_sd = {2.0, 0.5, 40.0};
    s.output_mean = {150.0};
    s.output_sd = {75.0};
    return s;
}

// fitted() plus input cleaning: a missing feature becomes its fill, a finite one is clipped.
io::Scaling cleaning() {
    auto s = fitted();
    s.input_fill = {11.0, -2.5, 90.0};
    s.input_lo = {0.0, -4.0, 50.0};
    s.input_hi = {20.0, 0.0, 150.0};
    return s;
}

// The answer for raw features `x`, worked out from the definitions.
double expected(const std::vector<double>& x) {
    const auto s = fitted();
    double y = bias;
    for (std::size_t i = 0; i < 3; ++i) y += w[i] * (x[i] - s.input_mean[i]) / s.input_sd[i];
    return y * s.output_sd[0] + s.output_mean[0];
}

} // namespace

BOOST_AUTO_TEST_SUITE(scaling)

BOOST_AUTO_TEST_CASE(the_model_file_keeps_the_scaling) {
    test::Scratch dir("scaling-file");
    const auto with = (dir.path() / "with.edgemdl").string();
    const auto without = (dir.path() / "without.edgemdl").string();
    io::SaveOptions opt;
    opt.scaling = fitted();
    io::save_model(with, regressor(), opt);
    io::save_model(without, regressor());
    const auto a = io::load_model(with);
    BOOST_TEST(a.version() == 2u);
    BOOST_TEST((a.scaling() == fitted()));
    // Without scaling the file is version 1, as every older reader expects.
    const auto b = io::load_model(without);
    BOOST_TEST(b.version() == 1u);
    BOOST_TEST(b.scaling().empty());
    // Scaling that does not fit the model, or divides by zero, is refused when saving.
    opt.scaling.input_sd = {1.0, 1.0};
    BOOST_CHECK_THROW(io::save_model(with, regressor(), opt), config_error);
    opt.scaling = fitted();
    opt.scaling.output_sd = {0.0};
    BOOST_CHECK_THROW(io::save_model(with, regressor(), opt), config_error);
}

BOOST_AUTO_TEST_CASE(a_tampered_or_bad_scaling_section_is_refused) {
    test::Scratch dir("scaling-bad");
    const auto path = (dir.path() / "m.edgemdl").string();
    io::SaveOptions opt;
    opt.scaling = fitted();
    auto bytes = deploy::model_file_bytes(regressor(), opt);
    // Flip a byte of the last sd: the digest no longer matches.
    bytes[bytes.size() - 70] ^= std::byte{1};
    BOOST_CHECK_THROW(io::ModelFile::parse(bytes, "m", {}), integrity_error);
}

BOOST_AUTO_TEST_CASE(the_server_takes_raw_features) {
    test::Scratch dir("scaling-server");
    deploy::Registry reg(dir.path());
    io::SaveOptions opt;
    opt.scaling = fitted();
    reg.promote("diabetes", reg.add("diabetes", deploy::model_file_bytes(regressor(), opt),
                                    deploy::model_file_info()));
    deploy::Server srv(test::test_options());
    srv.watch(reg, "diabetes", deploy::model_file_factory(backend::Reference{}));
    srv.start();
    const std::vector<std::vector<double>> rows{{10, -3, 100}, {12.5, -2.0, 60.0}, {3, 1, 250}};
    std::vector<double> flat;
    for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
    const auto reply = test::call(srv.port(), "POST", "/v2/models/diabetes/infer",
                                  test::infer_body(flat, {3, 3}));
    BOOST_TEST_REQUIRE(reply.ok(), reply.body);
    const auto out = json::parse(reply.body)["outputs"][0]["data"];
    BOOST_REQUIRE_EQUAL(out.size(), 3u);
    for (std::size_t i = 0; i < rows.size(); ++i)
        BOOST_TEST(out[i].get<double>() == expected(rows[i]), boost::test_tools::tolerance(1e-5));
    // The mean row gives the output mean plus the bias in target units.
    BOOST_TEST(out[0].get<double>() == 150.0 + 75.0, boost::test_tools::tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(input_cleaning_travels_in_version_3) {
    test::Scratch dir("scaling-clean");
    const auto path = (dir.path() / "clean.edgemdl").string();
    io::SaveOptions opt;
    opt.scaling = cleaning();
    io::save_model(path, regressor(), opt);
    const auto m = io::load_model(path);
    BOOST_TEST(m.version() == 3u);
    BOOST_TEST((m.scaling() == cleaning()));
    // Bounds the wrong way round, or a fill that is not a number, are refused when saving.
    opt.scaling.input_lo[1] = 1.0;
    BOOST_CHECK_THROW(io::save_model(path, regressor(), opt), config_error);
    opt.scaling = cleaning();
    opt.scaling.input_fill[0] = std::numeric_limits<double>::quiet_NaN();
    BOOST_CHECK_THROW(io::save_model(path, regressor(), opt), config_error);
}

BOOST_AUTO_TEST_CASE(the_server_fills_and_clips_raw_features) {
    test::Scratch dir("scaling-clean-server");
    deploy::Registry reg(dir.path());
    io::SaveOptions opt;
    opt.scaling = cleaning();
    reg.promote("diabetes", reg.add("diabetes", deploy::model_file_bytes(regressor(), opt),
                                    deploy::model_file_info()));
    deploy::Server srv(test::test_options());
    srv.watch(reg, "diabetes", deploy::model_file_factory(backend::Reference{}));
    srv.start();
    // Row 0: x0 missing (-> 11), x1 below its bound (-> -4), x2 above (-> 150).
    // Row 1: all missing (-> the fills). Row 2: inside every bound, as it comes.
    const std::string body =
        R"({"inputs":[{"name":"input","shape":[3,3],"datatype":"FP32","data":[null,-9,400,null,null,null,12.5,-2,60]}]})";
    const auto reply = test::call(srv.port(), "POST", "/v2/models/diabetes/infer", body);
    BOOST_TEST_REQUIRE(reply.ok(), reply.body);
    const auto out = json::parse(reply.body)["outputs"][0]["data"];
    BOOST_REQUIRE_EQUAL(out.size(), 3u);
    BOOST_TEST(out[0].get<double>() == expected({11.0, -4.0, 150.0}), boost::test_tools::tolerance(1e-5));
    BOOST_TEST(out[1].get<double>() == expected({11.0, -2.5, 90.0}), boost::test_tools::tolerance(1e-5));
    BOOST_TEST(out[2].get<double>() == expected({12.5, -2.0, 60.0}), boost::test_tools::tolerance(1e-5));
}

BOOST_AUTO_TEST_CASE(a_model_without_filling_refuses_null) {
    test::Scratch dir("scaling-no-fill");
    deploy::Registry reg(dir.path());
    io::SaveOptions opt;
    opt.scaling = fitted();
    reg.promote("d", reg.add("d", deploy::model_file_bytes(regressor(), opt), deploy::model_file_info()));
    deploy::Server srv(test::test_options());
    srv.watch(reg, "d", deploy::model_file_factory(backend::Reference{}));
    srv.start();
    const auto reply = test::call(srv.port(), "POST", "/v2/models/d/infer",
                                  R"({"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1,null,3]}]})");
    BOOST_TEST(!reply.ok());
    BOOST_TEST(reply.body.find("inputs[0].data[1] is a null, not a number (this model fills no missing values)") !=
                   std::string::npos,
               reply.body);
}

BOOST_AUTO_TEST_SUITE_END()
