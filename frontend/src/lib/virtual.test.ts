import { describe, expect, it } from 'vitest';
import { atBottom, HeightIndex, visibleRange } from './virtual';

describe('height index', () => {
  it('finds offsets and the item under a point', () => {
    const h = new HeightIndex();
    h.reset([10, 20, 30, 40]);
    expect(h.offsetOf(0)).toBe(0);
    expect(h.offsetOf(2)).toBe(30);
    expect(h.total()).toBe(100);
    expect(h.indexAt(0)).toBe(0);
    expect(h.indexAt(29.9)).toBe(1);
    expect(h.indexAt(30)).toBe(2);
    expect(h.indexAt(1e9)).toBe(3);
    expect(h.indexAt(-5)).toBe(0);
  });

  it('moves later offsets when a height is measured', () => {
    const h = new HeightIndex();
    h.reset([10, 10, 10]);
    expect(h.set(1, 50)).toBe(true);
    expect(h.set(1, 50)).toBe(false);
    expect(h.set(7, 50)).toBe(false);
    expect(h.offsetOf(2)).toBe(60);
    expect(h.total()).toBe(70);
  });

  it('handles 10 000 items in a blink', () => {
    const h = new HeightIndex();
    h.reset(Array.from({ length: 10_000 }, (_, i) => 40 + (i % 7)));
    const t = performance.now();
    for (let i = 0; i < 1000; i++) h.indexAt((i * 431) % h.total());
    expect(performance.now() - t).toBeLessThan(50);
    expect(h.indexAt(h.offsetOf(5000))).toBe(5000);
  });
});

describe('visible range', () => {
  it('covers the viewport plus overscan, and nothing for an empty list', () => {
    const h = new HeightIndex();
    h.reset(Array.from({ length: 100 }, () => 10));
    expect(visibleRange(h, 500, 100, 0)).toEqual([50, 60]);
    expect(visibleRange(h, 500, 100, 50)).toEqual([45, 65]);
    expect(visibleRange(h, 0, 100, 50)).toEqual([0, 15]);
    const empty = new HeightIndex();
    expect(visibleRange(empty, 0, 100, 50)).toEqual([0, -1]);
  });

  it('knows when the reader is at the end', () => {
    expect(atBottom(900, 100, 1000)).toBe(true);
    expect(atBottom(880, 100, 1000)).toBe(true);
    expect(atBottom(800, 100, 1000)).toBe(false);
  });
});
