// deploy::Registry: versioned models on disk, <root>/<name>/<version>/ with a manifest, a
// model card and the model bytes. Stage 4 (deploy): training registers, the server loads the
// serving version, promotion and rollback switch one pointer file atomically.
// Link edgestack::crypto (SHA-256, HMAC-SHA256 from OpenSSL); uses nlohmann-json headers.
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "edgestack/core/error.hpp"
#include "edgestack/deploy/detail/crypto.hpp"
#include "edgestack/deploy/detail/durable_fs.hpp"
#include "edgestack/deploy/model_card.hpp"

namespace edgestack::deploy {

namespace fs = std::filesystem;

/// What the caller knows about a model it registers. The registry adds the rest (version,
/// time, digests, signature).
struct ModelInfo {
    std::string model_file = "model.bin";            ///< file name inside the version folder
    std::string format = "application/octet-stream"; ///< MIME type recorded in the manifest
    std::map<std::string, double> metrics;           ///< "accuracy", "loss", ...
    std::string dataset_fingerprint;                 ///< e.g. SHA-256 of the training data
    /// Parent version; when unset, the version serving at registration time (if any).
    std::optional<std::uint64_t> parent;
    ModelCard card; ///< rendered into MODEL_CARD.md
    /// Further files stored and digested with the model (a drift reference sample, labels).
    std::vector<std::pair<std::string, std::vector<std::byte>>> extra_files;
};

/// The parsed manifest.json of one version.
struct Manifest {
    /// The schema this code writes; readers refuse a newer one.
    static constexpr int schema_version = 1;
    int schema = schema_version;              ///< schema of this manifest
    std::string name;                         ///< model name
    std::uint64_t version = 0;                ///< version number, 1, 2, ...
    std::string created;                      ///< ISO 8601, UTC
    std::string model_file;                   ///< file name of the model inside the version folder
    std::string format;                       ///< MIME type of the model file
    std::uint64_t model_size = 0;             ///< bytes of the model file
    std::string sha256;                       ///< of the model file
    std::map<std::string, double> metrics;    ///< metrics given at registration ("accuracy", ...)
    std::string dataset_fingerprint;          ///< traces the training data (e.g. its SHA-256)
    std::uint64_t parent = 0;                 ///< 0: none
    std::map<std::string, std::string> files; ///< every other stored file -> its SHA-256
};

/// A version read back and verified: digests match, and the signature when there is one.
struct LoadedModel {
    Manifest manifest;               ///< the version's manifest
    std::vector<std::byte> bytes;    ///< the model file's bytes
    fs::path dir;                    ///< the version's folder
    bool signature_verified = false; ///< whether a signature was present and matched
};

/// How a Registry signs and verifies.
struct RegistryOptions {
    /// HMAC-SHA256 key file (raw bytes, at least 16). When set, new versions are signed and
    /// signed versions are verified on load.
    fs::path key_file;
    /// Refuse to load or promote any version without a valid signature.
    bool require_signature = false;
};

/// The serving pointer of a model: the current version and the ones it replaced, newest
/// last, so a rollback can walk back.
struct ServingPointer {
    std::uint64_t version = 0;          ///< the version serving now
    std::vector<std::uint64_t> history; ///< versions that served before it, newest last
};

namespace detail {

inline void check_name(const std::string& what, const std::string& s) {
    if (s.empty() || s.size() > 128 || s.front() == '.')
        throw config_error("registry: " + what + " '" + s +
                           "' must be 1-128 characters and not start with '.'");
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
            throw config_error("registry: " + what + " '" + s + "' has character '" +
                               std::string(1, c) + "'; use letters, digits, '-', '_', '.'");
}

inline std::string utc_now_iso8601() {
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

inline nlohmann::json to_json(const Manifest& m) {
    nlohmann::json j;
    j["schema"] = m.schema;
    j["name"] = m.name;
    j["version"] = m.version;
    j["created"] = m.created;
    j["model_file"] = m.model_file;
    j["format"] = m.format;
    j["model_size"] = m.model_size;
    j["sha256"] = m.sha256;
    j["metrics"] = m.metrics;
    j["dataset_fingerprint"] = m.dataset_fingerprint;
    j["parent"] = m.parent;
    j["files"] = m.files;
    return j;
}

template <class T>
T field(const nlohmann::json& j, const char* key, const fs::path& file) {
    if (!j.contains(key))
        throw format_error(file.string() + ": field '" + key + "' is missing");
    // nlohmann casts a float to an integer unchecked (1e300 to int is undefined): refuse it.
    const auto fraction = [&](const nlohmann::json& v) {
        if (v.is_number_float())
            throw format_error(file.string() + ": field '" + key + "' must hold whole numbers");
    };
    if constexpr (std::is_integral_v<T>) fraction(j.at(key));
    if constexpr (requires { typename T::value_type; } && !std::is_same_v<T, std::string>)
        if constexpr (std::is_integral_v<typename T::value_type>)
            if (j.at(key).is_array())
                for (const auto& v : j.at(key)) fraction(v);
    try {
        return j.at(key).get<T>();
    } catch (const nlohmann::json::exception& e) {
        throw format_error(file.string() + ": field '" + key + "' has the wrong type (" +
                           e.what() + ")");
    }
}

inline nlohmann::json parse_json_file(const fs::path& file, const std::string& text) {
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw format_error(file.string() + ": byte " + std::to_string(e.byte) +
                           ": not valid JSON (" + e.what() + ")");
    } catch (const nlohmann::json::exception& e) { // 1E400: out_of_range, not parse_error
        throw format_error(file.string() + ": not valid JSON (" + e.what() + ")");
    }
}

inline Manifest manifest_from_json(const nlohmann::json& j, const fs::path& file) {
    if (!j.is_object()) throw format_error(file.string() + ": top level must be an object");
    Manifest m;
    m.schema = field<int>(j, "schema", file);
    if (m.schema < 1 || m.schema > Manifest::schema_version)
        throw format_error(file.string() + ": field 'schema' is " + std::to_string(m.schema) +
                           "; this reader knows 1.." + std::to_string(Manifest::schema_version));
    m.name = field<std::string>(j, "name", file);
    m.version = field<std::uint64_t>(j, "version", file);
    m.created = field<std::string>(j, "created", file);
    m.model_file = field<std::string>(j, "model_file", file);
    m.format = field<std::string>(j, "format", file);
    m.model_size = field<std::uint64_t>(j, "model_size", file);
    m.sha256 = field<std::string>(j, "sha256", file);
    m.metrics = field<std::map<std::string, double>>(j, "metrics", file);
    m.dataset_fingerprint = field<std::string>(j, "dataset_fingerprint", file);
    m.parent = field<std::uint64_t>(j, "parent", file);
    m.files = field<std::map<std::string, std::string>>(j, "files", file);
    check_name("model file name (field 'model_file' of " + file.string() + ")", m.model_file);
    for (const auto& [f, _] : m.files)
        check_name("file name (field 'files' of " + file.string() + ")", f);
    return m;
}

inline bool parse_version(const std::string& s, std::uint64_t& v) {
    if (s.empty() || s.size() > 18) return false;
    v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return v > 0 && s.front() != '0';
}

} // namespace detail

/// Versions of models in a folder, each with a manifest, a model card and digests (optionally
/// signed), and a serving pointer per model that promote() and rollback() move. Writers
/// take a lock file; every write is atomic (see docs/deploy.md).
class Registry {
public:
    static constexpr const char* manifest_name = "manifest.json";      ///< in a version folder
    static constexpr const char* signature_name = "manifest.json.sig"; ///< its HMAC, if signed
    static constexpr const char* card_name = "MODEL_CARD.md";          ///< in a version folder
    static constexpr const char* pointer_name = "serving.json";        ///< in a model folder

