// The audio front end (data/audio.hpp) and WAV reading (data/wav.hpp): MFCC and log-mel
// frames against torchaudio's on the same WAV file (fixtures written by
// test/fixtures/make_audio_fixtures.py), streaming against batch, no allocation once built,
// and clear refusals of bad input.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <new>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "data/fixtures.hpp"
#include "edgestack/data/audio.hpp"
#include "edgestack/data/wav.hpp"

// Every form of the global operator new, and (outside AddressSanitizer, whose interceptors
// own them) malloc, calloc and realloc, forwarded to glibc's __libc_* entry points: KissFFT
// and libsndfile allocate with malloc.
#if defined(__SANITIZE_ADDRESS__)
#define EDGESTACK_AUDIO_COUNT_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EDGESTACK_AUDIO_COUNT_MALLOC 0
#endif
#endif
#if !defined(EDGESTACK_AUDIO_COUNT_MALLOC) && defined(__GLIBC__)
#define EDGESTACK_AUDIO_COUNT_MALLOC 1
#elif !defined(EDGESTACK_AUDIO_COUNT_MALLOC)
#define EDGESTACK_AUDIO_COUNT_MALLOC 0
#endif

namespace {
std::atomic<long> g_allocations{0};
void* counted(std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(n == 0 ? 1 : n);
}
void* counted_aligned(std::size_t n, std::align_val_t a) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    const auto al = std::max(static_cast<std::size_t>(a), sizeof(void*));
    void* p = nullptr;
    return ::posix_memalign(&p, al, n == 0 ? 1 : n) == 0 ? p : nullptr;
}
template <class P>
P or_throw(P p) {
    if (!p) throw std::bad_alloc();
    return p;
}
} // namespace

void* operator new(std::size_t n) { return or_throw(counted(n)); }
void* operator new[](std::size_t n) { return or_throw(counted(n)); }
void* operator new(std::size_t n, std::align_val_t a) { return or_throw(counted_aligned(n, a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return or_throw(counted_aligned(n, a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

#if EDGESTACK_AUDIO_COUNT_MALLOC
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* malloc(std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t s) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(n, s);
}
void* realloc(void* p, std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, n);
}
}
#endif

namespace {

namespace data = edgestack::data;
using fixtures::message_of;

const std::string fixture_dir = std::string(EDGESTACK_SOURCE_DIR) + "/test/fixtures/audio/";

long allocations() { return g_allocations.load(std::memory_order_relaxed); }

struct Expected {
    std::size_t frames = 0, features = 0;
    std::vector<double> values;
};

Expected read_expected(const std::string& name) {
    std::ifstream in(fixture_dir + name + ".expected.txt");
    BOOST_TEST_REQUIRE(in.good(), "missing fixture " << name);
    Expected e;
    std::string word;
    in >> word >> e.frames >> word >> e.features;
    double v;
    while (in >> v) e.values.push_back(v);
    BOOST_TEST_REQUIRE(e.values.size() == e.frames * e.features);
    return e;
}

// The configurations of make_audio_fixtures.py, as AudioOptions.
data::AudioOptions mfcc_htk() {
    data::AudioOptions o;
    o.sample_rate = 16000;
    o.n_fft = 400;
    o.hop_length = 160;
    o.n_mels = 40;
    o.n_mfcc = 13;
    return o;
}
data::AudioOptions mfcc_slaney_natural() {
    data::AudioOptions o;
    o.n_fft = 512;
    o.win_length = 400;
    o.hop_length = 160;
    o.n_mels = 64;
    o.f_min = 20.0;
    o.f_max = 7600.0;
    o.mel_scale = data::MelScale::slaney;
    o.mel_norm = data::MelNorm::slaney;
    o.log = data::LogKind::natural;
    o.n_mfcc = 20;
    return o;
}
data::AudioOptions logmel_magnitude_valid() {
    data::AudioOptions o;
    o.n_fft = 640;
    o.hop_length = 320;
    o.center = false;
    o.n_mels = 40;
    o.spectrum = data::Spectrum::magnitude;
    o.feature = data::AudioFeature::log_mel;
    return o;
}

// Relative to the value, with values under 1 in magnitude held to 1e-4 absolute (an MFCC
// coefficient can pass through zero, where no relative bound means anything).
constexpr double tolerance = 1e-4;

void check_against_torchaudio(const std::string& name, const data::AudioOptions& options) {
    const Expected e = read_expected(name);
    const data::Audio audio = data::read_wav(fixture_dir + "speechlike.wav");
    data::AudioFrontEnd fe(options);
    const std::vector<float> got = fe.run(audio);
    BOOST_TEST_REQUIRE(fe.frames_for(audio.samples.size()) == e.frames);
    BOOST_TEST_REQUIRE(fe.feature_size() == e.features);
    BOOST_TEST_REQUIRE(got.size() == e.values.size());
    double worst = 0.0;
    std::size_t worst_at = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double err = std::abs(got[i] - e.values[i]) / std::max(1.0, std::abs(e.values[i]));
        if (err > worst) {
            worst = err;
            worst_at = i;
        }
    }
    BOOST_TEST_MESSAGE(name << ": worst relative difference " << worst << " (frame "
                            << worst_at / e.features << ", feature " << worst_at % e.features
                            << ")");
    BOOST_TEST(worst <= tolerance, name << ": frame " << worst_at / e.features << ", feature "
                                        << worst_at % e.features << ": " << got[worst_at]
                                        << " against torchaudio's " << e.values[worst_at]);
}

std::vector<float> noise_signal(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 0.1f);
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i)
        x[i] = 0.3f * std::sin(0.05f * static_cast<float>(i)) + d(rng);
    return x;
}

