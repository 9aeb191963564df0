// Registry: versions, manifests, model cards, promotion and rollback, integrity and signatures.
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deploy/scratch.hpp"
#include "edgestack/deploy/registry.hpp"

using namespace edgestack;
using deploy::Registry;

namespace {

std::vector<std::byte> bytes_of(const std::string& s) {
    const auto b = std::as_bytes(std::span(s.data(), s.size()));
    return {b.begin(), b.end()};
}

deploy::ModelInfo info_with(double accuracy) {
    deploy::ModelInfo info;
    info.metrics["accuracy"] = accuracy;
    info.dataset_fingerprint = "abc123";
    info.card.intended_use = "Tests.";
    info.card.per_class = {{"zero", 0.5, 0.75, 4}, {"one", 1.0, 0.5, 2}};
    info.card.known_limits = {"Only a test."};
    return info;
}

void overwrite(const std::filesystem::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

template <class E>
void require_throw_mentioning(auto&& f, const std::string& needle) {
    try {
        f();
    } catch (const E& e) {
        BOOST_TEST_INFO("message: " << e.what());
        BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos);
        return;
    }
    BOOST_FAIL("expected an exception mentioning '" + needle + "'");
}

} // namespace

BOOST_AUTO_TEST_SUITE(registry)

BOOST_AUTO_TEST_CASE(versions_are_numbered_and_manifests_round_trip) {
    test::Scratch dir("reg-basic");
    Registry reg(dir.path());
    BOOST_TEST(reg.add("fashion", bytes_of("model one"), info_with(0.8)) == 1u);
    auto info = info_with(0.9);
    info.extra_files.push_back({"reference.json", bytes_of("{}")});
    BOOST_TEST(reg.add("fashion", bytes_of("model two"), info) == 2u);
    BOOST_TEST(reg.versions("fashion") == (std::vector<std::uint64_t>{1, 2}));
    BOOST_TEST(reg.models() == (std::vector<std::string>{"fashion"}));
    BOOST_TEST(!reg.serving("fashion").has_value());

    const auto m = reg.manifest("fashion", 2);
    BOOST_TEST(m.name == "fashion");
    BOOST_TEST(m.version == 2u);
    BOOST_TEST(m.metrics.at("accuracy") == 0.9);
    BOOST_TEST(m.model_size == 9u);
    BOOST_TEST(m.sha256 == deploy::detail::sha256_hex(std::string_view("model two")));
    BOOST_TEST(m.files.count("reference.json") == 1u);
    BOOST_TEST(m.files.count(Registry::card_name) == 1u);

    const auto lm = reg.load("fashion", 2);
    BOOST_TEST(std::string(reinterpret_cast<const char*>(lm.bytes.data()), lm.bytes.size()) ==
               "model two");
    BOOST_TEST(reg.read_extra("fashion", 2, "reference.json").size() == 2u);

    const std::string card = deploy::detail::read_text(dir.path() / "fashion/2" /
                                                       Registry::card_name);
    BOOST_TEST(card.find("## Intended use") != std::string::npos);
    BOOST_TEST(card.find("| zero | 0.5000 | 0.7500 | 4 |") != std::string::npos);
    BOOST_TEST(card.find("Only a test.") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(known_sha256_vector) {
    // FIPS 180-2 example "abc".
    BOOST_TEST(deploy::detail::sha256_hex(std::string_view("abc")) ==
               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

BOOST_AUTO_TEST_CASE(promote_and_rollback_move_the_pointer) {
    test::Scratch dir("reg-promote");
    Registry reg(dir.path());
    for (int i = 0; i < 3; ++i) reg.add("m", bytes_of(std::string(1, 'v').append(std::to_string(i))), info_with(0.5));
    reg.promote("m", 1);
    reg.promote("m", 3);
    BOOST_TEST(*reg.serving("m") == 3u);
    BOOST_TEST(reg.add("m", bytes_of("v4"), info_with(0.5)) == 4u);
    BOOST_TEST(reg.manifest("m", 4).parent == 3u); // parent defaults to the serving version
    reg.promote("m", 4);
    BOOST_TEST(reg.rollback("m") == 3u);
    BOOST_TEST(*reg.serving("m") == 3u);
    BOOST_TEST(reg.rollback("m") == 1u);
    require_throw_mentioning<config_error>([&] { reg.rollback("m"); }, "no earlier");
    require_throw_mentioning<file_error>([&] { reg.promote("m", 9); }, "no such version");
    BOOST_TEST(*reg.serving("m") == 1u);
}

BOOST_AUTO_TEST_CASE(tampered_model_is_refused_and_not_promoted) {
    test::Scratch dir("reg-tamper");
    Registry reg(dir.path());
    reg.add("m", bytes_of("good bytes"), info_with(0.5));
    reg.add("m", bytes_of("more bytes"), info_with(0.6));
    reg.promote("m", 1);
    overwrite(dir.path() / "m/2/model.bin", "evil bytes");
    require_throw_mentioning<integrity_error>([&] { reg.load("m", 2); }, "model.bin: SHA-256");
    require_throw_mentioning<integrity_error>([&] { reg.promote("m", 2); }, "SHA-256");
    BOOST_TEST(*reg.serving("m") == 1u);
    overwrite(dir.path() / "m/2/model.bin", "short");
    require_throw_mentioning<integrity_error>([&] { reg.load("m", 2); }, "5 bytes");
    overwrite(dir.path() / "m/1" / Registry::card_name, "edited card");
    require_throw_mentioning<integrity_error>([&] { reg.load("m", 1); }, Registry::card_name);
}

BOOST_AUTO_TEST_CASE(bad_manifests_name_the_file_and_field) {
    test::Scratch dir("reg-badjson");
    Registry reg(dir.path());
    reg.add("m", bytes_of("x"), info_with(0.5));
    const auto mf = dir.path() / "m/1/manifest.json";
    const std::string good = deploy::detail::read_text(mf);
    overwrite(mf, "{\"schema\": 1, ");
    require_throw_mentioning<format_error>([&] { reg.load("m", 1); }, "manifest.json: byte");
    std::string no_sha = good;
    no_sha.replace(no_sha.find("\"sha256\""), 8, "\"sha000\"");
    overwrite(mf, no_sha);
    require_throw_mentioning<format_error>([&] { reg.load("m", 1); }, "field 'sha256'");
    std::string wrong_version = good;
    wrong_version.replace(wrong_version.find("\"version\": 1"), 12, "\"version\": 7");
    overwrite(mf, wrong_version);
    require_throw_mentioning<integrity_error>([&] { reg.load("m", 1); }, "'name'/'version'");
    std::string future = good;
    future.replace(future.find("\"schema\": 1"), 11, "\"schema\": 9");
    overwrite(mf, future);
    require_throw_mentioning<format_error>([&] { reg.load("m", 1); }, "field 'schema'");
}

BOOST_AUTO_TEST_CASE(bad_names_are_refused) {
    test::Scratch dir("reg-names");
    Registry reg(dir.path());
    require_throw_mentioning<config_error>([&] { reg.add("../up", bytes_of("x"), {}); },
                                           "model name '../up'");
    require_throw_mentioning<config_error>([&] { reg.add("a/b", bytes_of("x"), {}); }, "'/'");
    deploy::ModelInfo bad;
    bad.model_file = ".hidden";
    require_throw_mentioning<config_error>([&] { reg.add("m", bytes_of("x"), bad); }, ".hidden");
    deploy::ModelInfo clash;
    clash.extra_files.push_back({"manifest.json", {}});
    require_throw_mentioning<config_error>([&] { reg.add("m", bytes_of("x"), clash); },
                                           "reserved");
}

BOOST_AUTO_TEST_CASE(signatures_when_required) {
    test::Scratch dir("reg-sign");
    const auto key = dir.path() / "key";
    overwrite(key, "0123456789abcdef0123456789abcdef");
    const auto other_key = dir.path() / "other-key";
    overwrite(other_key, "fedcba9876543210fedcba9876543210");
    const auto root = dir.path() / "root";

    Registry unsigned_writer(root);
    unsigned_writer.add("m", bytes_of("unsigned"), info_with(0.5));      // v1, no signature
    Registry signer(root, {key, true});
    signer.add("m", bytes_of("signed"), info_with(0.6));                 // v2, signed
    BOOST_TEST(signer.load("m", 2).signature_verified);
    require_throw_mentioning<integrity_error>([&] { signer.load("m", 1); }, "unsigned");
    require_throw_mentioning<integrity_error>([&] { signer.promote("m", 1); }, "unsigned");

    Registry wrong_key(root, {other_key, true});
    require_throw_mentioning<integrity_error>([&] { wrong_key.load("m", 2); }, "signature");

    // Editing the manifest (say, to match a swapped model) breaks the signature.
    const auto mf = root / "m/2/manifest.json";
    std::string text = deploy::detail::read_text(mf);
    text.replace(text.find("\"accuracy\": 0.6"), 15, "\"accuracy\": 0.9");
    overwrite(mf, text);
    require_throw_mentioning<integrity_error>([&] { signer.load("m", 2); }, "HMAC-SHA256");

    overwrite(dir.path() / "short-key", "tiny");
    require_throw_mentioning<config_error>(
        [&] { Registry r(root, {dir.path() / "short-key", false}); }, "at least 16");
    require_throw_mentioning<config_error>([&] { Registry r(root, {{}, true}); }, "key_file");
}

BOOST_AUTO_TEST_CASE(stale_pointer_temporaries_are_removed_by_the_next_writer) {
    test::Scratch dir("reg-stale-tmp");
    Registry reg(dir.path());
    reg.add("m", bytes_of("one"), info_with(0.5));
    reg.add("m", bytes_of("two"), info_with(0.5));
    // A writer killed between write and rename leaves serving.json.tmp-<its pid>.
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    BOOST_TEST_REQUIRE(child > 0);
    int status = 0;
    BOOST_TEST_REQUIRE(::waitpid(child, &status, 0) == child);
    const auto dead = dir.path() / "m" / ("serving.json.tmp-" + std::to_string(child));
    const auto live = dir.path() / "m" / ("serving.json.tmp-" + std::to_string(::getppid()));
    overwrite(dead, "{\"version\": 1");
    overwrite(live, "{\"version\": 2");
    reg.promote("m", 1);
    BOOST_TEST(!std::filesystem::exists(dead));
    BOOST_TEST(std::filesystem::exists(live)); // its writer may still be running
    BOOST_TEST(*reg.serving("m") == 1u);
}

BOOST_AUTO_TEST_CASE(special_files_are_refused_unread) {
    test::Scratch dir("reg-special");
    Registry reg(dir.path());
    reg.add("m", bytes_of("good bytes"), info_with(0.5));
    reg.add("m", bytes_of("more bytes"), info_with(0.5));
    const auto model = dir.path() / "m/1/model.bin";
    std::filesystem::remove(model);
    BOOST_TEST_REQUIRE(::mkfifo(model.c_str(), 0644) == 0);
    require_throw_mentioning<file_error>([&] { reg.load("m", 1); }, "not a regular file");
    const auto other = dir.path() / "m/2/model.bin";
    std::filesystem::remove(other);
    std::filesystem::create_symlink("/dev/zero", other);
    require_throw_mentioning<file_error>([&] { reg.load("m", 2); }, "not a regular file");
    // A model file larger than the manifest says is refused before it is read.
    std::filesystem::remove(other);
    overwrite(other, std::string(1 << 20, 'x'));
    require_throw_mentioning<integrity_error>([&] { reg.load("m", 2); }, "1048576 bytes, expected 10 (the size the manifest states)");
    std::filesystem::remove(dir.path() / "m/2/manifest.json");
    BOOST_TEST_REQUIRE(::mkfifo((dir.path() / "m/2/manifest.json").c_str(), 0644) == 0);
    require_throw_mentioning<file_error>([&] { reg.load("m", 2); }, "manifest.json: cannot read: it is a FIFO, not a regular file");
}

BOOST_AUTO_TEST_SUITE_END()
