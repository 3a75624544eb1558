#include <gtest/gtest.h>
#include <cstdio>
#include "world/judge.h"
#include "world/renderer.h"
namespace spo::world {
TEST(Scratch, Confusion) {
  for (int64_t size : {32, 48, 64}) for (int sz = 0; sz < 3; ++sz) {
    std::printf("size %lld %s:", (long long)size, sz==0?"small":sz==1?"medium":"large");
    for (int sh = 0; sh < 4; ++sh) {
      int counts[5] = {0,0,0,0,0};
      for (int seed = 0; seed < 40; ++seed) {
        Scene s; s.objects = {{static_cast<Shape>(sh), static_cast<Colour>(seed % 8), static_cast<Size>(sz)}};
        at::Tensor im = render(s, size, seed);
        int got = 4;
        for (int t = 0; t < 4; ++t) { Scene q = s; q.objects[0].shape = static_cast<Shape>(t); if (judge(im, q).shape == 1) got = t; }
        counts[got]++;
      }
      std::printf("  %s->[%d %d %d %d none %d]", shape_name(static_cast<Shape>(sh)), counts[0], counts[1], counts[2], counts[3], counts[4]);
    }
    std::printf("\n");
  }
}
}
