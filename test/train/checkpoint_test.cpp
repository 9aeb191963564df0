#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "edgestack/core/parallel.hpp"
#include "fixtures.hpp"

using namespace edgestack;
using train_test::clusters;
using train_test::message_of;
using train_test::Pipe;
using train_test::TempPath;

namespace {

std::vector<char> bytes_of(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_bytes(const std::filesystem::path& p, const std::vector<char>& b) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(b.data(), static_cast<std::streamsize>(b.size()));
}

/// A trained model and optimizer, saved to `path`.
void save_trained(const std::filesystem::path& path, Pipe& p, train::Adam& adam) {
    p.fit(clusters(256, 1), adam, {.epochs = 1, .batch_size = 32});
    p.save_checkpoint(path, adam, 1);
}

std::vector<float> params_of(const auto& model) {
    const auto s = model.parameters();
    return {s.begin(), s.end()};
}

/// Largest absolute difference between two equally long vectors.
float max_difference(const std::vector<float>& a, const std::vector<float>& b) {
    BOOST_REQUIRE(a.size() == b.size());
    float d = 0.0f;
    for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
    return d;
}

// The resumed and the uninterrupted run use two model objects at different addresses.
// Every buffer a model sums over is 64-byte aligned (core/aligned.hpp), so vectorised
// reductions add in the same order in both, and the weights must match exactly.
constexpr float resume_tolerance = 0.0f;

} // namespace

BOOST_AUTO_TEST_SUITE(checkpoint)

BOOST_AUTO_TEST_CASE(round_trip_restores_everything) {
    TempPath file("edgestack_roundtrip.ckpt");
    Pipe p(21);
    train::Adam adam(1e-2f);
    save_trained(file.path, p, adam);

    const auto info = train::read_checkpoint(file.path);
    BOOST_TEST(info.version == train::checkpoint_version);
    BOOST_TEST(info.fingerprint == train_test::Net::fingerprint());
    BOOST_TEST(info.architecture == train_test::Net::architecture());
    BOOST_TEST(info.progress.epoch == 1u);
    BOOST_TEST(info.progress.seed == 21u);
    BOOST_REQUIRE(info.optimizer.has_value());
    BOOST_TEST(info.optimizer->name == "Adam");
    BOOST_TEST(info.optimizer->steps == 8u);
    BOOST_TEST(info.optimizer->slots.size() == 2u);

    Pipe q(21);
    train::Adam adam2(1e-2f);
    BOOST_TEST(q.resume(file.path, adam2) == 1u);
    BOOST_TEST(params_of(q.model()) == params_of(p.model()), boost::test_tools::per_element());
    BOOST_TEST(adam2.state().slots == adam.state().slots);
    BOOST_TEST(adam2.steps() == 8u);
}

BOOST_AUTO_TEST_CASE(resume_reaches_the_uninterrupted_weights_bit_exactly) {
    ThreadLimit one(1);
    TempPath file("edgestack_resume.ckpt");
    const auto data = clusters(500, 4);
    const auto schedule = train::Cosine{4 * 16, 0.1f};
    const train::FitOptions all{.epochs = 4, .batch_size = 32};

    Pipe straight(77);
    auto opt_a = train::with_schedule(train::Adam(1e-2f), schedule);
    straight.fit(data, opt_a, all);

    Pipe first_half(77);
    auto opt_b = train::with_schedule(train::Adam(1e-2f), schedule);
    train::EpochCheckpoint save(file.path, opt_b, first_half.seed());
    first_half.fit(data, opt_b, {.epochs = 2, .batch_size = 32}, save);

    Pipe resumed(77);
    auto opt_c = train::with_schedule(train::Adam(1e-2f), schedule);
    train::FitOptions rest = all;
    rest.initial_epoch = resumed.resume(file.path, opt_c);
    BOOST_TEST(rest.initial_epoch == 2u);
    const auto report = resumed.fit(data, opt_c, rest);
    BOOST_TEST(report.history.size() == 2u);
    BOOST_TEST(report.history.front().epoch == 2u);
    BOOST_TEST(max_difference(params_of(resumed.model()), params_of(straight.model())) <=
               resume_tolerance);
    BOOST_TEST(opt_c.steps() == opt_a.steps());
}

// BatchNorm's running statistics live in the state block, Dropout draws from the epoch's
// stream: both must survive a checkpoint for a resumed run to match.
using NormNet = nn::Sequential<nn::Input<8>, nn::Dense<16>, nn::BatchNorm, nn::ReLU,
                               nn::Dropout<0.25f>, nn::Dense<4>>;
using NormPipe =
    Pipeline<data::InMemoryLoader, data::NoAugment, NormNet, quant::NoQuant, backend::Reference>;

