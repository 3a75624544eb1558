// World v2's defects: what a training render can get wrong that its prompt
// never names (docs/SHAPES_WORLD.md, "World v2"). Coarse defects are the kind
// a diffusion model settles in early steps (colours, layout, which objects
// are there), fine defects the kind it settles late (edges, texture, grain).
// Each is drawn independently with a fixed probability from the render's seed.
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace spo::world::v2 {

enum class Defect {
  // coarse
  ColourCast,     // a white-balance error: per-channel gains 1 - 0.35 w(hue) on the whole image
  Desaturation,   // the whole image pulled towards its luma: L + 0.35 (p - L)
  CutByBorder,    // one object 30-45% outside the frame
  WrongSize,      // one object drawn at the other end of the size range (x1.6 small, x0.6 large, medium either)
  Merged,         // two objects of different colours stacked into each other (overlap 0.08 of the side)
  MissingObject,  // one of the prompt's objects left out
  ExtraObject,    // one small object the prompt does not name
  // fine
  Blur,           // Gaussian blur, sigma 0.025 x image side (0.8 px at 32 px)
  Grain,          // luminance noise U(-0.075, 0.075), one value per 2x2 px cell (1/16 of the side)
  Jagged,         // large objects without anti-aliasing at half resolution: a 2 px staircase (one sample per 1/16-side cell)
  Texture,        // a checker of the object's colour and colour x 0.7, cells 1/8 of the side (4 px at 32 px)
};
inline constexpr int kDefectCount = 11;

// Which of judge v2's parts reads a defect (v2_judge.h).
enum class Part { Coarse, Fine, Alignment };

const char* defect_name(Defect d);  // "colour-cast", "desaturation", ...
Part defect_part(Defect d);         // MissingObject and ExtraObject: Alignment (count); others as listed above
const char* part_name(Part p);      // "coarse", "fine", "alignment"

// Which defects a render carries.
struct Defects {
  std::array<bool, kDefectCount> on{};
  bool has(Defect d) const { return on[static_cast<int>(d)]; }
  void set(Defect d, bool value = true) { on[static_cast<int>(d)] = value; }
  int count() const;
  bool clean() const { return count() == 0; }
  bool operator==(const Defects& o) const { return on == o.on; }
  static Defects only(Defect d);
};

// The probability of each defect in a training render. 0.1 each: with 11
// defects 31% of renders are clean and 38% carry exactly one.
struct DefectRates {
  std::array<double, kDefectCount> p;
  DefectRates() { p.fill(0.1); }
  static DefectRates none();
};

// The defects drawn for a seed: each independently with its probability, from
// a stream of its own (so the same seed's layout does not depend on them).
// Throws InvalidArgument for a probability outside [0, 1].
Defects draw_defects(uint64_t seed, const DefectRates& rates = DefectRates());

}  // namespace spo::world::v2
