// edgestack: the command-line tool over the deployment side of the toolkit.
//
//   edgestack registry list DIR [MODEL]           versions, the serving one, time, SHA-256
//   edgestack registry publish DIR MODEL FILE     store a model file as a new version
//   edgestack registry promote DIR MODEL VERSION  make VERSION the serving one
//   edgestack registry rollback DIR MODEL         back to the version served before
//   edgestack inspect FILE                        layers, parameters, MACs, arena, int8, fit
//   edgestack inspect --devices                   the OpenCL devices backend::OpenCl can use
//   edgestack bench FILE [--backend B] [--batch N] [--runs N]   latency and layer profile
//   edgestack quantize FILE --calibration DATA -o OUT           post-training int8
//   edgestack convert MODEL.onnx -o OUT           ONNX to a model file (with edgestack::onnx)
//   edgestack micro FILE -o OUT.hpp [--namespace N]  int8 model as C++ tables for a microcontroller
//   edgestack plot HISTORY [-o OUT.svg]           loss, accuracy, learning rate per epoch
//
// `edgestack <command> --help` lists every option. Each failure prints one line naming what
// is wrong and exits with status 1 (2 for a command line that does not parse).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/engine_timing.hpp"
#include "edgestack_cli/plot.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/reference_nets.hpp"
#include "edgestack/backend/simd.hpp"
#if defined(EDGESTACK_HAS_OPENCL)
#include "edgestack/backend/opencl.hpp"
#endif
#include "edgestack/compile/passes.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/data/csv.hpp"
#include "edgestack/data/idx.hpp"
#include "edgestack/data/npy.hpp"
#include "edgestack/deploy/detail/durable_fs.hpp"
#include "edgestack/deploy/micro_source.hpp"
#include "edgestack/deploy/model_files.hpp"
#include "edgestack/deploy/registry.hpp"
#include "edgestack/device/profiles.hpp"
#include "edgestack/device/report.hpp"
#include "edgestack/io/model_file.hpp"
#include "edgestack/train/history.hpp"
#if defined(EDGESTACK_HAS_XNNPACK)
#include "edgestack/backend/xnnpack.hpp"
#endif
#if defined(EDGESTACK_HAS_ONNX) && __has_include("edgestack/io/onnx_graph_import.hpp")
#include "edgestack/io/onnx_graph_import.hpp"
#define EDGESTACK_CLI_CONVERT 1
#endif

namespace es = edgestack;
namespace fs = std::filesystem;