std::vector<std::uint8_t> wav_bytes(std::uint32_t rate, std::uint16_t channels,
                                    const std::vector<std::int16_t>& samples) {
    std::vector<std::uint8_t> b;
    auto str = [&](const char* s) { b.insert(b.end(), s, s + 4); };
    auto u32 = [&](std::uint32_t v) {
        for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    };
    auto u16 = [&](std::uint16_t v) {
        b.push_back(static_cast<std::uint8_t>(v));
        b.push_back(static_cast<std::uint8_t>(v >> 8));
    };
    const auto data_bytes = static_cast<std::uint32_t>(samples.size() * 2);
    str("RIFF");
    u32(36 + data_bytes);
    str("WAVE");
    str("fmt ");
    u32(16);
    u16(1);
    u16(channels);
    u32(rate);
    u32(rate * channels * 2u);
    u16(static_cast<std::uint16_t>(channels * 2));
    u16(16);
    str("data");
    u32(data_bytes);
    for (auto s : samples) u16(static_cast<std::uint16_t>(s));
    return b;
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

} // namespace

BOOST_AUTO_TEST_SUITE(audio)

BOOST_AUTO_TEST_CASE(mfcc_htk_matches_torchaudio) { check_against_torchaudio("mfcc_htk", mfcc_htk()); }

BOOST_AUTO_TEST_CASE(mfcc_slaney_natural_log_matches_torchaudio) {
    check_against_torchaudio("mfcc_slaney_natural", mfcc_slaney_natural());
}

BOOST_AUTO_TEST_CASE(log_mel_of_magnitude_uncentred_matches_torchaudio) {
    check_against_torchaudio("logmel_magnitude_valid", logmel_magnitude_valid());
}

