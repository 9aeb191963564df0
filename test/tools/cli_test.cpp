// The edgestack command and edgestack-serve, run as programs: every command's help, a
// registry publish -> list -> promote -> rollback round trip, inspect of fp32 and int8 files
// checked against the library's own figures, bench, quantize, and bad input.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include "support/program.hpp"

#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/reference_nets.hpp"
#include "edgestack/deploy/registry.hpp"
#include "edgestack/io/model_file.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/conv.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/flatten.hpp"
#include "edgestack/nn/input.hpp"
#include "edgestack/nn/pool.hpp"
#include "edgestack/nn/sequential.hpp"

using namespace edgestack;
namespace fs = std::filesystem;

namespace {

using Net = nn::Sequential<nn::Input<8, 8, 1>, nn::Conv2D<4, 3>, nn::ReLU, nn::MaxPool2D<2>, nn::Flatten,
                           nn::Dense<10>>;

class Scratch {
public:
    explicit Scratch(const std::string& name)
        : path_(fs::temp_directory_path() / ("edgestack-tools-" + name + "-" + std::to_string(::getpid()))) {
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~Scratch() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    std::string operator/(const std::string& f) const { return (path_ / f).string(); }

private:
    fs::path path_;
};

using Run = edgestack::test::ProgramRun;
using edgestack::test::has;

Run run(const std::string& program, const std::vector<std::string>& args) {
    return edgestack::test::run_program(program, args);
}

Run tool(const std::vector<std::string>& args) { return run(EDGESTACK_CLI, args); }

compile::Graph fp32_graph(std::uint64_t seed = 42) {
    Net net;
    Rng rng(seed);
    net.init(rng);
    return net.lower();
}

std::vector<float> calibration(const compile::Graph& g) {
    return backend::nets::random_inputs(g, 16, 5);
}

// The number after `label` on the line that starts with it ("parameters   2250").
std::size_t figure(const std::string& out, const std::string& label) {
    const auto at = out.find("\n" + label);
    BOOST_REQUIRE_MESSAGE(at != std::string::npos, "no line '" << label << "' in:\n" << out);
    return std::stoull(out.substr(at + 1 + label.size()));
}

} // namespace

BOOST_AUTO_TEST_SUITE(commands)

BOOST_AUTO_TEST_CASE(help_of_every_command) {
    for (const auto& args :
         {std::vector<std::string>{"--help"}, {"registry", "--help"}, {"registry", "list", "--help"},
          {"registry", "publish", "--help"}, {"registry", "promote", "--help"}, {"registry", "rollback", "--help"},
          {"inspect", "--help"}, {"bench", "--help"}, {"quantize", "--help"}, {"plot", "--help"},
          {"micro", "--help"}}) {
        const auto r = tool(args);
        BOOST_TEST(r.status == 0, args.front() << ": " << r.out);
        BOOST_TEST(has(r.out, "Usage:"), r.out);
    }
    BOOST_TEST(has(tool({"--help"}).out, "registry"));
    BOOST_TEST(has(tool({"bench", "--help"}).out, "--backend"));
    BOOST_TEST(has(tool({"quantize", "--help"}).out, "--calibration"));
    const std::string serve = EDGESTACK_SERVE;
    if (!serve.empty()) {
        const auto r = run(serve, {"--help"});
        BOOST_TEST(r.status == 0, r.out);
        BOOST_TEST(has(r.out, "--registry"), r.out);
        BOOST_TEST(has(r.out, "--port"), r.out);
    }
}

BOOST_AUTO_TEST_CASE(registry_publish_list_promote_rollback) {
    Scratch dir("registry");
    io::save_model(dir / "a.edgemdl", fp32_graph(1));
    io::save_model(dir / "b.edgemdl", fp32_graph(2));
    const std::string root = dir / "reg";

    auto r = tool({"registry", "publish", root, "kws", dir / "a.edgemdl", "--metric", "accuracy=0.91"});
    BOOST_TEST(r.status == 0, r.out);
    BOOST_TEST(has(r.out, "published kws v1"), r.out);
    r = tool({"registry", "publish", root, "kws", dir / "b.edgemdl"});
    BOOST_TEST(r.status == 0, r.out);
    BOOST_TEST(has(r.out, "published kws v2"), r.out);

    // The library reads what the command wrote.
    const deploy::Registry reg(root);
    BOOST_TEST(reg.versions("kws").size() == 2u);
    BOOST_TEST(!reg.serving("kws").has_value());
    BOOST_TEST(reg.manifest("kws", 1).metrics.at("accuracy") == 0.91);

    r = tool({"registry", "list", root});
    BOOST_TEST(r.status == 0, r.out);
    BOOST_TEST(has(r.out, "kws (serving: none)"), r.out);
    BOOST_TEST(has(r.out, reg.manifest("kws", 1).sha256), r.out);
    BOOST_TEST(has(r.out, reg.manifest("kws", 2).created), r.out);

    r = tool({"registry", "promote", root, "kws", "1"});
    BOOST_TEST(r.status == 0, r.out);
    r = tool({"registry", "promote", root, "kws", "2"});
    BOOST_TEST(r.status == 0, r.out);
    BOOST_TEST(reg.serving("kws").value() == 2u);
    r = tool({"registry", "list", root, "kws"});
    BOOST_TEST(has(r.out, "kws (serving: v2)"), r.out);

    r = tool({"registry", "rollback", root, "kws"});
    BOOST_TEST(r.status == 0, r.out);
    BOOST_TEST(has(r.out, "now serves v1"), r.out);
    BOOST_TEST(reg.serving("kws").value() == 1u);

    // Unknown version, nothing to roll back to, unknown model: one line, non-zero.
    r = tool({"registry", "promote", root, "kws", "7"});
    BOOST_TEST(r.status != 0);
    BOOST_TEST(has(r.out, "no version 7 (it has 1, 2)"), r.out);
    r = tool({"registry", "rollback", root, "kws"});
    BOOST_TEST(r.status != 0);
    BOOST_TEST(has(r.out, "no earlier serving version"), r.out);
    r = tool({"registry", "list", root, "nope"});
    BOOST_TEST(r.status != 0);
    BOOST_TEST(has(r.out, "no model named 'nope'"), r.out);
    r = tool({"registry", "list", dir / "absent"});
    BOOST_TEST(r.status != 0);
    BOOST_TEST(has(r.out, "no such registry folder"), r.out);
    BOOST_TEST(reg.serving("kws").value() == 1u);
}

BOOST_AUTO_TEST_CASE(inspect_lists_opencl_devices) {
    auto r = tool({"inspect", "--devices"});
    BOOST_TEST(r.status == 0, r.out);
    BOOST_TEST(has(r.out, "OpenCL devices"), r.out);
#if defined(EDGESTACK_CLI_HAS_OPENCL) && defined(EDGESTACK_REQUIRE_COMPLETE)
    // A complete build has an OpenCL device (PoCL at least), numbered as the backend takes it.
    BOOST_TEST(has(r.out, "EDGESTACK_OPENCL_DEVICE="), r.out);
    BOOST_TEST(has(r.out, "  0 (0:0): "), r.out);
#endif
    r = tool({"inspect"});
    BOOST_TEST(r.status == 1, r.out);
    BOOST_TEST(has(r.out, "give a model file, or --devices"), r.out);
}

BOOST_AUTO_TEST_CASE(inspect_fp32_and_int8_files) {
    Scratch dir("inspect");
    auto g = fp32_graph();
    io::save_model(dir / "fp32.edgemdl", g);
    auto r = tool({"inspect", dir / "fp32.edgemdl"});
    BOOST_TEST(r.status == 0, r.out);
    BOOST_TEST(has(r.out, "fp32 model, input 8x8x1, output 10"), r.out);
    BOOST_TEST(figure(r.out, "parameters") == Net::param_count);
    BOOST_TEST(figure(r.out, "MACs") == Net::macs);
    const backend::ReferenceEngine fp32(g);
    BOOST_TEST(figure(r.out, "arena") == fp32.arena_bytes(1));
    BOOST_TEST(has(r.out, "conv2d_0"), r.out);
    BOOST_TEST(has(r.out, "cortex-m7"), r.out);
    BOOST_TEST(!has(r.out, "int8"), r.out);

    backend::nets::quantize_minmax(g, calibration(g));
    io::save_model(dir / "int8.edgemdl", g);
    r = tool({"inspect", dir / "int8.edgemdl"});
    BOOST_TEST(r.status == 0, r.out);
    BOOST_TEST(has(r.out, "int8 model"), r.out);
    BOOST_TEST(has(r.out, "int8, weights per channel"), r.out);
    BOOST_TEST(figure(r.out, "parameters") == Net::param_count);
    BOOST_TEST(figure(r.out, "MACs") == Net::macs);
    const backend::ReferenceEngine int8(g);
    BOOST_TEST(figure(r.out, "weights") == int8.program().weight_bytes);
    BOOST_TEST(figure(r.out, "weights") < fp32.program().weight_bytes);
}

BOOST_AUTO_TEST_CASE(bench_a_few_runs) {
    Scratch dir("bench");
    io::save_model(dir / "m.edgemdl", fp32_graph());
    std::vector<std::string> backends{"reference", "simd"};
    if (has(tool({"bench", "--help"}).out, "xnnpack")) backends.push_back("xnnpack");
    for (const auto& b : backends) {
        const auto r = tool({"bench", dir / "m.edgemdl", "--backend", b, "--runs", "5", "--warmup", "1",
                            "--batch", "3"});
        BOOST_TEST(r.status == 0, r.out);
        BOOST_TEST(has(r.out, "p50"), r.out);
        BOOST_TEST(has(r.out, "p99"), r.out);
        BOOST_TEST(has(r.out, "batch 3, 5 runs"), r.out);
        // The kernel of the fused conv: Simd names its tile and instruction set.
        BOOST_TEST(has(r.out, b == "simd" ? std::string("f32-igemm-") : "f32-conv2d-relu-" + b), r.out);
        BOOST_TEST(has(r.out, "dense_0"), r.out);
    }
    const auto r = tool({"bench", dir / "m.edgemdl", "--backend", "opencl"});
    BOOST_TEST(r.status != 0);
    BOOST_TEST(has(r.out, "opencl"), r.out);
}

BOOST_AUTO_TEST_CASE(quantize_with_a_csv_calibration_set) {
    Scratch dir("quantize");
    const auto g = fp32_graph();
    io::save_model(dir / "fp32.edgemdl", g);
    const auto x = calibration(g);
    {
        std::ofstream csv(dir / "calib.csv");
        for (std::size_t c = 0; c < g.input_size(); ++c) csv << (c ? "," : "") << "p" << c;
        csv << "\n";
        for (std::size_t i = 0; i < x.size(); ++i)
            csv << x[i] << ((i + 1) % g.input_size() == 0 ? "\n" : ",");
    }
    auto r = tool({"quantize", dir / "fp32.edgemdl", "--calibration", dir / "calib.csv", "-o", dir / "int8.edgemdl"});
    BOOST_TEST(r.status == 0, r.out);
    BOOST_TEST(has(r.out, "16 calibration samples"), r.out);
    // The same as the library's graph quantizer on the same (printed, so re-read) data.
    auto want = g;
    std::vector<float> reread;
    {
        std::ifstream csv(dir / "calib.csv");
        std::string line, cell;
        std::getline(csv, line);
        while (std::getline(csv, line)) {
            std::size_t at = 0;
            while (at <= line.size()) {
                const auto comma = std::min(line.find(',', at), line.size());
                reread.push_back(std::stof(line.substr(at, comma - at)));
                at = comma + 1;
            }
        }
    }
    backend::nets::quantize_minmax(want, reread);
    const auto got = io::load_model(dir / "int8.edgemdl").to_graph();
    BOOST_REQUIRE(!got.value_quant.empty());
    BOOST_REQUIRE(got.nodes.size() == want.nodes.size());
    for (std::size_t i = 0; i < got.nodes.size(); ++i)
        BOOST_TEST(got.nodes[i].qweights == want.nodes[i].qweights, got.nodes[i].name);
    BOOST_TEST(got.value_quant.back().scale == want.value_quant.back().scale);

    r = tool({"quantize", dir / "int8.edgemdl", "--calibration", dir / "calib.csv", "-o", dir / "again.edgemdl"});
    BOOST_TEST(r.status != 0);
    BOOST_TEST(has(r.out, "int8 already"), r.out);
    {
        std::ofstream csv(dir / "narrow.csv");
        csv << "a,b\n1,2\n";
    }
    r = tool({"quantize", dir / "fp32.edgemdl", "--calibration", dir / "narrow.csv", "-o", dir / "x.edgemdl"});
    BOOST_TEST(r.status != 0);
    BOOST_TEST(has(r.out, "2 feature columns, the model takes 64"), r.out);
    BOOST_TEST(!fs::exists(dir / "x.edgemdl"));
}

BOOST_AUTO_TEST_CASE(quantize_keeps_the_scaling_and_standardizes_the_calibration_rows) {
    // A model file that carries its input standardization takes raw features; its
    // calibration rows are raw too. quantize standardizes them before observing, and the
    // int8 file keeps the scaling.
    Scratch dir("quantize_scaled");
    const auto g = fp32_graph();
    io::SaveOptions so;
    so.scaling.input_mean.assign(g.input_size(), 100.0);
    so.scaling.input_sd.assign(g.input_size(), 50.0);
    io::save_model(dir / "fp32.edgemdl", g, so);
    const auto x = calibration(g); // standardized values in [0, 1)
    {
        std::ofstream csv(dir / "calib.csv");
        for (std::size_t c = 0; c < g.input_size(); ++c) csv << (c ? "," : "") << "p" << c;
        csv << "\n";
        for (std::size_t i = 0; i < x.size(); ++i)
            csv << 100.0f + 50.0f * x[i] << ((i + 1) % g.input_size() == 0 ? "\n" : ",");
    }
    auto r = tool({"quantize", dir / "fp32.edgemdl", "--calibration", dir / "calib.csv", "-o", dir / "int8.edgemdl"});
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.out);
    const auto m = io::load_model(dir / "int8.edgemdl");
    BOOST_TEST((m.scaling() == so.scaling));
    auto want = g;
    backend::nets::quantize_minmax(want, x);
    const float got_scale = m.to_graph().value_quant.at(0).scale.at(0), want_scale = want.value_quant.at(0).scale.at(0);
    BOOST_TEST(std::abs(got_scale - want_scale) <= 1e-3f * want_scale, got_scale << " vs " << want_scale);
}