    /// Opens (creating it if needed) the registry at `root`. Throws config_error for a key file
    /// shorter than 16 bytes or require_signature without a key, file_error when `root` cannot
    /// be created.
    explicit Registry(fs::path root, RegistryOptions options = {})
        : root_(std::move(root)), options_(std::move(options)) {
        if (options_.require_signature && options_.key_file.empty())
            throw config_error("registry: require_signature is set but no key_file is given");
        if (!options_.key_file.empty()) {
            key_ = detail::read_file(options_.key_file);
            if (key_.size() < 16)
                throw config_error(options_.key_file.string() + ": signing key has " +
                                   std::to_string(key_.size()) +
                                   " bytes; at least 16 are needed");
        }
        std::error_code ec;
        fs::create_directories(root_, ec);
        if (ec) throw file_error(root_.string() + ": cannot create registry root: " + ec.message());
    }

    /// The registry's folder.
    const fs::path& root() const noexcept { return root_; }
    /// Whether new versions get signed (a key file was given).
    bool signing() const noexcept { return !key_.empty(); }

    /// Store a new version and return its number (1, 2, ...). Nothing is visible under
    /// `<name>/<version>/` until every file is on disk: the folder is written under a hidden
    /// name and renamed in one step.
    std::uint64_t add(const std::string& name, std::span<const std::byte> model,
                      const ModelInfo& info) {
        detail::check_name("model name", name);
        detail::check_name("model file name", info.model_file);
        for (const auto& [f, _] : info.extra_files) {
            detail::check_name("extra file name", f);
            if (f == info.model_file || f == manifest_name || f == signature_name ||
                f == card_name)
                throw config_error("registry: extra file '" + f + "' clashes with a reserved name");
        }
        const fs::path dir = root_ / name;
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) throw file_error(dir.string() + ": cannot create: " + ec.message());
        detail::FileLock lock(dir / ".lock");
        remove_stale_staging(dir);

