// Class names and their indices, both ways: built from a folder listing, a CSV label column,
// or a fixed list (Fashion-MNIST), and used to print predictions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "edgestack/core/error.hpp"

namespace edgestack::data {

/// Class names to indices 0, 1, ... (in the order first added) and back.
class LabelMap {
public:
    LabelMap() = default;
    /// The names in order: names[i] gets index i (a repeated name keeps its first index).
    explicit LabelMap(std::vector<std::string> names) {
        for (auto& n : names) add(n);
    }
    /// From any range of things convertible to std::string, e.g. an array of string literals.
    template <class Range>
    static LabelMap from(const Range& names) {
        LabelMap m;
        for (const auto& n : names) m.add(std::string(n));
        return m;
    }

    /// The index of `name`, adding it at the end if new.
    std::int32_t add(const std::string& name) {
        auto [it, fresh] = index_.try_emplace(name, static_cast<std::int32_t>(names_.size()));
        if (fresh) names_.push_back(name);
        return it->second;
    }
    /// Whether `name` is a known class.
    bool contains(std::string_view name) const { return index_.count(std::string(name)) != 0; }
    /// The index of `name`; throws config_error for an unknown one.
    std::int32_t index_of(std::string_view name) const {
        const auto it = index_.find(std::string(name));
        if (it == index_.end())
            throw config_error("LabelMap: unknown class '" + std::string(name) + "' (" +
                               std::to_string(names_.size()) + " known)");
        return it->second;
    }
    /// The name of index `i`; throws config_error when there is no such index.
    const std::string& name_of(std::int32_t i) const {
        if (i < 0 || static_cast<std::size_t>(i) >= names_.size())
            throw config_error("LabelMap: index " + std::to_string(i) + " is outside [0, " +
                               std::to_string(names_.size()) + ")");
        return names_[static_cast<std::size_t>(i)];
    }
    /// Known classes.
    std::size_t size() const noexcept { return names_.size(); }
    /// No class known yet.
    bool empty() const noexcept { return names_.empty(); }
    /// Every name, by index.
    const std::vector<std::string>& names() const noexcept { return names_; }

private:
    std::vector<std::string> names_;
    std::unordered_map<std::string, std::int32_t> index_;
};

} // namespace edgestack::data
