// Windowing arithmetic for a list of items of different heights: measured
// heights where known, estimates elsewhere, prefix offsets for finding the
// rows under the viewport in O(log n). The component (Timeline.tsx) renders
// only those rows between two spacers.

export class HeightIndex {
  private heights: Float64Array = new Float64Array(0);
  private offsets: Float64Array = new Float64Array(1);
  private dirtyFrom = 0;

  /** Replaces all heights (after the items changed). */
  reset(heights: ArrayLike<number>): void {
    this.heights = Float64Array.from(heights);
    this.offsets = new Float64Array(this.heights.length + 1);
    this.dirtyFrom = 0;
  }

  get length(): number {
    return this.heights.length;
  }

  height(i: number): number {
    return this.heights[i] ?? 0;
  }

  /** Sets one height; true when it changed. */
  set(i: number, h: number): boolean {
    if (i < 0 || i >= this.heights.length || this.heights[i] === h) return false;
    this.heights[i] = h;
    this.dirtyFrom = Math.min(this.dirtyFrom, i);
    return true;
  }

  private settle(): void {
    const n = this.heights.length;
    if (this.dirtyFrom > n) return;
    for (let i = this.dirtyFrom; i < n; i++) this.offsets[i + 1] = this.offsets[i] + this.heights[i];
    this.dirtyFrom = n + 1;
  }

  /** Top of item `i` (i = length gives the total). */
  offsetOf(i: number): number {
    this.settle();
    return this.offsets[Math.max(0, Math.min(i, this.heights.length))];
  }

  total(): number {
    return this.offsetOf(this.heights.length);
  }

  /** The item under `y` (clamped to the list). */
  indexAt(y: number): number {
    this.settle();
    const n = this.heights.length;
    if (n === 0) return 0;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offsets[mid] <= y) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/** The items to render for a viewport at `top` of height `height`, with
 * `overscan` pixels of margin either side: [first, last] inclusive, or
 * [0, -1] for an empty list. */
export function visibleRange(index: HeightIndex, top: number, height: number, overscan: number): [number, number] {
  if (index.length === 0) return [0, -1];
  const first = index.indexAt(Math.max(0, top - overscan));
  const last = index.indexAt(top + height + overscan);
  return [first, last];
}

/** Within `slack` pixels of the bottom counts as following the end. */
export function atBottom(scrollTop: number, clientHeight: number, scrollHeight: number, slack = 24): boolean {
  return scrollHeight - (scrollTop + clientHeight) <= slack;
}