namespace {

// --- registry -------------------------------------------------------------------------------

struct RegistryArgs {
    std::string root, model, file, key_file, model_key;
    std::uint64_t version = 0;
    bool require_signature = false, promote = false;
    std::vector<std::string> metrics; // name=value
    std::string dataset;
};

es::deploy::Registry open_registry(const RegistryArgs& a) {
    return es::deploy::Registry(a.root, {a.key_file, a.require_signature});
}

// The registry creates its root on open; listing a folder that is not there is a typo.
void require_root(const RegistryArgs& a) {
    if (!fs::is_directory(a.root)) throw es::file_error(a.root + ": no such registry folder");
}

int registry_list(const RegistryArgs& a) {
    require_root(a);
    const auto reg = open_registry(a);
    std::vector<std::string> names = a.model.empty() ? reg.models() : std::vector<std::string>{a.model};
    if (names.empty()) std::printf("%s: no models\n", a.root.c_str());
    for (const auto& name : names) {
        const auto versions = reg.versions(name);
        if (!a.model.empty() && versions.empty())
            throw es::config_error("registry " + a.root + ": no model named '" + name + "'");
        const auto serving = reg.serving(name);
        std::printf("%s (serving: %s)\n", name.c_str(),
                    serving ? ("v" + std::to_string(*serving)).c_str() : "none");
        std::printf("  %-3s %-8s %-21s %-12s %s\n", "", "version", "created", "bytes", "sha256");
        for (const auto v : versions) {
            const auto m = reg.manifest(name, v);
            std::printf("  %-3s %-8llu %-21s %-12llu %s", serving && *serving == v ? "*" : "",
                        static_cast<unsigned long long>(v), m.created.c_str(),
                        static_cast<unsigned long long>(m.model_size), m.sha256.c_str());
            for (const auto& [k, val] : m.metrics) std::printf("  %s=%g", k.c_str(), val);
            std::printf("\n");
        }
    }
    return 0;
}

int registry_publish(const RegistryArgs& a) {
    // Refuse anything that is not a readable model file before it enters the registry.
    es::io::LoadOptions lo;
    lo.key_file = a.model_key;
    (void)es::io::load_model(a.file, lo);
    const auto bytes = es::deploy::detail::read_file(a.file);
    auto info = es::deploy::model_file_info();
    for (const auto& kv : a.metrics) {
        const auto eq = kv.find('=');
        char* end = nullptr;
        const std::string value = eq == std::string::npos ? std::string{} : kv.substr(eq + 1);
        const double d = value.empty() ? 0.0 : std::strtod(value.c_str(), &end);
        if (eq == std::string::npos || eq == 0 || value.empty() || *end != '\0' || !std::isfinite(d))
            throw es::config_error("--metric '" + kv + "': expected name=number, e.g. accuracy=0.91");
        info.metrics[kv.substr(0, eq)] = d;
    }
    info.dataset_fingerprint = a.dataset;
    auto reg = open_registry(a);
    const auto v = reg.add(a.model, bytes, info);
    const auto m = reg.manifest(a.model, v);
    std::printf("published %s v%llu (%llu bytes, sha256 %s)\n", a.model.c_str(),
                static_cast<unsigned long long>(v), static_cast<unsigned long long>(m.model_size),
                m.sha256.c_str());
    if (a.promote) {
        reg.promote(a.model, v);
        std::printf("%s now serves v%llu\n", a.model.c_str(), static_cast<unsigned long long>(v));
    }
    return 0;
}

int registry_promote(const RegistryArgs& a) {
    require_root(a);
    auto reg = open_registry(a);
    if (!reg.has(a.model, a.version)) {
        std::string known;
        for (const auto v : reg.versions(a.model)) known += (known.empty() ? "" : ", ") + std::to_string(v);
        throw es::config_error("registry " + a.root + ": model '" + a.model + "' has no version " +
                               std::to_string(a.version) +
                               (known.empty() ? " (it has no versions)" : " (it has " + known + ")"));
    }
    reg.promote(a.model, a.version);
    std::printf("%s now serves v%llu\n", a.model.c_str(), static_cast<unsigned long long>(a.version));
    return 0;
}

int registry_rollback(const RegistryArgs& a) {
    require_root(a);
    auto reg = open_registry(a);
    const auto v = reg.rollback(a.model);
    std::printf("%s rolled back, now serves v%llu\n", a.model.c_str(), static_cast<unsigned long long>(v));
    return 0;
}

// --- inspect --------------------------------------------------------------------------------

struct ModelArgs {
    std::string file, key_file;
    bool devices = false;
};

// The OpenCL devices, numbered as EDGESTACK_OPENCL_DEVICE and backend::OpenCl::device take them.
void print_devices() {
#if defined(EDGESTACK_HAS_OPENCL)
    const auto ds = es::backend::OpenCl::devices();
    if (ds.empty()) {
        std::printf("OpenCL devices: none (no OpenCL driver installed; Debian's pocl-opencl-icd runs OpenCL on the CPU)\n");
        return;
    }
    std::printf("OpenCL devices (EDGESTACK_OPENCL_DEVICE=<index>, <platform>:<device> or part of a name):\n");
    for (const auto& d : ds) std::printf("  %s\n", d.c_str());
#else
    std::printf("OpenCL devices: this build has no OpenCL backend (edgestack::opencl; Debian: ocl-icd-opencl-dev)\n");
#endif
}

es::compile::Graph load_graph(const ModelArgs& a) {
    es::io::LoadOptions o;
    o.key_file = a.key_file;
    return es::io::load_model(a.file, o).to_graph();
}

std::string node_quant(const es::compile::Graph& g, const es::compile::Node& n) {
    if (g.value_quant.empty()) return "fp32";
    if (!n.quantized()) return "int8";
    return n.weight_quant.per_channel() ? "int8, weights per channel" : "int8, weights per tensor";
}

int inspect(const ModelArgs& a) {
    if (a.devices) {
        print_devices();
        if (a.file.empty()) return 0;
        std::printf("\n");
    }
    if (a.file.empty()) throw es::config_error("inspect: give a model file, or --devices");
    const auto g = load_graph(a);
    std::printf("%s: %s model, input %s, output %s, %zu nodes\n", a.file.c_str(),
                g.value_quant.empty() ? "fp32" : "int8", es::compile::to_string(g.input_shape()).c_str(),
                es::compile::to_string(g.output_shape()).c_str(), g.nodes.size());
    std::printf("\n  %-24s %-22s %-14s %s\n", "layer", "op", "output", "quantization");
    for (const auto& n : g.nodes)
        std::printf("  %-24s %-22s %-14s %s\n", n.name.c_str(), std::string(es::compile::op_name(n.op)).c_str(),
                    es::compile::to_string(g.values.at(static_cast<std::size_t>(n.output))).c_str(),
                    node_quant(g, n).c_str());
    // The figures the engine works with: after canonicalization (batch norm folded, dropout
    // removed, activations fused), as every backend compiles the graph.
    const es::backend::ReferenceEngine e(g);
    const auto& p = e.program();
    std::printf("\nparameters   %zu\n", p.params);
    std::printf("MACs         %zu per sample\n", p.macs);
    std::printf("weights      %zu bytes\n", p.weight_bytes);
    std::printf("arena        %zu bytes at batch 1 (activations %zu, scratch %zu)\n", e.arena_bytes(1),
                e.activation_bytes_per_sample(), p.scratch_bytes);
    std::printf("\ndevice fit (one sample; estimates from device/report.hpp):\n");
    for (const auto* prof : {&es::device::CortexM7::profile, &es::device::CortexA53::profile,
                             &es::device::RaspberryPi4::profile, &es::device::X86Avx2Host::profile}) {
        const auto r = es::device::report(e, *prof);
        std::printf("  %-40s %-12s RAM %s, flash %s, about %.1f us\n", r.device.c_str(),
                    r.fits_ram && r.fits_flash ? "fits" : "does not fit", r.fits_ram ? "ok" : "too small",
                    r.fits_flash ? "ok" : "too small", r.latency_s * 1e6);
    }
    return 0;
}

// --- bench ----------------------------------------------------------------------------------

struct BenchArgs {
    ModelArgs model;
    std::string backend = "simd";
    std::size_t batch = 1, runs = 100, warmup = 10, threads = 1;
    bool layers = true;
};

template <class Engine>
int bench_engine(const Engine& e, const BenchArgs& a) {
    const auto l = es::tools::time_runs(e, a.batch, a.runs, a.warmup);
    const double p50 = l.percentile(0.5);
    std::printf("model      %s (%s), backend %s (kernels %s), batch %zu, %zu runs after %zu warm-up\n",
                a.model.file.c_str(), e.int8() ? "int8" : "fp32", a.backend.c_str(),
                Engine::kernels_type::name, a.batch, a.runs, a.warmup);
    std::printf("latency    p50 %.1f us   p90 %.1f us   p99 %.1f us   min %.1f us\n", p50, l.percentile(0.9),
                l.percentile(0.99), l.min());
    std::printf("throughput %.0f samples/s (at p50)\n", p50 > 0.0 ? double(a.batch) * 1e6 / p50 : 0.0);
    std::printf("memory     arena %zu B, weights %zu B, process peak RSS %zu KiB\n", e.arena_bytes(a.batch),
                e.program().weight_bytes, es::tools::peak_rss_kib());
    if (!a.layers) return 0;
    const auto prof = es::tools::profile_layers(e, a.batch, a.runs, std::min<std::size_t>(a.warmup, 3));
    std::printf("\nper layer (median of %zu traced runs):\n  %-24s %-20s %-36s %10s %7s\n", a.runs, "layer", "op",
                "kernel", "us", "share");
    for (const auto& t : prof)
        std::printf("  %-24s %-20s %-36s %10.1f %6.1f%%\n", t.name.c_str(), t.op.c_str(), t.kernel.c_str(),
                    t.median_us, 100.0 * t.share);
    return 0;
}

int bench(const BenchArgs& a) {
    const auto g = load_graph(a.model);
    if (a.backend == "reference") return bench_engine(es::backend::ReferenceEngine(g), a);
    if (a.backend == "simd") return bench_engine(es::backend::SimdEngine(g), a);
#if defined(EDGESTACK_HAS_XNNPACK)
    if (a.backend == "xnnpack") return bench_engine(es::backend::Xnnpack{a.threads}.compile(g), a);
#endif
    throw es::config_error("backend '" + a.backend + "' is not built into this program");
}

// --- quantize -------------------------------------------------------------------------------

struct QuantizeArgs {
    ModelArgs model;
    std::string calibration, out, label_column;
    std::size_t samples = 512;
};

// The calibration inputs as floats, whole samples of `sample_size`: NPY and CSV/TSV by their
// extension (also under .gz), IDX otherwise (pixels scaled to [0, 1] as IdxLoader does).
std::vector<float> read_calibration(const QuantizeArgs& a, std::size_t sample_size) {
    const fs::path p = a.calibration;
    const auto ext = es::data::detail::has_gz_suffix(p) ? p.stem().extension() : p.extension();
    std::vector<float> x;
    if (ext == ".npy") {
        x = es::data::read_npy(p).data;
    } else if (ext == ".csv" || ext == ".tsv" || ext == ".tab") {
        es::data::CsvOptions o;
        o.label_column = a.label_column;
        auto t = es::data::read_csv(p, o);
        if (t.cols() != sample_size)
            throw es::shape_error(a.calibration + ": " + std::to_string(t.cols()) +
                                  " feature columns, the model takes " + std::to_string(sample_size) +
                                  " inputs (name the label column with --label-column)");
        for (std::size_t i = 0; i < t.values.size(); ++i)
            if (std::isnan(t.values[i]))
                throw es::format_error(a.calibration + ": row " + std::to_string(i / t.cols() + 1) +
                                       ", column '" + t.columns[i % t.cols()] +
                                       "' is missing; clean the file first");
        x = std::move(t.values);
    } else {
        const auto idx = es::data::read_idx(p, 0, a.samples);
        x.resize(idx.data.size());
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(idx.data[i]) / 255.0f;
    }
    if (x.empty() || x.size() % sample_size != 0)
        throw es::shape_error(a.calibration + ": " + std::to_string(x.size()) +
                              " values are not whole samples of " + std::to_string(sample_size) +
                              " (the model's input size)");
    x.resize(std::min(x.size(), a.samples * sample_size));
    return x;
}

int quantize(const QuantizeArgs& a) {
    es::io::LoadOptions lo;
    lo.key_file = a.model.key_file;
    const auto loaded = es::io::load_model(a.model.file, lo);
    auto g = loaded.to_graph();
    if (!g.value_quant.empty()) throw es::config_error(a.model.file + ": the model is int8 already");
    // Calibration rows are raw features, as clients send them: standardized as the file says
    // before they are observed, and the scaling is written again beside the int8 graph.
    auto x = read_calibration(a, g.input_size());
    for (std::size_t s = 0; s < x.size(); s += g.input_size())
        loaded.scaling().to_model(std::span<float>(x).subspan(s, g.input_size()));
    const std::size_t n = x.size() / g.input_size();
    // Write only what the int8 engine runs (a batch norm no convolution absorbs, for one,
    // has no int8 form): the quantizer refuses such a graph, and compiling the result is
    // the check of the rest.
    try {
        es::backend::nets::quantize_minmax(g, x);
        (void)es::backend::ReferenceEngine(g);
    } catch (const es::error& e) {
        throw es::config_error(a.model.file + ": the int8 engine cannot run this model, nothing written (" +
                               e.what() + ")");
    }
    es::io::SaveOptions so;
    so.scaling = loaded.scaling();
    es::io::save_model(a.out, g, so);
    std::size_t weighted = 0;
    for (const auto& node : g.nodes) weighted += node.quantized() ? 1 : 0;
    std::printf("%s: int8 (min/max ranges from %zu calibration samples of %s; %zu nodes with int8 "
                "weights, per channel)\n",
                a.out.c_str(), n, a.calibration.c_str(), weighted);
    return 0;
}

#if defined(EDGESTACK_CLI_CONVERT)
int convert(const std::string& in, const std::string& out) {
    const auto g = es::io::import_onnx_graph(in);
    es::io::save_model(out, g);
    std::printf("%s: %zu nodes, input %s, output %s, %s\n", out.c_str(), g.nodes.size(),
                es::compile::to_string(g.input_shape()).c_str(), es::compile::to_string(g.output_shape()).c_str(),
                g.value_quant.empty() ? "fp32" : "int8");
    return 0;
}
#endif

// --- micro ----------------------------------------------------------------------------------

struct MicroArgs {
    ModelArgs model;
    std::string out, ns = "model";
};

// An int8 model file as the constant tables of micro/engine.hpp: weights in flash, one
// static arena (examples/micro_firmware runs such a header on a Cortex-M7).
int micro(const MicroArgs& a) {
    const auto g = load_graph(a.model);
    if (g.value_quant.empty())
        throw es::config_error(a.model.file + ": an fp32 model; quantize it first (edgestack quantize), nothing written");
    const auto m = es::deploy::lower_micro(g);
    es::write_file_atomically(a.out, es::deploy::micro_source(m, a.ns));
    std::printf("%s: namespace %s, %zu layers, %zu bytes of constant tables (flash), arena %zu bytes (SRAM)\n",
                a.out.c_str(), a.ns.c_str(), m.layers.size(), m.table_bytes(), m.network.arena_bytes);
    return 0;
}

// CLI11 reports an unknown command word as "A subcommand is required"; name it instead.
bool unknown_command(CLI::App& app, int argc, char** argv) {
    CLI::App* level = &app;
    std::string path = "edgestack";
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const auto subs = level->get_subcommands([](CLI::App*) { return true; });
        if (a.empty() || a.front() == '-' || subs.empty()) return false;
        CLI::App* next = nullptr;
        std::string names;
        for (auto* c : subs) {
            if (c->get_name() == a) next = c;
            names += (names.empty() ? "" : ", ") + c->get_name();
        }
        if (next == nullptr) {
            std::fprintf(stderr, "%s: unknown command '%s' (commands: %s)\n", path.c_str(), a.c_str(),
                         names.c_str());
            return true;
        }
        level = next;
        path += " " + a;
    }
    return false;
}