        const auto existing = versions(name);
        const std::uint64_t version = existing.empty() ? 1 : existing.back() + 1;
        Manifest m;
        m.name = name;
        m.version = version;
        m.created = detail::utc_now_iso8601();
        m.model_file = info.model_file;
        m.format = info.format;
        m.model_size = model.size();
        m.sha256 = detail::sha256_hex(model);
        m.metrics = info.metrics;
        m.dataset_fingerprint = info.dataset_fingerprint;
        if (info.parent) m.parent = *info.parent;
        else if (auto p = serving(name)) m.parent = *p;

        const std::string card = render_model_card(m, info.card);
        const fs::path staging = dir / (".staging-" + std::to_string(::getpid()));
        fs::remove_all(staging, ec);
        if (!fs::create_directory(staging, ec) || ec)
            throw file_error(staging.string() + ": cannot create: " + ec.message());
        detail::write_file_synced(staging / info.model_file, model);
        for (const auto& [f, bytes] : info.extra_files) {
            detail::write_file_synced(staging / f, bytes);
            m.files[f] = detail::sha256_hex(bytes);
        }
        detail::write_file_synced(staging / card_name, card);
        m.files[card_name] = detail::sha256_hex(card);
        const std::string manifest_text = detail::to_json(m).dump(2) + "\n";
        detail::write_file_synced(staging / manifest_name, manifest_text);
        if (signing()) detail::write_file_synced(staging / signature_name, sign(manifest_text));
        detail::fsync_path(staging, true);
        const fs::path final_dir = dir / std::to_string(version);
        if (::rename(staging.c_str(), final_dir.c_str()) != 0)
            throw file_error(final_dir.string() + ": cannot publish version: " +
                             detail::errno_text());
        detail::fsync_path(dir, true);
        return version;
    }