BOOST_AUTO_TEST_CASE(wav_reader_gives_the_samples_and_rate) {
    fixtures::TempDir dir("audio-wav");
    const std::vector<std::int16_t> s{0, 16384, -32768, 32767, -16384, 8192};
    fixtures::write_bytes(dir / "mono.wav", wav_bytes(8000, 1, s));
    const auto a = data::read_wav(dir / "mono.wav");
    BOOST_TEST(a.sample_rate == 8000u);
    BOOST_TEST_REQUIRE(a.samples.size() == s.size());
    for (std::size_t i = 0; i < s.size(); ++i)
        BOOST_TEST(a.samples[i] == static_cast<float>(s[i]) / 32768.0f);
    // Two channels are averaged into one.
    fixtures::write_bytes(dir / "stereo.wav", wav_bytes(8000, 2, {16384, 0, -8192, -8192}));
    const auto st = data::read_wav(dir / "stereo.wav");
    BOOST_TEST_REQUIRE(st.samples.size() == 2u);
    BOOST_TEST(st.samples[0] == 0.25f);
    BOOST_TEST(st.samples[1] == -0.25f);
    // A length of 0x7ffff000 means "unknown" (espeak-ng --stdout writes it): all that is
    // there is read.
    auto streamed = wav_bytes(16000, 1, std::vector<std::int16_t>(100, 7));
    for (int i = 0; i < 4; ++i) streamed[40 + i] = static_cast<std::uint8_t>(0x7ffff000u >> (8 * i));
    fixtures::write_bytes(dir / "streamed.wav", streamed);
    BOOST_TEST(data::read_wav(dir / "streamed.wav").samples.size() == 100u);
}

