// The shapes world's programmatic judge: scores any image against a scene (a
// stand-in for a human labeller) and labels pairs with Pick-a-Pic-like ties.
//
// Segmentation: the background colour is the per-channel median of the border
// pixels. Each pixel is explained as a blend bg + a * (palette colour - bg)
// with a in [0, 1] (the renderer's anti-aliased edge is exactly such a blend);
// the palette colour with the smallest residual wins, the pixel is that colour
// if a >= 0.5, background otherwise, and "unexplained" if the residual exceeds
// 0.15. Connected components (4-connectivity) of each colour's pixels with at
// least max(4, 0.004 * H * W) pixels are blobs; smaller ones are specks (noise).
//
// Parts (each in [0, 1]):
//   colour:   mean over objects of 1 when a blob of its colour has an area within
//             [0.6, 1.65] x the expected area (shape_fill * nominal extent^2),
//             0.5 when the blob's area is implausible, 0 when there is none
//   shape:    mean over objects of 1 when its blob classifies as its shape, else 0.
//             Classifier: template matching on edge coverage (the pixel's blend
//             weight a): each shape's template, sized to the blob's coverage area and
//             centred on its coverage centroid, at 3x3 sub-pixel offsets; the
//             smallest L1 difference wins (reliable from 32 px images up)
//   count:    1 when #blobs == #objects, 0.5 when off by one, else 0
//   place:    1 when the position / relation holds on the blobs' bbox centres
//             (renderer.h: kRegionEdge, kCentreTolerance, kRelationGap) or there
//             is none, 0 otherwise (and 0 when an object it names has no blob)
//   background: clamp(1 - stray / 0.05) * clamp(1 - bg_std / 0.08), stray the
//             fraction of unexplained or speck pixels, bg_std the RMS per-channel
//             deviation of background pixels from the estimated background
//   edges:    clamp(1 - noise / 0.08), noise the mean over blobs of the RMS
//             deviation of a blob's core pixels (a >= 0.9) from their mean colour;
//             0 when there are no blobs
// alignment = colour * shape * count * place (a soft AND: every requirement must
//             hold; averaging over objects keeps partial credit for half-right images)
// quality   = (background + edges) / 2
// total     = 0.7 * alignment + 0.3 * quality
// Objects are matched to blobs of their colour (the 4 largest per colour) by the
// assignment that maximises alignment.
#pragma once
#include <ATen/ATen.h>

#include "world/prompt_grammar.h"

namespace spo::world {

struct JudgeScore {
  double colour = 0, shape = 0, count = 0, place = 0;  // alignment parts
  double background = 0, edges = 0;                  // quality parts
  double alignment = 0, quality = 0, total = 0;
  int64_t blobs = 0;  // blobs found (for reports)
};

// image: float [3, H, W] in [-1, 1] (any device; read on the CPU), H, W >= 8.
// Deterministic. Throws InvalidArgument for another shape or an invalid scene.
JudgeScore judge(const at::Tensor& image, const Scene& scene);

enum class PairLabel { First, Second, Tie };

// First / Second when that image's total is higher by at least tie_margin, else Tie
// (equal totals are always a tie).
// tie_margin must be finite and >= 0.
PairLabel label_pair(const JudgeScore& a, const JudgeScore& b, double tie_margin);
// The same rule on two totals (what a scorer returns).
PairLabel label_totals(double a, double b, double tie_margin);
// 1, 0 or 0.5 (tie): the probability that the first is preferred, as preference pairs store it.
double label_probability(PairLabel label);

}  // namespace spo::world
