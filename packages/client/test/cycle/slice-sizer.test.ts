import { describe, expect, it } from 'vitest';
import { FIRST_SLICE_SIZE, MIN_SLICE_SIZE, SliceSizer } from '../../src/cycle/slice-sizer.js';

describe('SliceSizer', () => {
  it('starts small, and sizes the next slice to take about 5 ms', () => {
    const sizer = new SliceSizer(2000);
    expect(sizer.size).toBe(FIRST_SLICE_SIZE);
    sizer.took(250, 2.5);
    expect(sizer.size).toBe(500);
    sizer.took(500, 10);
    expect(sizer.size).toBe(250);
  });

  it('grows at most fourfold per slice, never past the most, never below the least', () => {
    const sizer = new SliceSizer(2000);
    sizer.took(250, 0.01);
    expect(sizer.size).toBe(1000);
    sizer.took(1000, 0.01);
    expect(sizer.size).toBe(2000);
    sizer.took(2000, 10_000);
    expect(sizer.size).toBe(MIN_SLICE_SIZE);
    expect(new SliceSizer(10).size).toBe(10);
  });

  it('learns nothing from a short last slice', () => {
    const sizer = new SliceSizer(2000);
    sizer.took(10, 100);
    expect(sizer.size).toBe(FIRST_SLICE_SIZE);
  });
});
