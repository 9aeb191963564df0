// libFuzzer target: ReferenceSample::from_json (monitor/drift.hpp). A reference that loads
// then drives a DriftMonitor, as the server does with live traffic.
#include <string>
#include <vector>

#include "edgestack/monitor/drift.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace m = edgestack::monitor;
    const std::string text(reinterpret_cast<const char*>(data), size);
    m::ReferenceSample ref;
    try {
        ref = m::ReferenceSample::from_json(text, "reference.json");
    } catch (const edgestack::error&) {
        return 0;
    }
    if (ref.features > 256 || ref.classes > 256) return 0;
    try {
        m::DriftMonitor mon(ref, {}, 4);
        std::vector<float> x(3 * ref.features), y(3 * ref.classes);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
        for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<float>(i % 3);
        mon.observe(x, y, 3);
        (void)mon.prometheus("fuzz");
    } catch (const edgestack::error&) {
    }
    return 0;
}
