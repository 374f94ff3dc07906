import { describe, expect, it } from 'vitest';
import {
  FIRST_SLICE_SIZE,
  MIN_SLICE_SIZE,
  QUIET_SLICE_BUDGET_MS,
  SLICE_STEP,
  SliceSizer,
} from '../../src/cycle/slice-sizer.js';

describe('SliceSizer', () => {
  it('starts small, and sizes the next slice to take about 5 ms, in whole steps of rows', () => {
    const sizer = new SliceSizer(2000);
    expect(sizer.size).toBe(FIRST_SLICE_SIZE);
    sizer.took(256, 2.5);
    expect(sizer.size).toBe(512);
    sizer.took(512, 10);
    expect(sizer.size).toBe(256);
    sizer.took(256, 4);
    expect(sizer.size).toBe(320);
    expect(sizer.size % SLICE_STEP).toBe(0);
  });

  it('grows at most fourfold per slice, never past the most, never below the least', () => {
    const sizer = new SliceSizer(2000);
    sizer.took(256, 0.01);
    expect(sizer.size).toBe(1024);
    sizer.took(1024, 0.01);
    expect(sizer.size).toBe(2000);
    sizer.took(2000, 10_000);
    expect(sizer.size).toBe(MIN_SLICE_SIZE);
    expect(new SliceSizer(10).size).toBe(10);
    const small = new SliceSizer(100);
    small.took(100, 10_000);
    expect(small.size).toBe(100);
  });

  it('sizes the next slice to a longer budget when given one', () => {
    const sizer = new SliceSizer(2000);
    sizer.took(256, 5, QUIET_SLICE_BUDGET_MS);
    expect(sizer.size).toBe(Math.floor((256 * QUIET_SLICE_BUDGET_MS) / 5 / SLICE_STEP) * SLICE_STEP);
    sizer.took(sizer.size, 10);
    expect(sizer.size).toBeLessThan(512);
  });

  it('learns nothing from a short last slice', () => {
    const sizer = new SliceSizer(2000);
    sizer.took(10, 100);
    expect(sizer.size).toBe(FIRST_SLICE_SIZE);
  });
});
