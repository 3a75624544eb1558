// Draws a correct image for a shapes-world scene, with random variation from a
// seed (background tint, placement, size and a slight shade jitter).
#pragma once
#include <ATen/ATen.h>

#include <array>
#include <cstdint>

#include "world/prompt_grammar.h"

namespace spo::world {

// The palette, RGB in [0, 1] (docs/SHAPES_WORLD.md has the table):
//   red (0.86, 0.16, 0.16)  green (0.15, 0.65, 0.25)  blue (0.16, 0.32, 0.86)
//   yellow (0.92, 0.80, 0.10)  purple (0.55, 0.22, 0.70)  orange (0.96, 0.52, 0.08)
//   cyan (0.10, 0.74, 0.80)  pink (0.94, 0.45, 0.70)
std::array<float, 3> colour_rgb(Colour c);

// Nominal extent (bounding-box side) of an object as a fraction of the image side.
double nominal_extent(Size s);      // small 0.18, medium 0.26, large 0.36
// Area of a shape as a fraction of its bounding box: circle pi/4, square 1, triangle and diamond 1/2.
double shape_fill(Shape s);

// Whether (x, y) lies inside a shape whose bounding box is centred at (cx, cy)
// with half-side h (image units; triangles apex up). Both worlds draw with it.
bool shape_contains(Shape s, double x, double y, double cx, double cy, double h);

// Fraction of the pixel [x0, x0 + pixel] x [y0, y0 + pixel] (image units) inside a
// shape whose bounding box is centred at (cx, cy) with half-side `half`, from 4x4
// samples: the renderer's anti-aliasing, and the judge's shape templates.
double shape_coverage(Shape s, double cx, double cy, double half, double x0, double y0, double pixel);

// The judge's layout rules, shared with the renderer so the two agree.
// Positions are read from an object's bounding-box centre in [0, 1] image units.
inline constexpr double kRegionEdge = 0.4;       // left: x < 0.4, right: x > 0.6, top/bottom likewise
inline constexpr double kCentreTolerance = 0.12; // centre: |x - 0.5| and |y - 0.5| below this
inline constexpr double kRelationGap = 0.08;     // above: y1 < y2 - 0.08 and |dy| > |dx|

// float32 [3, size, size] in [-1, 1]. A light tinted background; each object
// filled in its colour with 4x4-supersampled (anti-aliased) edges; placement
// and +-8% size jitter from the seed; positions and relations honoured with
// no overlap. The same (scene, size, seed) always gives the same image.
// Throws InvalidArgument for an invalid scene or size < 16.
at::Tensor render(const Scene& scene, int64_t size, uint64_t seed);

}  // namespace spo::world