BOOST_AUTO_TEST_CASE(state_block_is_saved_and_restored) {
    static_assert(NormNet::state_count > 0);
    TempPath file("edgestack_state.ckpt");
    NormPipe p(5);
    train::AdamW opt(1e-2f);
    p.fit(clusters(256, 1), opt, {.epochs = 1, .batch_size = 32});
    const auto trained = std::vector<float>(p.model().state().begin(), p.model().state().end());
    const NormPipe untrained(5);
    const auto fresh = untrained.model().state();
    BOOST_TEST(trained != std::vector<float>(fresh.begin(), fresh.end()));
    p.save_checkpoint(file.path, opt, 1);
    BOOST_TEST(train::read_checkpoint(file.path).state == trained,
               boost::test_tools::per_element());
    NormPipe q(5);
    train::AdamW opt2(1e-2f);
    q.resume(file.path, opt2);
    BOOST_TEST(std::vector<float>(q.model().state().begin(), q.model().state().end()) == trained,
               boost::test_tools::per_element());
    const auto test_set = clusters(100, 2);
    BOOST_TEST(q.evaluate(test_set).loss == p.evaluate(test_set).loss);
}

BOOST_AUTO_TEST_CASE(resume_with_batch_norm_and_dropout_is_bit_exact) {
    ThreadLimit one(1);
    TempPath file("edgestack_resume_norm.ckpt");
    const auto data = clusters(300, 6);
    NormPipe straight(9);
    train::Sgd a(0.05f, 0.9f);
    straight.fit(data, a, {.epochs = 3, .batch_size = 32});

    NormPipe half(9);
    train::Sgd b(0.05f, 0.9f);
    half.fit(data, b, {.epochs = 1, .batch_size = 32});
    half.save_checkpoint(file.path, b, 1);

    NormPipe resumed(9);
    train::Sgd c(0.05f, 0.9f);
    train::FitOptions rest{.epochs = 3, .batch_size = 32};
    rest.initial_epoch = resumed.resume(file.path, c);
    resumed.fit(data, c, rest);
    BOOST_TEST(max_difference(params_of(resumed.model()), params_of(straight.model())) <=
               resume_tolerance);
    const auto s1 = resumed.model().state(), s2 = straight.model().state();
    BOOST_TEST(max_difference({s1.begin(), s1.end()}, {s2.begin(), s2.end()}) <= resume_tolerance);
    // Without the checkpoint's optimizer state the same resume lands elsewhere: the check
    // above can fail.
    NormPipe fresh_opt(9);
    train::Sgd d(0.05f, 0.9f);
    train::load_checkpoint(file.path, fresh_opt.model());
    fresh_opt.fit(data, d, rest);
    BOOST_TEST(max_difference(params_of(fresh_opt.model()), params_of(straight.model())) >
               10 * resume_tolerance);
}

BOOST_AUTO_TEST_CASE(another_seed_is_refused) {
    TempPath file("edgestack_seed.ckpt");
    Pipe p(21);
    train::Adam adam(1e-2f);
    save_trained(file.path, p, adam);
    Pipe other(22);
    train::Adam adam2(1e-2f);
    const auto m = message_of([&] { other.resume(file.path, adam2); });
    BOOST_TEST(m.find("seeded 21, this one is seeded 22") != std::string::npos, m);
}

BOOST_AUTO_TEST_CASE(another_architecture_is_a_clear_error_naming_both) {
    TempPath file("edgestack_arch.ckpt");
    Pipe p(21);
    train::Adam adam(1e-2f);
    save_trained(file.path, p, adam);
    using Wider = nn::Sequential<nn::Input<8>, nn::Dense<32>, nn::ReLU, nn::Dense<4>>;
    Wider wider;
    const auto before = params_of(wider);
    const auto m = message_of([&] { train::load_checkpoint(file.path, wider); });
    BOOST_TEST(m.find("another architecture") != std::string::npos, m);
    BOOST_TEST(m.find("file:  " + train_test::Net::architecture()) != std::string::npos, m);
    BOOST_TEST(m.find("model: " + Wider::architecture()) != std::string::npos, m);
    BOOST_CHECK_THROW(train::load_checkpoint(file.path, wider), integrity_error);
    BOOST_TEST(params_of(wider) == before, boost::test_tools::per_element()); // untouched
}

