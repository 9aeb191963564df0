// A regressor on real data nobody here made: scikit-learn's diabetes data (442 patients, 10
// measurements each, and a measure of disease progression one year later; Efron et al.,
// "Least Angle Regression", 2004), as Debian's python3-sklearn ships it. Every fifth row is
// held out; the features are standardized and the target scaled with statistics of the
// training rows only. A small dense network is trained with mean squared error, quantized to
// int8 by post-training quantization, and both engines report MAE, RMSE and R² on the
// held-out rows, in the target's own units. Deployed: the int8 model and both fitted
// scalings go into one model file, which served (as edgestack-serve does) takes the raw
// rows and answers in the target's units.
//
//   diabetes_regressor [--data DIR] [--epochs 60] [--seed 1] [-o diabetes-int8.edgemdl]
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/data/clean.hpp"
#include "edgestack/data/csv.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/data/targets.hpp"
#include "edgestack/deploy/served_model.hpp"
#include "edgestack/io/model_file.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/sequential.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/quant/no_quant.hpp"
#include "edgestack/quant/ptq.hpp"
#include "edgestack/train/metrics.hpp"
#include "edgestack/train/optimizer.hpp"

namespace es = edgestack;
namespace data = es::data;
namespace nn = es::nn;

using Net = nn::Sequential<nn::Input<10>, nn::Dense<32>, nn::ReLU, nn::Dense<16>, nn::ReLU,
                           nn::Dense<1>>;
template <class Quantizer>
using Diabetes = es::Pipeline<data::InMemoryTargetLoader, data::NoAugment, Net, Quantizer,
                              es::backend::Simd>;

namespace {

struct Options {
    std::string dir = "/usr/lib/python3/dist-packages/sklearn/datasets/data";
    std::size_t epochs = 60;
    std::uint64_t seed = 1;
    std::string out = "diabetes-int8.edgemdl";
};

Options parse(int argc, char** argv) {
    Options o;
    CLI::App app{"diabetes_regressor: train, quantize and evaluate a regressor on scikit-learn's "
                 "diabetes data"};
    app.name("diabetes_regressor");
    app.add_option("--data", o.dir, "Folder holding diabetes_data_raw.csv.gz and "
                                    "diabetes_target.csv.gz (Debian python3-sklearn)")
        ->capture_default_str();
    app.add_option("--epochs", o.epochs, "Training epochs")->capture_default_str()
        ->check(CLI::Range(1, 100000));
    app.add_option("--seed", o.seed, "Seed of the initial weights and the shuffle")
        ->capture_default_str();
    app.add_option("-o,--output", o.out, "Where to write the int8 model file with its scaling")
        ->capture_default_str();
    es::tools::parse_or_exit(app, argc, argv);
    return o;
}

/// The held-out rows of `t` (every fifth), or the others.
data::Table rows_of(const data::Table& t, bool held_out) {
    data::Table out;
    out.columns = t.columns;
    for (std::size_t r = 0; r < t.rows(); ++r)
        if ((r % 5 == 0) == held_out) {
            const auto row = t.row(r);
            out.values.insert(out.values.end(), row.begin(), row.end());
        }
    return out;
}
/// The first column of the held-out rows of `t`, or of the others.
std::vector<float> targets_of(const data::Table& t, bool held_out) {
    std::vector<float> out;
    for (std::size_t r = 0; r < t.rows(); ++r)
        if ((r % 5 == 0) == held_out) out.push_back(t.at(r, 0));
    return out;
}

/// The engine's predictions for every row of `x`, in target units.
template <class Engine>
std::vector<float> predict(const Engine& engine, const data::Table& x,
                           const data::TargetScaler& scaler) {
    auto arena = engine.make_arena(1);
    std::vector<float> y(x.rows());
    for (std::size_t r = 0; r < x.rows(); ++r)
        engine.run(x.row(r), std::span<float>(&y[r], 1), arena);
    scaler.inverse(y);
    return y;
}

void report(const char* what, const es::train::RegressionReport& r) {
    std::printf("%-5s MAE %.2f  RMSE %.2f  R2 %.4f  (%zu held-out rows)\n", what, r.mae, r.rmse,
                r.r2, r.count);
}

} // namespace

