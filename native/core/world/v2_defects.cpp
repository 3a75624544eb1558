#include "world/v2_defects.h"

#include <cmath>

#include "runtime/errors.h"
#include "world/v2_random.h"

namespace spo::world::v2 {

namespace {
const char* const kNames[kDefectCount] = {"colour-cast", "desaturation", "cut-by-border", "wrong-size",
                                          "merged",      "missing-object", "extra-object", "blur",
                                          "grain",       "jagged",       "texture"};
}  // namespace

const char* defect_name(Defect d) { return kNames[static_cast<int>(d)]; }

Part defect_part(Defect d) {
  switch (d) {
    case Defect::MissingObject:
    case Defect::ExtraObject: return Part::Alignment;
    case Defect::Blur:
    case Defect::Grain:
    case Defect::Jagged:
    case Defect::Texture: return Part::Fine;
    default: return Part::Coarse;
  }
}

const char* part_name(Part p) {
  switch (p) {
    case Part::Coarse: return "coarse";
    case Part::Fine: return "fine";
    default: return "alignment";
  }
}

int Defects::count() const {
  int n = 0;
  for (bool b : on) n += b;
  return n;
}

Defects Defects::only(Defect d) {
  Defects x;
  x.set(d);
  return x;
}

DefectRates DefectRates::none() {
  DefectRates r;
  r.p.fill(0.0);
  return r;
}

Defects draw_defects(uint64_t seed, const DefectRates& rates) {
  Rng rng(stream_seed(seed, kDefectStream));
  Defects d;
  for (int i = 0; i < kDefectCount; ++i) {
    const double p = rates.p[i];
    require(std::isfinite(p) && p >= 0 && p <= 1,
            std::string("draw_defects: the probability of ") + kNames[i] + " must be in [0, 1]");
    d.on[i] = rng.uniform(0, 1) < p;  // one draw per defect, whatever the others
  }
  return d;
}

}  // namespace spo::world::v2
