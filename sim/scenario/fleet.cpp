// [fleet]: how many replicas.
#include "sim/scenario/loader.hpp"

#include <climits>

namespace tf::loader {

void read_fleet(const Section& top, Scenario& s) {
  const Section fleet = top.table("fleet");
  s.replicas = static_cast<int>(fleet.integer_in("replicas", 1, 1, INT_MAX));
}

}  // namespace tf::loader