BOOST_AUTO_TEST_CASE(tampered_and_truncated_files_are_refused) {
    TempPath file("edgestack_tamper.ckpt"), bad("edgestack_tamper_bad.ckpt");
    Pipe p(21);
    train::Adam adam(1e-2f);
    save_trained(file.path, p, adam);
    const auto good = bytes_of(file.path);

    auto flipped = good;
    flipped[good.size() / 2] ^= 0x01;
    write_bytes(bad.path, flipped);
    auto m = message_of([&] { train::read_checkpoint(bad.path); });
    BOOST_TEST(m.find("checksum mismatch") != std::string::npos, m);
    BOOST_TEST(m.find(bad.path.string()) != std::string::npos, m);
    BOOST_CHECK_THROW(train::read_checkpoint(bad.path), integrity_error);

    write_bytes(bad.path, std::vector<char>(good.begin(), good.end() - 100));
    m = message_of([&] { train::read_checkpoint(bad.path); });
    BOOST_TEST(m.find("truncated") != std::string::npos, m);
    BOOST_TEST(m.find("byte " + std::to_string(good.size() - 100)) != std::string::npos, m);
    BOOST_CHECK_THROW(train::read_checkpoint(bad.path), format_error);

    write_bytes(bad.path, std::vector<char>(good.begin(), good.begin() + 10));
    m = message_of([&] { train::read_checkpoint(bad.path); });
    BOOST_TEST(m.find("truncated") != std::string::npos, m);

    auto magic = good;
    magic[0] = 'X';
    write_bytes(bad.path, magic);
    m = message_of([&] { train::read_checkpoint(bad.path); });
    BOOST_TEST(m.find("byte 0: not an edgestack checkpoint") != std::string::npos, m);

    auto newer = good;
    newer[8] = 9;
    write_bytes(bad.path, newer);
    m = message_of([&] { train::read_checkpoint(bad.path); });
    BOOST_TEST(m.find("byte 8: checkpoint version 9 is not supported") != std::string::npos, m);

    auto longer = good;
    longer.push_back('!');
    write_bytes(bad.path, longer);
    m = message_of([&] { train::read_checkpoint(bad.path); });
    BOOST_TEST(m.find("1 unexpected bytes after the checksum") != std::string::npos, m);

    m = message_of([&] { train::read_checkpoint(bad.path.string() + ".missing"); });
    BOOST_TEST(m.find("cannot open") != std::string::npos, m);
}

BOOST_AUTO_TEST_CASE(optimizer_state_must_match) {
    TempPath file("edgestack_opt.ckpt");
    Pipe p(21);
    train::save_checkpoint(file.path, p.model());
    train::Adam adam(1e-2f);
    auto m = message_of([&] { train::load_checkpoint(file.path, p.model(), adam); });
    BOOST_TEST(m.find("holds no optimizer state") != std::string::npos, m);
    BOOST_TEST(train::load_checkpoint(file.path, p.model()).epoch == 0u);

    train::Sgd sgd(0.1f, 0.9f);
    p.fit(clusters(64, 1), sgd, {.epochs = 1});
    train::save_checkpoint(file.path, p.model(), sgd, {1, p.seed()});
    m = message_of([&] { train::load_checkpoint(file.path, p.model(), adam); });
    BOOST_TEST(m.find("optimizer state of Sgd cannot be loaded into Adam") != std::string::npos, m);
}

BOOST_AUTO_TEST_CASE(writes_are_atomic_and_leave_no_temporary_file) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("edgestack_atomic." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    Pipe p(21);
    train::save_checkpoint(dir / "model.ckpt", p.model());
    const auto first = bytes_of(dir / "model.ckpt");
    p.model().parameters()[0] += 1.0f;
    train::save_checkpoint(dir / "model.ckpt", p.model());
    BOOST_TEST(bytes_of(dir / "model.ckpt") != first); // replaced
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
    BOOST_TEST(files == 1u);
    const auto m = message_of([&] { train::save_checkpoint(dir / "no" / "such.ckpt", p.model()); });
    BOOST_TEST(m.find("cannot create") != std::string::npos, m);
    std::filesystem::remove_all(dir);
}

// A checkpoint path that is a folder once let std::ios_base::failure out of the reader (and
// so aborted a program that only caught edgestack::error).
BOOST_AUTO_TEST_CASE(a_folder_is_not_a_checkpoint) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("edgestack_folder." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir / "model.ckpt");
    Pipe p(21);
    auto m = message_of([&] { (void)train::read_checkpoint(dir / "model.ckpt"); });
    BOOST_TEST(m.find("model.ckpt: cannot read: it is a directory") != std::string::npos, m);
    m = message_of([&] { train::load_checkpoint(dir / "model.ckpt", p.model()); });
    BOOST_TEST(m.find("it is a directory") != std::string::npos, m);
    m = message_of([&] { train::save_checkpoint(dir / "model.ckpt", p.model()); });
    BOOST_TEST(m.find("model.ckpt: cannot write: it is a directory") != std::string::npos, m);
    BOOST_TEST(std::filesystem::is_directory(dir / "model.ckpt"));
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