// --- plot -----------------------------------------------------------------------------------

int plot(const std::string& in, std::string out, const std::string& title) {
    const auto history = es::train::read_history(in);
    if (out.empty()) out = fs::path(in).replace_extension(".svg").string();
    const std::string svg = es::tools::history_svg(title.empty() ? fs::path(in).filename().string() : title,
                                                   history);
    es::write_file_atomically(out, svg);
    std::printf("%s", es::tools::history_summary(history).c_str());
    std::printf("wrote %s\n", out.c_str());
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"edgestack: manage a model registry and inspect, time, quantize and convert model files"};
    app.name("edgestack");
    app.require_subcommand(1);

    RegistryArgs ra;
    auto* reg = app.add_subcommand("registry", "List, publish, promote and roll back registry versions");
    reg->require_subcommand(1);
    auto root_and_keys = [&](CLI::App* c) {
        c->add_option("dir", ra.root, "Registry folder")->required();
        c->add_option("--key-file", ra.key_file, "HMAC-SHA256 key file: sign new versions, verify signed ones");
        c->add_flag("--require-signature", ra.require_signature, "Refuse versions without a valid signature");
    };
    auto* list = reg->add_subcommand("list", "Versions of every model (or of MODEL): serving, created, size, sha256");
    root_and_keys(list);
    list->add_option("model", ra.model, "Only this model");
    auto* publish = reg->add_subcommand("publish", "Store a model file as the next version of MODEL");
    root_and_keys(publish);
    publish->add_option("model", ra.model, "Model name")->required();
    publish->add_option("file", ra.file, "Model file (as written by io::save_model)")->required();
    publish->add_option("--model-key", ra.model_key, "Key file of an encrypted model file");
    publish->add_flag("--promote", ra.promote, "Make the new version the serving one");
    publish->add_option("--metric", ra.metrics, "A metric to record, name=value (repeatable)");
    publish->add_option("--dataset-fingerprint", ra.dataset, "Fingerprint of the training data");
    auto* promote = reg->add_subcommand("promote", "Make VERSION the serving version of MODEL");
    root_and_keys(promote);
    promote->add_option("model", ra.model, "Model name")->required();
    promote->add_option("version", ra.version, "Version number")->required();
    auto* rollback = reg->add_subcommand("rollback", "Serve the version that served before the current one");
    root_and_keys(rollback);
    rollback->add_option("model", ra.model, "Model name")->required();

    ModelArgs ia;
    auto* insp = app.add_subcommand("inspect", "Layers, parameters, MACs, arena, quantization, device fit");
    insp->add_option("file", ia.file, "Model file");
    insp->add_flag("--devices", ia.devices, "List the OpenCL devices (with or without a model file)");
    insp->add_option("--model-key", ia.key_file, "Key file of an encrypted model file");

    BenchArgs ba;
    auto* bn = app.add_subcommand("bench", "Latency percentiles and a per-layer profile on one backend");
    bn->add_option("file", ba.model.file, "Model file")->required();
    bn->add_option("--model-key", ba.model.key_file, "Key file of an encrypted model file");
    std::vector<std::string> backends{"reference", "simd"};
