// Shared by the nn tests: run the gradient checker on a bound layer and report the worst
// coordinate when it fails.
#pragma once

#include <boost/test/unit_test.hpp>

#include <ostream>

#include "edgestack/compile/graph.hpp"
#include "support/gradcheck.hpp"

namespace edgestack::compile {
inline std::ostream& boost_test_print_type(std::ostream& os, Op op) { return os << op_name(op); }
} // namespace edgestack::compile

namespace nn_test {

template <class L>
void check_grads(edgestack::test::GradCheckOptions o = {}) {
    const auto r = edgestack::test::gradcheck<L>(o);
    BOOST_TEST(r.checked > 0u);
    BOOST_TEST(r.ok(), L::name() << " on " << L::input_shape::name() << ": worst at " << r.where
                                 << " (input ratio " << r.worst_input << ", param ratio "
                                 << r.worst_param << ")");
}

template <class Spec, class In>
using bound = typename Spec::template bind<In>;

} // namespace nn_test