int main(int argc, char** argv) try {
    const Options o = parse(argc, argv);
    const std::filesystem::path dir(o.dir);
    data::CsvOptions space;
    space.delimiter = ' ';
    space.header = false;
    const data::Table x = data::read_csv(dir / "diabetes_data_raw.csv.gz", space);
    const data::Table y = data::read_csv(dir / "diabetes_target.csv.gz", space);
    if (x.cols() != 10 || y.cols() != 1 || x.rows() != y.rows())
        throw es::format_error(o.dir + ": expected 10 feature columns and one target per row, got " +
                               std::to_string(x.cols()) + " columns, " +
                               std::to_string(x.rows()) + " rows and " +
                               std::to_string(y.rows()) + " targets");

    // Every fifth row held out; statistics from the training rows only.
    data::Table x_train = rows_of(x, false), x_test = rows_of(x, true);
    const data::Table raw_test = x_test;
    std::vector<float> y_train = targets_of(y, false);
    const std::vector<float> y_test = targets_of(y, true);
    // Missing measurements are filled with the training mean, then every column is
    // standardized; the same cleaning travels in the deployment file (below).
    data::Cleaner<data::ImputeMean, data::Standardize> clean;
    clean.fit(x_train); // fits, and standardizes the training rows
    clean.apply(x_test);
    data::TargetScaler scaler;
    scaler.fit(y_train);
    scaler.transform(y_train);
    std::printf("diabetes: %zu rows, %zu features; %zu to train, %zu held out\n", x.rows(),
                x.cols(), x_train.rows(), x_test.rows());

    const data::InMemoryTargetLoader train(x_train.values, y_train, 10, 1);
    Diabetes<es::quant::NoQuant> fp32(o.seed);
    es::train::Adam adam(1e-3f);
    const auto fit = fp32.fit(train, adam, {.epochs = o.epochs, .batch_size = 32});
    std::printf("trained %zu epochs: training loss (standardized MSE) %.4f, MAE %.4f\n",
                fit.history.size(), fit.history.back().loss, fit.history.back().mae);

    const auto r32 = es::train::regression_metrics(predict(fp32.deploy(), x_test, scaler), y_test);
    report("fp32", r32);

    // int8: post-training quantization, ranges from the training rows.
    Diabetes<es::quant::Ptq<es::quant::MinMax>> int8(o.seed);
    int8.model() = fp32.model();
    int8.calibrate(train, 100, 32);
    const auto r8 = es::train::regression_metrics(predict(int8.deploy(), x_test, scaler), y_test);
    report("int8", r8);

    // Deployed: the int8 graph with the feature and target scaling fitted above, in one file.
    es::io::SaveOptions save;
    save.scaling = clean.input_scaling(); // fill missing values, then standardize
    save.scaling.output_mean = scaler.mean();
    save.scaling.output_sd = scaler.sd();
    es::compile::Graph g8 = int8.model().lower();
    int8.quantizer().lower(g8);
    es::io::save_model(o.out, g8, save);
    // Loaded as the server loads it: the model with its scaling around it, fed raw rows.
    const auto file = es::io::load_model(o.out);
    const auto served = es::deploy::with_scaling(
        es::deploy::make_served_model("diabetes", 1, es::backend::Simd{}.compile(file.to_graph()),
                                      {10}, {1}, 1),
        file.scaling());
    std::vector<float> answers(raw_test.rows());
    for (std::size_t r = 0; r < raw_test.rows(); ++r)
        if (!served->infer(raw_test.row(r), std::span<float>(&answers[r], 1)))
            throw es::error("the served model refused row " + std::to_string(r));
    report("file", es::train::regression_metrics(answers, y_test));
    // A request with a measurement missing (JSON null on the wire, NaN here) is answered as
    // the row with that measurement at its training mean.
    std::vector<float> row(raw_test.row(0).begin(), raw_test.row(0).end()), filled = row;
    row[2] = std::numeric_limits<float>::quiet_NaN();
    filled[2] = static_cast<float>(clean.get<0>().fill[2]);
    float with_gap = 0, with_mean = 0;
    if (!served->infer(row, std::span<float>(&with_gap, 1)) || !served->infer(filled, std::span<float>(&with_mean, 1)) ||
        with_gap != with_mean)
        throw es::error("a missing measurement was not filled with its training mean");
    std::printf("a row with its third measurement missing: %.1f (the same row with the training mean: %.1f)\n",
                with_gap, with_mean);
    std::printf("wrote %s (int8, version %u: takes the 10 raw measurements, answers in the "
                "target's units)\n",
                o.out.c_str(), file.version());
    return 0;
} catch (const es::error& e) {
    std::fprintf(stderr, "diabetes_regressor: %s\n", e.what());
    return 1;
}
