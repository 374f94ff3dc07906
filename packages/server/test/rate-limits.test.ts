import { describe, expect, it } from 'vitest';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  expectError,
  newPairingCode,
  request,
  startTestServer,
} from './helpers.js';

describe('rate limits on guessing', () => {
  it('refuses wrong passwords past the limit with 429 and Retry-After, even the right one, until the window ends', async () => {
    const { url, clock } = await startTestServer({
      rateLimits: {
        loginPerEmail: { max: 3, windowMs: 60_000 },
        loginPerAddress: { max: 100, windowMs: 60_000 },
      },
    });
    for (let attempt = 0; attempt < 3; attempt++) {
      const wrong = await request(url, 'POST', '/api/auth/login', {
        json: { email: ADMIN_EMAIL, password: 'not it at all' },
      });
      expectError(wrong, 401, 'INVALID_CREDENTIALS');
    }
    const limited = await request(url, 'POST', '/api/auth/login', {
      json: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD },
    });
    expectError(limited, 429, 'RATE_LIMITED');
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);

    clock.advance(retryAfter * 1000);
    const after = await request(url, 'POST', '/api/auth/login', {
      json: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD },
    });
    expect(after.status).toBe(200);
  });

  it('a successful login clears the failures of that email', async () => {
    const { url } = await startTestServer({ rateLimits: { loginPerEmail: { max: 3, windowMs: 60_000 } } });
    for (let round = 0; round < 3; round++) {
      for (let attempt = 0; attempt < 2; attempt++) {
        await request(url, 'POST', '/api/auth/login', {
          json: { email: ADMIN_EMAIL, password: 'wrong password' },
        });
      }
      const right = await request(url, 'POST', '/api/auth/login', {
        json: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD },
      });
      expect(right.status).toBe(200);
    }
  });

  it('limits logins per client address across emails', async () => {
    const { url } = await startTestServer({ rateLimits: { loginPerAddress: { max: 5, windowMs: 60_000 } } });
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 7; attempt++) {
      const answer = await request(url, 'POST', '/api/auth/login', {
        json: { email: `guess${attempt}@shop.test`, password: 'whatever it is' },
      });
      statuses.push(answer.status);
    }
    // The fixture's own login was the first of the five.
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429]);
  });

  it('limits pairing attempts per client address, and a limited attempt spends no code', async () => {
    const { url, ownerToken } = await startTestServer({
      rateLimits: { pairPerAddress: { max: 3, windowMs: 60_000 } },
    });
    for (let attempt = 0; attempt < 3; attempt++) {
      expectError(
        await request(url, 'POST', '/api/devices/pair', { json: { code: 'AAAA-AAAA' } }),
        400,
        'INVALID_CODE',
      );
    }
    const code = await newPairingCode(url, ownerToken);
    expectError(await request(url, 'POST', '/api/devices/pair', { json: { code } }), 429, 'RATE_LIMITED');
    const devices = await request(url, 'GET', '/api/devices', { token: ownerToken });
    expect(devices.body).toEqual([]);
  });
});
