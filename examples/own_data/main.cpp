// Your own data: read a CSV, split it (stratified), standardize it with statistics of the
// training part only, train a small MLP, then fold the standardization into the first dense
// layer and write an fp32 model file that takes the CSV's raw feature columns. That file is
// what `edgestack quantize`, the registry and edgestack-serve take (README, "Your own data").
//
//   own_data FILE.csv --label COLUMN [-o model.edgemdl] [--epochs 60] [--validation 0.2]
//            [--seed 1]
//   own_data FILE.csv --label COLUMN --evaluate MODEL.edgemdl   (e.g. the int8 model made
//            from it: its accuracy on the same validation rows, raw)
//
// The input width and the class count are part of the model's type: set `features` and
// `classes` below to your data's (the program says so when they do not match).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/data/clean.hpp"
#include "edgestack/data/csv.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/data/subset.hpp"
#include "edgestack/data/table.hpp"
#include "edgestack/io/model_file.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/sequential.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/quant/no_quant.hpp"
#include "edgestack/train/callbacks.hpp"
#include "edgestack/train/optimizer.hpp"

namespace es = edgestack;
namespace data = es::data;
namespace nn = es::nn;

constexpr std::size_t features = 4; // feature columns (every column but the label)
constexpr std::size_t classes = 3;  // distinct labels

using Net = nn::Sequential<nn::Input<features>, nn::Dense<16>, nn::ReLU, nn::Dense<classes>>;
using Tabular = es::Pipeline<data::TableLoader, data::NoAugment, Net, es::quant::NoQuant,
                             es::backend::Simd>;

namespace {

struct Options {
    std::string csv, label, out = "model.edgemdl", evaluate;
    std::size_t epochs = 60;
    double validation = 0.2;
    std::uint64_t seed = 1;
};

Options parse(int argc, char** argv) {
    Options o;
    CLI::App app{"own_data: train a classifier on a CSV and write a model file that takes its raw rows"};
    app.name("own_data");
    app.add_option("csv", o.csv, "CSV file with a header row")->required();
    app.add_option("--label", o.label, "The label column")->required();
    app.add_option("-o,--output", o.out, "Where to write the fp32 model file")->capture_default_str();
    app.add_option("--epochs", o.epochs, "Training epochs (early stopping may end sooner)")
        ->capture_default_str()->check(CLI::Range(1, 100000));
    app.add_option("--validation", o.validation, "Share of each class held out")
        ->capture_default_str()->check(CLI::Range(0.05, 0.5));
    app.add_option("--seed", o.seed, "Seed of the split, the initial weights and the shuffle")
        ->capture_default_str();
    app.add_option("--evaluate", o.evaluate,
                   "Do not train: the accuracy of this model file on the validation rows");
    es::tools::parse_or_exit(app, argc, argv);
    return o;
}

/// The rows `idx` of `t`, in that order, with its column names and class names.
data::Table rows_of(const data::Table& t, const std::vector<std::size_t>& idx) {
    data::Table out;
    out.columns = t.columns;
    out.classes = t.classes;
    out.categories = t.categories;
    for (const auto r : idx) {
        const auto row = t.row(r);
        out.values.insert(out.values.end(), row.begin(), row.end());
        out.labels.push_back(t.labels[r]);
        if (r < t.lines.size()) out.lines.push_back(t.lines[r]);
    }
    return out;
}

/// y = W ((x - mean) / sd) + b is y = W' x + b' with W'[o][i] = W[o][i] / sd[i] and
/// b'[o] = b[o] - sum_i W'[o][i] mean[i]: the scaling moves into the first dense layer, so
/// the model file takes raw rows. `ms` is Standardize's state: mean, sd per column.
void fold_standardize(es::compile::Graph& g, const std::vector<double>& ms) {
    auto& d = g.nodes.front();
    if (d.op != es::compile::Op::dense || d.inputs != std::vector<int>{0})
        throw es::config_error("fold_standardize: the first node must be a dense layer on the input");
    const std::size_t in = g.input_size(), out = d.bias.size();
    for (std::size_t o = 0; o < out; ++o) {
        double shift = 0.0;
        for (std::size_t i = 0; i < in; ++i) {
            const double sd = ms[2 * i + 1] > 0 ? ms[2 * i + 1] : 1.0; // as Standardize does
            const double w = d.weights[o * in + i] / sd;
            d.weights[o * in + i] = static_cast<float>(w);
            shift += w * ms[2 * i];
        }
        d.bias[o] = static_cast<float>(d.bias[o] - shift);
    }
}

/// Logits of every row of `t` (rows x classes), by an engine compiled from `g`.
std::vector<float> logits(const es::compile::Graph& g, const data::Table& t) {
    const auto engine = es::backend::Reference{}.compile(g);
    auto arena = engine.make_arena(1);
    std::vector<float> z(t.rows() * classes);
    for (std::size_t r = 0; r < t.rows(); ++r)
        engine.run(t.row(r), std::span<float>(z.data() + r * classes, classes), arena);
    return z;
}

/// Share of the rows of `t` whose label the engine compiled from `g` predicts.
double accuracy(const es::compile::Graph& g, const data::Table& t) {
    const auto z = logits(g, t);
    std::size_t correct = 0;
    for (std::size_t r = 0; r < t.rows(); ++r) {
        const auto row = z.begin() + static_cast<std::ptrdiff_t>(r * classes);
        correct += std::max_element(row, row + classes) - row == t.labels[r];
    }
    return static_cast<double>(correct) / static_cast<double>(t.rows());
}

} // namespace

