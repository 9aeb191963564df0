// Deployment file: round trip, zero-copy loading, alignment, atomic replacement,
// encryption, fingerprints, and rejection of damaged files.
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "edgestack/io/model_file.hpp"
#include "edgestack/nn/nn.hpp"
#include "graphs.hpp"
#include "io_util.hpp"

using namespace edgestack;
namespace fs = std::filesystem;

BOOST_AUTO_TEST_SUITE(model_file)

BOOST_AUTO_TEST_CASE(round_trip_keeps_every_field) {
    iotest::TempDir dir;
    auto g = iotest::small_cnn();
    g.nodes[0].alpha = 0.25f;
    g.nodes[0].stride = {1, 1};
    const auto path = dir.file("cnn.esm");
    io::save_model(path, g);
    const auto m = io::load_model(path);
    BOOST_TEST(m.version() == 1u); // without a Scaling the file stays version 1
    BOOST_TEST(m.fingerprint() == io::graph_fingerprint(g));
    BOOST_TEST(!m.encrypted());
    iotest::check_same_graph(m.to_graph(), g);
}

BOOST_AUTO_TEST_CASE(int8_fields_round_trip) {
    iotest::TempDir dir;
    auto g = iotest::small_cnn();
    iotest::quantize_in_place(g, std::vector<std::pair<float, float>>(g.values.size(), {-1.0f, 2.0f}));
    const auto path = dir.file("cnn8.esm");
    io::save_model(path, g);
    iotest::check_same_graph(io::load_model(path).to_graph(), g);
}

BOOST_AUTO_TEST_CASE(tensors_are_views_into_the_mapping_and_aligned) {
    iotest::TempDir dir;
    const auto g = iotest::small_mlp();
    const auto path = dir.file("mlp.esm");
    io::save_model(path, g);
    const auto m = io::load_model(path);
    const auto st = m.storage();
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const auto& t = m.tensors(i);
        if (t.weights.empty()) continue;
        const auto* p = reinterpret_cast<const std::byte*>(t.weights.data());
        // The weights lie inside the file mapping: nothing was copied.
        BOOST_TEST((p >= st.data() && p + t.weights.size_bytes() <= st.data() + st.size()));
        BOOST_TEST(reinterpret_cast<std::uintptr_t>(p) % io::model_tensor_alignment == 0);
        BOOST_TEST(std::equal(t.weights.begin(), t.weights.end(), g.nodes[i].weights.begin()));
    }
    // The graph skeleton carries no weight copies.
    for (const auto& n : m.graph().nodes) BOOST_TEST(n.weights.empty());
}

BOOST_AUTO_TEST_CASE(save_replaces_atomically_and_leaves_no_temporary) {
    iotest::TempDir dir;
    const auto path = dir.file("m.esm");
    io::save_model(path, iotest::small_mlp(1));
    io::save_model(path, iotest::small_mlp(2));
    BOOST_TEST(io::load_model(path).to_graph().nodes[0].weights ==
               iotest::small_mlp(2).nodes[0].weights);
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++files;
    BOOST_TEST(files == 1u);
}

BOOST_AUTO_TEST_CASE(failed_save_keeps_the_old_file) {
    iotest::TempDir dir;
    const auto path = dir.file("m.esm");
    io::save_model(path, iotest::small_mlp(1));
    auto bad = iotest::small_mlp(2);
    bad.nodes[0].bias.resize(3); // inconsistent: refused before anything is written
    BOOST_CHECK_THROW(io::save_model(path, bad), format_error);
    BOOST_TEST(io::load_model(path).to_graph().nodes[0].weights ==
               iotest::small_mlp(1).nodes[0].weights);
}

