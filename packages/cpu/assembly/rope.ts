/**
 * Rotary position embedding in Hugging Face's rotate_half layout (dimension i pairs with i + D/2), in place, over
 * rows r0 .. r1 of the (T·NH) head rows. The cos/sin tables (P, D/2) are filled by the caller (reference ropeTable);
 * this kernel only applies them. D must be even.
 */

/**
 * x (T, NH, D) rows r0 .. r1 (row r = token r / NH, head r mod NH) rotated in place by cos, sin (P, D/2) at
 * positions (T) int32: x[i] ← x[i]·cos − x[i+D/2]·sin, x[i+D/2] ← x[i+D/2]·cos + x[i]·sin.
 */
export function rope(x: usize, cos: usize, sin: usize, positions: usize, NH: i32, D: i32, r0: i32, r1: i32): void {
  const half = D >> 1;
  const H4 = half & ~3;
  const halfBytes = <usize>half << 2;
  for (let r = r0; r < r1; r++) {
    const t = r / NH;
    const table = <usize>load<i32>(positions + (<usize>t << 2)) * halfBytes;
    const cr = cos + table;
    const sr = sin + table;
    const b = x + ((<usize>r * <usize>D) << 2);
    const b2 = b + halfBytes;
    let i = 0;
    for (; i < H4; i += 4) {
      const off = <usize>i << 2;
      const c = v128.load(cr + off);
      const s = v128.load(sr + off);
      const x1 = v128.load(b + off);
      const x2 = v128.load(b2 + off);
      v128.store(b + off, f32x4.sub(f32x4.mul(x1, c), f32x4.mul(x2, s)));
      v128.store(b2 + off, f32x4.add(f32x4.mul(x2, c), f32x4.mul(x1, s)));
    }
    for (; i < half; i++) {
      const off = <usize>i << 2;
      const c = load<f32>(cr + off);
      const s = load<f32>(sr + off);
      const x1 = load<f32>(b + off);
      const x2 = load<f32>(b2 + off);
      store<f32>(b + off, x1 * c - x2 * s);
      store<f32>(b2 + off, x2 * c + x1 * s);
    }
  }
}