int main(int argc, char** argv) try {
    const Options o = parse(argc, argv);
    data::CsvOptions csv;
    csv.label_column = o.label;
    const data::Table all = data::read_csv(o.csv, csv);
    if (all.cols() != features)
        throw es::config_error(o.csv + ": " + std::to_string(all.cols()) +
                               " feature columns; this program is built for " +
                               std::to_string(features) + " (set `features` in main.cpp)");
    const data::TableLoader whole(all);
    if (whole.num_classes() > classes)
        throw es::config_error(o.csv + ": " + std::to_string(whole.num_classes()) +
                               " classes; this program is built for " + std::to_string(classes) +
                               " (set `classes` in main.cpp)");

    // Split first, then fit the scaling on the training part only.
    const auto split = data::stratified_split(whole, o.validation, o.seed);
    data::Table train = rows_of(all, split.train.indices());
    const data::Table raw_validation = rows_of(all, split.validation.indices());
    if (!o.evaluate.empty()) {
        const auto g = es::io::load_model(o.evaluate).to_graph();
        if (g.input_size() != features || g.output_size() != classes)
            throw es::config_error(o.evaluate + ": takes " + std::to_string(g.input_size()) +
                                   " values and gives " + std::to_string(g.output_size()) +
                                   "; the CSV has " + std::to_string(features) + " features and " +
                                   std::to_string(classes) + " classes");
        std::printf("%s: accuracy %.2f%% on the %zu validation rows of %s\n", o.evaluate.c_str(),
                    100.0 * accuracy(g, raw_validation), raw_validation.rows(), o.csv.c_str());
        return 0;
    }
    data::Table validation = raw_validation;
    data::Cleaner<data::Standardize> scale;
    scale.fit(train);
    scale.apply(validation);
    std::printf("%s: %zu rows, %zu features, %zu classes; %zu to train, %zu to validate\n",
                o.csv.c_str(), all.rows(), all.cols(), whole.num_classes(), train.rows(),
                validation.rows());

    const data::TableLoader train_set(std::move(train), {}, classes);
    const data::TableLoader validation_set(validation, {}, classes);
    Tabular pipeline(o.seed);
    es::train::Adam adam(1e-2f);
    es::train::EarlyStopping stop(es::train::Monitor::val_loss, 8, 0.0, true);
    pipeline.fit(train_set, validation_set, adam, {.epochs = o.epochs, .batch_size = 32}, stop);
    const auto ev = pipeline.evaluate(validation_set);
    std::printf("validation accuracy %.2f%% (%zu rows)\n", 100.0 * ev.accuracy, ev.count);

    // The scaling goes into the model, so that a client sends the CSV's columns as they are.
    const es::compile::Graph trained = pipeline.model().lower();
    es::compile::Graph g = trained;
    fold_standardize(g, scale.get<0>().state());
    // The folded model on raw rows must give the trained model's logits on scaled rows, up to
    // float rounding.
    const auto want = logits(trained, validation), got = logits(g, raw_validation);
    double gap = 0.0;
    for (std::size_t i = 0; i < want.size(); ++i)
        gap = std::max(gap, std::fabs(double{got[i]} - want[i]) / (1.0 + std::fabs(want[i])));
    if (gap > 1e-4)
        throw es::error("the model with the scaling folded in differs from the trained "
                               "one by " + std::to_string(gap));
    std::printf("the written model on raw rows: accuracy %.2f%%\n",
                100.0 * accuracy(g, raw_validation));
    es::io::save_model(o.out, g);
    std::printf("wrote %s (fp32, input %zu raw features, output %zu logits)\n", o.out.c_str(),
                features, classes);
    return 0;
} catch (const es::error& e) {
    std::fprintf(stderr, "own_data: %s\n", e.what());
    return 1;
}