#if defined(EDGESTACK_HAS_XNNPACK)
    backends.push_back("xnnpack");
#endif
    bn->add_option("--backend", ba.backend, "Backend")->capture_default_str()->check(CLI::IsMember(backends));
    bn->add_option("--batch", ba.batch, "Samples per run")->capture_default_str()->check(CLI::Range(1, 1 << 16));
    bn->add_option("--runs", ba.runs, "Timed runs")->capture_default_str()->check(CLI::Range(1, 1 << 24));
    bn->add_option("--warmup", ba.warmup, "Untimed runs first")->capture_default_str()->check(CLI::Range(0, 1 << 24));
    bn->add_option("--threads", ba.threads, "XNNPACK thread pool size")->capture_default_str()->check(CLI::Range(1, 256));
    bn->add_flag("!--no-layers", ba.layers, "Skip the per-layer profile");

    QuantizeArgs qa;
    auto* qz = app.add_subcommand("quantize", "Post-training int8 quantization of an fp32 model file");
    qz->add_option("file", qa.model.file, "fp32 model file")->required();
    qz->add_option("--model-key", qa.model.key_file, "Key file of an encrypted model file");
    qz->add_option("--calibration", qa.calibration,
                   "Calibration inputs: .npy, .csv/.tsv (one sample per row) or IDX; .gz too")->required();
    qz->add_option("-o,--output", qa.out, "Where to write the int8 model file")->required();
    qz->add_option("--samples", qa.samples, "Calibration samples to use at most")->capture_default_str()->check(CLI::Range(1, 1 << 24));
    qz->add_option("--label-column", qa.label_column, "CSV: the label column, left out of the inputs");