BOOST_AUTO_TEST_CASE(streaming_gives_the_batch_frames) {
    // Also frames further apart than they are long: samples between frames are skipped.
    data::AudioOptions sparse = mfcc_htk();
    sparse.n_fft = 256;
    sparse.hop_length = 300;
    sparse.n_mels = 20;
    for (const auto& options : {mfcc_htk(), mfcc_slaney_natural(), logmel_magnitude_valid(), sparse}) {
        const auto x = noise_signal(12345, 7);
        data::AudioFrontEnd batch(options), stream(options);
        const auto want = batch.run(x);
        std::mt19937 rng(3);
        // Two utterances through the same stream: finish() readies it for the next.
        for (int utterance = 0; utterance < 2; ++utterance) {
            std::vector<float> got;
            std::size_t at = 0, counted = 0;
            auto keep = [&](std::span<const float> f) { got.insert(got.end(), f.begin(), f.end()); };
            while (at < x.size()) {
                const std::size_t n = std::min<std::size_t>(x.size() - at, 1 + rng() % 700);
                counted += stream.push(std::span<const float>(x).subspan(at, n), keep);
                at += n;
            }
            counted += stream.finish(keep);
            BOOST_TEST(counted == stream.frames_for(x.size()));
            BOOST_TEST(got == want, boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(uncentred_frame_t_is_the_samples_from_t_times_hop) {
    // Each frame is the one frame of its own slice, whether frames overlap or not.
    for (const std::size_t hop : {100, 256, 300}) {
        data::AudioOptions o = logmel_magnitude_valid();
        o.n_fft = 256;
        o.hop_length = hop;
        o.n_mels = 20;
        data::AudioFrontEnd fe(o), one(o);
        const auto x = noise_signal(5000, 5);
        const auto all = fe.run(x);
        const std::size_t k = fe.feature_size();
        BOOST_TEST_REQUIRE(all.size() == fe.frames_for(x.size()) * k);
        for (std::size_t t = 0; t < fe.frames_for(x.size()); ++t) {
            const auto f = one.run(std::span<const float>(x).subspan(t * hop, o.n_fft));
            BOOST_TEST(std::vector<float>(all.begin() + static_cast<std::ptrdiff_t>(t * k),
                                          all.begin() + static_cast<std::ptrdiff_t>((t + 1) * k)) == f,
                       boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(once_built_the_front_end_allocates_nothing) {
    // The counter sees what it must: a probe of each kind first.
    static int* volatile object = nullptr;
    static void* volatile block = nullptr;
    long before = allocations();
    object = new int(1);
    delete object;
    BOOST_TEST(allocations() - before >= 1);
    before = allocations();
    block = std::malloc(64);
    std::free(block);
    BOOST_TEST(allocations() - before == (EDGESTACK_AUDIO_COUNT_MALLOC ? 1 : 0));

    for (const auto& options : {mfcc_htk(), mfcc_slaney_natural(), logmel_magnitude_valid()}) {
        data::AudioFrontEnd fe(options);
        const auto x = noise_signal(16000, 11);
        std::vector<float> out(fe.frames_for(x.size()) * fe.feature_size());
        float sum = 0.0f;
        auto consume = [&](std::span<const float> f) { sum += f[0]; };
        before = allocations();
        for (int round = 0; round < 3; ++round) {
            for (std::size_t at = 0; at < x.size(); at += 320)
                fe.push(std::span<const float>(x).subspan(at, std::min<std::size_t>(320, x.size() - at)),
                        consume);
            fe.finish(consume);
            fe.run(x, out); // the batch form into the caller's buffer
        }
        BOOST_TEST(allocations() - before == 0);
        BOOST_TEST(std::isfinite(sum));
    }
}

BOOST_AUTO_TEST_CASE(empty_and_short_input_is_refused) {
    data::AudioFrontEnd fe(mfcc_htk());
    const std::vector<float> none;
    auto msg = message_of<edgestack::format_error>([&] { fe.run(none); });
    BOOST_TEST(has(msg, "has no samples"), msg);
    const std::vector<float> short_(200, 0.1f); // centred n_fft 400 needs 201
    msg = message_of<edgestack::format_error>([&] { fe.run(short_); });
    BOOST_TEST(has(msg, "too short: 200 samples, a frame needs at least 201 (n_fft 400, centred)"), msg);
    // The stream refuses at its end, and is ready for the next utterance all the same.
    auto ignore = [](std::span<const float>) {};
    fe.push(short_, ignore);
    msg = message_of<edgestack::format_error>([&] { fe.finish(ignore); });
    BOOST_TEST(has(msg, "too short"), msg);
    const auto x = noise_signal(1600, 1);
    const std::size_t pushed = fe.push(x, ignore);
    BOOST_TEST(pushed + fe.finish(ignore) == fe.frames_for(x.size()));

    data::AudioFrontEnd valid(logmel_magnitude_valid());
    msg = message_of<edgestack::format_error>([&] { valid.run(short_); });
    BOOST_TEST(has(msg, "a frame needs at least 640 (n_fft 640)"), msg);
    std::vector<float> wrong(3);
    msg = message_of<edgestack::shape_error>([&] { valid.run(x, wrong); });
    BOOST_TEST(has(msg, "output holds 3 values, 1600 samples give 4 frames of 40 = 160"), msg);
}

BOOST_AUTO_TEST_CASE(wrong_sample_rate_is_refused) {
    fixtures::TempDir dir("audio-rate");
    fixtures::write_bytes(dir / "8k.wav", wav_bytes(8000, 1, std::vector<std::int16_t>(4000, 100)));
    const auto a = data::read_wav(dir / "8k.wav");
    data::AudioFrontEnd fe(mfcc_htk());
    const auto msg = message_of<edgestack::format_error>([&] { fe.run(a); });
    BOOST_TEST(has(msg, "8k.wav' is sampled at 8000 Hz, the front end expects 16000 Hz"), msg);
}

BOOST_AUTO_TEST_CASE(bad_files_are_refused_by_name) {
    fixtures::TempDir dir("audio-bad");
    auto msg = message_of<edgestack::file_error>([&] { data::read_wav(dir / "missing.wav"); });
    BOOST_TEST(has(msg, "missing.wav: no such file"), msg);

    fixtures::write_text(dir / "notes.wav", "these are not sound samples, only words\n");
    msg = message_of<edgestack::format_error>([&] { data::read_wav(dir / "notes.wav"); });
    BOOST_TEST(has(msg, "notes.wav: not a readable WAV file (libsndfile: "), msg);

    // A WAV whose format chunk is cut off after its first bytes.
    auto bytes = wav_bytes(16000, 1, std::vector<std::int16_t>(100, 5));
    bytes.resize(24);
    fixtures::write_bytes(dir / "cut.wav", bytes);
    msg = message_of<edgestack::format_error>([&] { data::read_wav(dir / "cut.wav"); });
    BOOST_TEST(has(msg, "cut.wav: not a readable WAV file"), msg);

    // A WAV whose samples end before the length its header announces (a copy cut off).
    bytes = wav_bytes(16000, 1, std::vector<std::int16_t>(100, 5));
    bytes.resize(44 + 60);
    fixtures::write_bytes(dir / "truncated.wav", bytes);
    msg = message_of<edgestack::format_error>([&] { data::read_wav(dir / "truncated.wav"); });
    BOOST_TEST(has(msg, "truncated.wav: cut short: the header announces 200 bytes of samples, "
                        "the file holds 60"), msg);

    // A WAV with a header and no samples.
    fixtures::write_bytes(dir / "empty.wav", wav_bytes(16000, 1, {}));
    msg = message_of<edgestack::format_error>([&] { data::read_wav(dir / "empty.wav"); });
    BOOST_TEST(has(msg, "empty.wav: holds no samples"), msg);

    // Sound libsndfile reads, in another container: an AIFF file.
    std::vector<std::uint8_t> aiff;
    auto be = [&](std::uint32_t v, int n) {
        for (int i = n - 1; i >= 0; --i) aiff.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    };
    auto str = [&](const char* s) { aiff.insert(aiff.end(), s, s + 4); };
    const std::uint32_t frames = 16;
    str("FORM");
    be(4 + 26 + 16 + frames * 2, 4);
    str("AIFF");
    str("COMM");
    be(18, 4);
    be(1, 2);       // channels
    be(frames, 4);  // frames
    be(16, 2);      // bits
    // 16000 Hz as an 80-bit extended float: exponent 16383 + 13, mantissa 16000 << 50.
    be(0x400C, 2);
    be(0xFA000000u, 4);
    be(0, 4);
    str("SSND");
    be(8 + frames * 2, 4);
    be(0, 4);
    be(0, 4);
    for (std::uint32_t i = 0; i < frames; ++i) be(i * 100, 2);
    fixtures::write_bytes(dir / "tone.aiff", aiff);
    msg = message_of<edgestack::format_error>([&] { data::read_wav(dir / "tone.aiff"); });
    BOOST_TEST(has(msg, "tone.aiff: AIFF (Apple/SGI) sound, not a WAV file"), msg);
}

BOOST_AUTO_TEST_CASE(bad_options_name_the_setting) {
    auto refused = [](data::AudioOptions o) {
        return message_of<edgestack::config_error>([&] { data::AudioFrontEnd fe(o); });
    };
    data::AudioOptions o = mfcc_htk();
    o.n_fft = 401;
    BOOST_TEST(has(refused(o), "n_fft 401 must be even"));
    o = mfcc_htk();
    o.n_fft = 882; // 441 = 3^2 7^2: KissFFT's generic butterfly, which mallocs per call
    BOOST_TEST(has(refused(o), "n_fft 882: n_fft / 2 = 441 has the prime factor 7, and KissFFT "
                               "allocates on every transform with a factor above 5; use an n_fft "
                               "whose half has only the factors 2, 3 and 5 (nearest: 864 or 900)"),
               refused(o));
    o = mfcc_htk();
    o.win_length = 512;
    BOOST_TEST(has(refused(o), "win_length 512 is longer than n_fft 400"));
    o = mfcc_htk();
    o.f_max = 9000.0;
    BOOST_TEST(has(refused(o), "above half the sample rate"));
    o = mfcc_htk();
    o.n_mfcc = 41;
    BOOST_TEST(has(refused(o), "n_mfcc 41 must be between 1 and n_mels 40"));
    o = mfcc_htk();
    o.n_mels = 200;
    BOOST_TEST(has(refused(o), "covers no FFT bin"));
    o = mfcc_htk();
    o.sample_rate = 0;
    BOOST_TEST(has(refused(o), "sample_rate must be positive"));
}

BOOST_AUTO_TEST_SUITE_END()
