// A webhook and event flood: warehouse batches of stock adjustments, as a WMS catching up
// after an outage would send them.
import { check } from 'k6';
import { DURATION, post, stockEvents } from './common.js';

export const options = {
  scenarios: {
    events: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 100), timeUnit: '1s', duration: DURATION,
      preAllocatedVUs: 100, maxVUs: 500,
    },
  },
  thresholds: {
    http_req_duration: ['p(95)<100', 'p(99)<250'],
    http_req_failed: ['rate<0.001'],
    checks: ['rate>0.999'],
  },
};

export default function () {
  const r = post('/v1/events', stockEvents(Number(__ENV.BATCH || 10)));
  check(r, {
    'accepted': (x) => x.status === 202,
    'every event applied': (x) => x.status === 202 && x.json('results').every((e) => e.status === 'applied'),
  });
}