    /// Every registered model name, sorted.
    std::vector<std::string> models() const {
        std::vector<std::string> out;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(root_, ec)) {
            const std::string n = e.path().filename().string();
            if (e.is_directory() && !n.empty() && n.front() != '.') out.push_back(n);
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    /// Published versions of `name`, ascending. Half-written (staging) folders never appear.
    std::vector<std::uint64_t> versions(const std::string& name) const {
        detail::check_name("model name", name);
        std::vector<std::uint64_t> out;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(root_ / name, ec)) {
            std::uint64_t v = 0;
            if (e.is_directory() && detail::parse_version(e.path().filename().string(), v))
                out.push_back(v);
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    /// Whether version `version` of `name` exists (verified or not).
    bool has(const std::string& name, std::uint64_t version) const {
        detail::check_name("model name", name);
        return fs::is_directory(root_ / name / std::to_string(version));
    }

    /// The serving pointer, or nothing when no version was ever promoted.
    std::optional<ServingPointer> pointer(const std::string& name) const {
        detail::check_name("model name", name);
        const fs::path p = root_ / name / pointer_name;
        if (!fs::exists(p)) return std::nullopt;
        const auto j = detail::parse_json_file(p, detail::read_text(p));
        ServingPointer sp;
        sp.version = detail::field<std::uint64_t>(j, "version", p);
        sp.history = detail::field<std::vector<std::uint64_t>>(j, "history", p);
        return sp;
    }

    /// The serving version, or nothing when no version was ever promoted.
    std::optional<std::uint64_t> serving(const std::string& name) const {
        if (auto p = pointer(name)) return p->version;
        return std::nullopt;
    }

    /// Read and check the manifest of one version (digests of the files are checked by load).
    Manifest manifest(const std::string& name, std::uint64_t version) const {
        const fs::path dir = version_dir(name, version);
        const fs::path mf = dir / manifest_name;
        const std::string text = detail::read_text(mf);
        verify_signature(dir, text);
        Manifest m = detail::manifest_from_json(detail::parse_json_file(mf, text), mf);
        if (m.name != name || m.version != version)
            throw integrity_error(mf.string() + ": fields 'name'/'version' say " + m.name + "/" +
                                  std::to_string(m.version) + " but the file sits in " + name +
                                  "/" + std::to_string(version));
        return m;
    }

    /// Read one version and verify it: signature (when signed or required), size and
    /// SHA-256 of the model and of every other listed file.
    LoadedModel load(const std::string& name, std::uint64_t version) const {
        LoadedModel lm;
        lm.dir = version_dir(name, version);
        lm.manifest = manifest(name, version);
        lm.signature_verified = signing() && fs::exists(lm.dir / signature_name);
        const fs::path mfile = lm.dir / lm.manifest.model_file;
        // Bounded by the stated size: a planted FIFO or /dev/zero link is refused unread.
        lm.bytes = detail::read_file(mfile, lm.manifest.model_size, true);
        if (lm.bytes.size() != lm.manifest.model_size)
            throw integrity_error(mfile.string() + ": " + std::to_string(lm.bytes.size()) +
                                  " bytes, the manifest says " +
                                  std::to_string(lm.manifest.model_size));
        const std::string got = detail::sha256_hex(lm.bytes);
        if (!detail::equal_digest_hex(got, lm.manifest.sha256))
            throw integrity_error(mfile.string() + ": SHA-256 is " + got +
                                  ", the manifest says " + lm.manifest.sha256);
        for (const auto& [f, digest] : lm.manifest.files) {
            const std::string d = detail::sha256_hex(detail::read_file(lm.dir / f));
            if (!detail::equal_digest_hex(d, digest))
                throw integrity_error((lm.dir / f).string() + ": SHA-256 is " + d +
                                      ", the manifest says " + digest);
        }
        return lm;
    }

    /// Load the serving version; config_error when none was promoted.
    LoadedModel load_serving(const std::string& name) const {
        const auto v = serving(name);
        if (!v) throw config_error("registry: model '" + name + "' has no serving version");
        return load(name, *v);
    }

    /// A verified extra file of one version (e.g. the drift reference sample).
    std::vector<std::byte> read_extra(const std::string& name, std::uint64_t version,
                                      const std::string& file) const {
        const Manifest m = manifest(name, version);
        const auto it = m.files.find(file);
        if (it == m.files.end())
            throw config_error("registry: " + name + "/" + std::to_string(version) +
                               " has no file '" + file + "'");
        auto bytes = detail::read_file(version_dir(name, version) / file);
        const std::string d = detail::sha256_hex(bytes);
        if (!detail::equal_digest_hex(d, it->second))
            throw integrity_error((version_dir(name, version) / file).string() +
                                  ": SHA-256 is " + d + ", the manifest says " + it->second);
        return bytes;
    }

    /// Make `version` the serving one. It is verified first: a tampered or (when signatures
    /// are required) unsigned version is refused and the pointer stays where it was.
    void promote(const std::string& name, std::uint64_t version) {
        (void)load(name, version);
        detail::FileLock lock(root_ / name / ".lock");
        ServingPointer sp;
        if (auto cur = pointer(name)) {
            if (cur->version == version) return;
            sp.history = std::move(cur->history);
            sp.history.push_back(cur->version);
        }
        sp.version = version;
        write_pointer(name, sp);
    }

    /// Go back to the version that served before the current one; returns it.
    std::uint64_t rollback(const std::string& name) {
        detail::FileLock lock(root_ / name / ".lock");
        auto cur = pointer(name);
        if (!cur || cur->history.empty())
            throw config_error("registry: model '" + name + "' has no earlier serving version "
                               "to roll back to");
        ServingPointer sp;
        sp.history = cur->history;
        sp.version = sp.history.back();
        sp.history.pop_back();
        (void)load(name, sp.version);
        write_pointer(name, sp);
        return sp.version;
    }

private:
    fs::path version_dir(const std::string& name, std::uint64_t version) const {
        detail::check_name("model name", name);
        fs::path d = root_ / name / std::to_string(version);
        if (!fs::is_directory(d))
            throw file_error(d.string() + ": no such version of model '" + name + "'");
        return d;
    }

    std::string sign(std::string_view text) const {
        return detail::to_hex(detail::hmac_sha256(key_, std::as_bytes(std::span(text)))) + "\n";
    }

    void verify_signature(const fs::path& dir, const std::string& manifest_text) const {
        const fs::path sig = dir / signature_name;
        const bool present = fs::exists(sig);
        if (!present) {
            if (options_.require_signature)
                throw integrity_error(dir.string() + ": unsigned (no " + signature_name +
                                      ") and signatures are required");
            return;
        }
        if (!signing()) return; // nothing to verify with; the digests still protect the bytes
        std::string want = detail::read_text(sig);
        while (!want.empty() && (want.back() == '\n' || want.back() == '\r')) want.pop_back();
        std::string got = sign(manifest_text);
        got.pop_back();
        if (!detail::equal_digest_hex(got, want))
            throw integrity_error(sig.string() + ": HMAC-SHA256 signature does not match " +
                                  manifest_name + " (tampered, or signed with another key)");
    }

    void write_pointer(const std::string& name, const ServingPointer& sp) {
        nlohmann::json j;
        j["version"] = sp.version;
        j["history"] = sp.history;
        j["updated"] = detail::utc_now_iso8601();
        // Under the lock: a temporary of a writer that is no longer running was left by a kill.
        detail::remove_stale_temporaries(root_ / name / pointer_name);
        detail::replace_file_atomically(root_ / name / pointer_name, j.dump(2) + "\n");
    }

    // Under the lock no one else writes, so any staging folder left is from a writer that died.
    static void remove_stale_staging(const fs::path& dir) {
        std::error_code ec;
        std::vector<fs::path> stale;
        for (const auto& e : fs::directory_iterator(dir, ec))
            if (e.path().filename().string().starts_with(".staging-")) stale.push_back(e.path());
        for (const auto& p : stale) fs::remove_all(p, ec);
    }

    fs::path root_;
    RegistryOptions options_;
    std::vector<std::byte> key_;
};

} // namespace edgestack::deploy
