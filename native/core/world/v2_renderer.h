// World v2's renderer: the clean image of a main-track scene, and the same
// image with chosen or randomly drawn defects (v2_defects.h), for training
// data that is sometimes clean and sometimes not.
#pragma once
#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>

#include "world/v2_defects.h"
#include "world/v2_prompts.h"

namespace spo::world::v2 {

// Layout constants, image units (docs/SHAPES_WORLD.md, "World v2").
inline constexpr double kMargin = 0.04;       // a clean object keeps this far from the edge
inline constexpr double kGap = 0.06;          // free space between the cells objects are drawn in
inline constexpr double kMergeOverlap = 0.08; // how far two merged objects run into each other
inline constexpr double kFineCell = 1.0 / 16;     // grain's and texture's cells, jagged's staircase step (2 px at 32 px)

// kFineCell in whole pixels (at least 1): 2 at 32 px, 4 at 64 px, the cell of
// the factor-2 latent grid at 32 px.
inline int64_t fine_cell_pixels(int64_t size) {
  return std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(size) * kFineCell + 0.5));
}

// float32 [3, size, size] in [-1, 1], size in [16, 4096]. The clean render: a
// light background, each channel U(0.87, 0.96); each object its palette colour
// +- 0.02 per channel at its nominal extent x U(0.92, 1.08), 4x4-supersampled
// edges; objects in separate cells (the whole frame for one, halves, a half and
// two quarters, or quarters), kGap apart, uniformly placed within their cell.
// The same (scene, size, seed) always gives the same image.
at::Tensor render(const Scene& scene, int64_t size, uint64_t seed);

// The same render with `defects` applied where they apply (Merged needs two
// objects of different colours; CutByBorder and WrongSize need an object left
// after MissingObject; Jagged needs a large object that is not a square, Texture any object). `carried`, if given, receives the defects applied.
// Pixel defects (cast, desaturation, blur, grain, jagged, texture) leave the
// layout exactly as in the clean render; layout defects keep each object's
// colour and size draws. Defects::only(d) gives a one-defect render.
at::Tensor render(const Scene& scene, int64_t size, uint64_t seed, const Defects& defects, Defects* carried = nullptr);

// A training image: defects drawn from the seed with `rates` (draw_defects),
// then rendered; `defects` records what the image carries.
struct TrainingRender {
  at::Tensor image;
  Defects defects;
};
TrainingRender render_training(const Scene& scene, int64_t size, uint64_t seed, const DefectRates& rates = DefectRates());

}  // namespace spo::world::v2