#if defined(EDGESTACK_CLI_CONVERT)
    std::string conv_in, conv_out;
    auto* cv = app.add_subcommand("convert", "ONNX model to a model file (operators: docs/interop.md)");
    cv->add_option("file", conv_in, "ONNX model")->required();
    cv->add_option("-o,--output", conv_out, "Where to write the model file")->required();
#endif

    MicroArgs ma;
    auto* mc = app.add_subcommand("micro", "int8 model file as a C++ header for micro/engine.hpp (microcontrollers)");
    mc->add_option("file", ma.model.file, "int8 model file")->required();
    mc->add_option("--model-key", ma.model.key_file, "Key file of an encrypted model file");
    mc->add_option("-o,--output", ma.out, "Header to write")->required();
    mc->add_option("--namespace", ma.ns, "C++ namespace of the tables")->capture_default_str();

    std::string plot_in, plot_out, plot_title;
    auto* pl = app.add_subcommand("plot", "Draw a training history (.jsonl or .csv) as an SVG chart");
    pl->add_option("history", plot_in, "History file, as train::HistoryWriter or Keras' CSVLogger writes it")
        ->required();
    pl->add_option("-o,--output", plot_out, "SVG file to write (default: the history's name with .svg)");
    pl->add_option("--title", plot_title, "Chart title (default: the history's file name)");

    if (unknown_command(app, argc, argv)) return 2;
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    try {
        if (*list) return registry_list(ra);
        if (*publish) return registry_publish(ra);
        if (*promote) return registry_promote(ra);
        if (*rollback) return registry_rollback(ra);
        if (*insp) return inspect(ia);
        if (*bn) return bench(ba);
        if (*qz) return quantize(qa);
        if (*pl) return plot(plot_in, plot_out, plot_title);
        if (*mc) return micro(ma);
#if defined(EDGESTACK_CLI_CONVERT)
        if (*cv) return convert(conv_in, conv_out);
#endif
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "edgestack: out of memory\n");
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "edgestack: %s\n", e.what());
        return 1;
    }
    return 1;
}