BOOST_AUTO_TEST_CASE(convert_an_onnx_file_when_built_with_onnx) {
    if (!has(tool({"--help"}).out, "convert")) return; // built without edgestack::onnx
    Scratch dir("convert");
    const std::string onnx = std::string(EDGESTACK_SOURCE_DIR) + "/test/fixtures/small_cnn.onnx";
    auto r = tool({"convert", onnx, "-o", dir / "small.edgemdl"});
    BOOST_TEST(r.status == 0, r.out);
    const auto g = io::load_model(dir / "small.edgemdl").to_graph();
    BOOST_TEST(compile::to_string(g.input_shape()) == "8x8x1");
    BOOST_TEST(g.output_size() == 10u);
    const backend::ReferenceEngine e(g);
    r = tool({"inspect", dir / "small.edgemdl"});
    BOOST_TEST(figure(r.out, "parameters") == e.program().params);

    std::ifstream in(onnx, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(dir / "cut.onnx", std::ios::binary) << bytes.substr(0, bytes.size() / 3);
    r = tool({"convert", dir / "cut.onnx", "-o", dir / "cut.edgemdl"});
    BOOST_TEST(r.status == 1, r.out);
    BOOST_TEST(has(r.out, "cut.onnx"), r.out);
    BOOST_TEST(!fs::exists(dir / "cut.edgemdl"));

    // Its batch norm follows a pool, so no convolution absorbs it and the int8 engine has no
    // kernel for it: quantize says so and writes nothing.
    {
        std::ofstream csv(dir / "calib.csv");
        for (std::size_t c = 0; c < 64; ++c) csv << (c ? "," : "") << "p" << c;
        csv << "\n";
        for (std::size_t c = 0; c < 64; ++c) csv << (c ? "," : "") << (c % 7) / 7.0;
        csv << "\n";
    }
    r = tool({"quantize", dir / "small.edgemdl", "--calibration", dir / "calib.csv", "-o", dir / "q.edgemdl"});
    BOOST_TEST(r.status == 1, r.out);
    BOOST_TEST(has(r.out, "the int8 engine cannot run this model, nothing written"), r.out);
    BOOST_TEST(has(r.out, "batch_norm_0"), r.out);
    BOOST_TEST(!fs::exists(dir / "q.edgemdl"));
}

// The points of the polyline drawn for `series` in an SVG written by `edgestack plot`.
std::vector<std::pair<double, double>> polyline(const std::string& svg, const std::string& series) {
    const std::string tag = "data-series=\"" + series + "\"";
    const auto at = svg.find(tag);
    if (at == std::string::npos) return {};
    const auto p0 = svg.find("points=\"", at) + 8;
    const auto p1 = svg.find('"', p0);
    std::vector<std::pair<double, double>> out;
    std::istringstream in(svg.substr(p0, p1 - p0));
    for (std::string pt; in >> pt;) {
        const auto comma = pt.find(',');
        out.emplace_back(std::stod(pt.substr(0, comma)), std::stod(pt.substr(comma + 1)));
    }
    return out;
}

BOOST_AUTO_TEST_CASE(plot_draws_a_keras_csv_logger_history) {
    Scratch dir("plot");
    // As Keras' CSVLogger writes it: validation loss lowest at the second epoch.
    const std::vector<double> loss{0.9, 0.6, 0.45, 0.4}, val_loss{0.7, 0.5, 0.55, 0.65};
    {
        std::ofstream f(dir / "run.csv");
        f << "epoch,accuracy,loss,lr,val_accuracy,val_loss\n";
        for (std::size_t e = 0; e < 4; ++e)
            f << e << "," << 0.6 + 0.1 * e << "," << loss[e] << "," << 0.01 / (1 << e) << ","
              << 0.7 + 0.05 * e << "," << val_loss[e] << "\n";
    }
    const auto r = tool({"plot", dir / "run.csv"});
    BOOST_TEST(r.status == 0, r.out);
    BOOST_TEST(has(r.out, "4 epochs"), r.out);
    BOOST_TEST(has(r.out, "lowest validation loss 0.5000 at epoch 2"), r.out);
    BOOST_TEST(has(r.out, "validation loss rose after epoch 2"), r.out);
    std::ifstream in(dir / "run.svg"); // the default name: the history's, with .svg
    const std::string svg{std::istreambuf_iterator<char>(in), {}};
    BOOST_TEST(has(svg, "<svg"));
    for (const auto& [series, values] :
         {std::pair{std::string("train loss"), loss}, std::pair{std::string("validation loss"), val_loss}}) {
        const auto pts = polyline(svg, series);
        BOOST_REQUIRE_EQUAL(pts.size(), 4u);
        for (std::size_t i = 1; i < 4; ++i) {
            BOOST_TEST(pts[i].first > pts[i - 1].first); // epochs left to right
            // SVG's y grows downwards: a larger value sits higher.
            BOOST_TEST((values[i] > values[i - 1]) == (pts[i].second < pts[i - 1].second), series);
        }
    }
    BOOST_TEST(polyline(svg, "learning rate").size() == 4u);
    BOOST_TEST(polyline(svg, "validation accuracy").size() == 4u);

    // No validation and no rate: those series are left out, not drawn flat.
    {
        std::ofstream f(dir / "train.jsonl");
        f << "{\"epoch\": 0, \"loss\": 1.0, \"accuracy\": 0.5}\n{\"epoch\": 1, \"loss\": 0.5, \"accuracy\": 0.75}\n";
    }
    const auto t = tool({"plot", dir / "train.jsonl", "-o", dir / "t.svg", "--title", "<run & co>"});
    BOOST_TEST(t.status == 0, t.out);
    std::ifstream tin(dir / "t.svg");
    const std::string tsvg{std::istreambuf_iterator<char>(tin), {}};
    BOOST_TEST(polyline(tsvg, "train loss").size() == 2u);
    BOOST_TEST(!has(tsvg, "validation"));
    BOOST_TEST(!has(tsvg, "learning rate"));
    BOOST_TEST(has(tsvg, "&lt;run &amp; co&gt;")); // the title is escaped
    BOOST_TEST(has(t.out, "lowest training loss 0.5000 at epoch 2"), t.out);

    // Bad histories: one line naming the file and line, status 1, nothing written.
    {
        std::ofstream f(dir / "bad.jsonl", std::ios::binary);
        f << "{\"epoch\": 0, \"loss\": 1}\n\x7f""ELF\x02\x01\n";
    }
    const auto b = tool({"plot", dir / "bad.jsonl"});
    BOOST_TEST(b.status == 1, b.out);
    BOOST_TEST(has(b.out, "bad.jsonl, line 2"), b.out);
    BOOST_TEST(!fs::exists(dir / "bad.svg"));
    const auto m = tool({"plot", dir / "missing.jsonl"});
    BOOST_TEST(m.status == 1, m.out);
    BOOST_TEST(has(m.out, "cannot open"), m.out);
}

BOOST_AUTO_TEST_CASE(micro_writes_the_tables_of_an_int8_file) {
    Scratch dir("micro");
    auto g = fp32_graph();
    io::save_model(dir / "fp32.edgemdl", g);
    auto r = tool({"micro", dir / "fp32.edgemdl", "-o", dir / "fp32.hpp"});
    BOOST_TEST(r.status == 1, r.out);
    BOOST_TEST(has(r.out, "fp32.edgemdl: an fp32 model; quantize it first"), r.out);
    BOOST_TEST(!fs::exists(dir / "fp32.hpp"));

    backend::nets::quantize_minmax(g, calibration(g));
    io::save_model(dir / "int8.edgemdl", g);
    r = tool({"micro", dir / "int8.edgemdl", "-o", dir / "net.hpp", "--namespace", "sensor::net"});
    BOOST_TEST(r.status == 0, r.out);
    // Conv 8x8x4 (256 bytes) and its max pool (64) live at once; ReLU fused, flatten free.
    BOOST_TEST(has(r.out, "namespace sensor::net, 3 layers"), r.out);
    BOOST_TEST(has(r.out, "arena 320 bytes"), r.out);
    std::ifstream f(dir / "net.hpp");
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    BOOST_TEST(has(text, "namespace sensor::net {"));
    BOOST_TEST(has(text, "&edgestack::micro::qs8_conv2d"));
    BOOST_TEST(has(text, "network{layers, 3u, 320u"));

    r = tool({"micro", dir / "int8.edgemdl", "-o", dir / "bad.hpp", "--namespace", "9lives"});
    BOOST_TEST(r.status == 1, r.out);
    BOOST_TEST(has(r.out, "'9lives' is not a C++ identifier"), r.out);
    BOOST_TEST(!fs::exists(dir / "bad.hpp"));
}

BOOST_AUTO_TEST_CASE(bad_input_is_one_line_and_a_failure) {
    Scratch dir("bad");
    io::save_model(dir / "m.edgemdl", fp32_graph());
    std::vector<char> bytes(fs::file_size(dir / "m.edgemdl"));
    std::ifstream(dir / "m.edgemdl", std::ios::binary).read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::ofstream(dir / "cut.edgemdl", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));

    for (const char* cmd : {"inspect", "bench"}) {
        auto r = tool({cmd, dir / "missing.edgemdl"});
        BOOST_TEST(r.status != 0);
        BOOST_TEST(has(r.out, "missing.edgemdl"), r.out);
        r = tool({cmd, dir / "cut.edgemdl"});
        BOOST_TEST(r.status != 0);
        BOOST_TEST(r.status < 128, "killed by a signal: " << r.out);
        BOOST_TEST(has(r.out, "cut.edgemdl"), r.out);
        BOOST_TEST(has(r.out, "edgestack: "), r.out);
    }
    auto r = tool({"registry", "publish", dir / "reg", "m", dir / "cut.edgemdl"});
    BOOST_TEST(r.status != 0);
    BOOST_TEST(has(r.out, "cut.edgemdl"), r.out);
    BOOST_TEST(deploy::Registry(dir / "reg").versions("m").empty());
    r = tool({"quantize", dir / "m.edgemdl", "--calibration", dir / "none.npy", "-o", dir / "q.edgemdl"});
    BOOST_TEST(r.status != 0);
    BOOST_TEST(has(r.out, "none.npy"), r.out);

    r = tool({"frobnicate"});
    BOOST_TEST(r.status == 2);
    BOOST_TEST(has(r.out, "unknown command 'frobnicate'"), r.out);
    r = tool({"registry", "drop", dir / "reg"});
    BOOST_TEST(r.status != 0);
    BOOST_TEST(has(r.out, "edgestack registry: unknown command 'drop' (commands: list, publish"), r.out);
    r = tool({});
    BOOST_TEST(r.status != 0);
    r = tool({"bench", dir / "m.edgemdl", "--runs", "0"});
    BOOST_TEST(r.status == 2);
    BOOST_TEST(has(r.out, "--runs"), r.out);
}

BOOST_AUTO_TEST_SUITE_END()