BOOST_AUTO_TEST_CASE(encrypted_round_trip_and_wrong_key) {
    iotest::TempDir dir;
    const auto key = dir.file("model.key");
    iotest::write_text(key, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
    const auto g = iotest::small_cnn();
    const auto path = dir.file("enc.esm");
    io::save_model(path, g, {.fingerprint = 0, .key_file = key});
    // The weights are not readable in the file.
    const auto bytes = iotest::read_bytes(path);
    const auto* w = reinterpret_cast<const char*>(g.nodes[0].weights.data());
    BOOST_TEST((std::search(bytes.begin(), bytes.end(), w, w + 16) == bytes.end()));

    BOOST_CHECK_EXCEPTION(io::load_model(path), config_error,
                          iotest::message_has("encrypted"));
    const auto m = io::load_model(path, {.expect_fingerprint = {}, .key_file = key});
    BOOST_TEST(m.encrypted());
    iotest::check_same_graph(m.to_graph(), g);
    BOOST_TEST(reinterpret_cast<std::uintptr_t>(m.tensors(0).weights.data()) % 64 == 0);

    const auto other = dir.file("other.key");
    iotest::write_text(other, std::string(32, 'k'));
    BOOST_CHECK_EXCEPTION(io::load_model(path, {.expect_fingerprint = {}, .key_file = other}),
                          integrity_error, iotest::message_has("does not authenticate"));
    const auto bad = dir.file("bad.key");
    iotest::write_text(bad, "tooshort");
    BOOST_CHECK_EXCEPTION(io::load_model(path, {.expect_fingerprint = {}, .key_file = bad}),
                          config_error, iotest::message_has("32 raw bytes or 64 hex digits"));
}

BOOST_AUTO_TEST_CASE(fingerprint_mismatch_is_refused) {
    iotest::TempDir dir;
    const auto path = dir.file("m.esm");
    io::save_model(path, iotest::small_mlp(), {.fingerprint = 1234, .key_file = {}});
    BOOST_TEST(io::load_model(path, {.expect_fingerprint = 1234, .key_file = {}}).fingerprint() == 1234u);
    BOOST_CHECK_EXCEPTION(io::load_model(path, {.expect_fingerprint = 99, .key_file = {}}),
                          integrity_error, iotest::message_has("fingerprint 1234"));
}

BOOST_AUTO_TEST_CASE(tampered_byte_fails_the_checksum) {
    iotest::TempDir dir;
    const auto path = dir.file("m.esm");
    io::save_model(path, iotest::small_mlp());
    auto bytes = iotest::read_bytes(path);
    bytes[bytes.size() / 2] ^= 0x01; // one bit of one weight
    iotest::write_bytes(path, bytes);
    BOOST_CHECK_EXCEPTION(io::load_model(path), integrity_error,
                          iotest::message_has("SHA-256 mismatch"));
}

BOOST_AUTO_TEST_CASE(newer_version_is_refused_by_name) {
    iotest::TempDir dir;
    const auto path = dir.file("m.esm");
    io::save_model(path, iotest::small_mlp());
    auto bytes = iotest::read_bytes(path);
    bytes[8] = 9; // version 9
    iotest::write_bytes(path, iotest::reseal(bytes));
    BOOST_CHECK_EXCEPTION(io::load_model(path), format_error,
                          iotest::message_has("byte 8: format version 9"));
}

BOOST_AUTO_TEST_CASE(sequence_models_round_trip) {
    using Seq = nn::Sequential<nn::Input<6, 5>, nn::PositionalEmbedding, nn::MultiHeadSelfAttention<1>,
                               nn::LayerNorm, nn::GRU<4, true>, nn::LSTM<3>, nn::Dense<2>>;
    Seq m;
    Rng rng(9);
    m.init(rng);
    iotest::TempDir dir;
    const auto path = dir.file("seq.esm");
    io::save_model(path, m);
    const auto f = io::load_model_for<Seq>(path);
    iotest::check_same_graph(f.to_graph(), m.lower());
}

BOOST_AUTO_TEST_CASE(missing_file_is_a_file_error) {
    BOOST_CHECK_EXCEPTION(io::load_model("/nonexistent/dir/m.esm"), file_error,
                          iotest::message_has("/nonexistent/dir/m.esm"));
}

BOOST_AUTO_TEST_SUITE_END()
