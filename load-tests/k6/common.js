// Shared settings for the Stockade k6 scenarios.
//
//   BASE_URL   the gateway, e.g. https://stockade.staging.example.com (default http://127.0.0.1:8080)
//   API_KEY    a storefront client's key (default: the demo key)
//   ADMIN_KEY  a client with the admin scope (default: the demo admin key)
//   RATE       requests (iterations) per second for the main executor
//   DURATION   e.g. 2m

import http from 'k6/http';

export const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';
export const KEY = __ENV.API_KEY || 'stockade-demo-key';
export const ADMIN = __ENV.ADMIN_KEY || 'stockade-demo-admin-key';
export const DURATION = __ENV.DURATION || '2m';

export const HOT = [
  'TEE-BLK-S', 'TEE-BLK-M', 'TEE-BLK-L', 'TEE-WHT-S', 'TEE-NVY-M', 'HOODIE-GRY-M', 'CAP-RED', 'CAP-BLU',
  'BEANIE-GRN', 'SOCK-3PK-S', 'SOCK-3PK-M', 'SOCK-3PK-L', 'MUG-LOGO', 'BOTTLE-STEEL', 'TOTE-CANVAS',
  'POSTER-A3', 'NOTEBOOK-A5', 'PEN-SET', 'STICKER-PACK', 'GIFT-CARD-25',
];

// SKUs a load run imports with ample stock: `stockade import stock load-tests/load-skus.csv`.
export const LOAD_SKUS = 100;

export function pick(list) {
  return list[Math.floor(Math.random() * list.length)];
}

export function loadSku() {
  return `LOAD-${String(Math.floor(Math.random() * LOAD_SKUS)).padStart(3, '0')}`;
}

export function get(path, key = KEY, tags = {}) {
  return http.get(`${BASE}${path}`, { headers: { Authorization: `Bearer ${key}` }, tags });
}

export function post(path, body, extra = {}, tags = {}) {
  return http.post(`${BASE}${path}`, JSON.stringify(body), {
    headers: Object.assign({ Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, extra),
    tags,
  });
}

export function order(sku, quantity) {
  const id = `K6-${__VU}-${__ITER}-${Date.now()}`;
  return {
    key: id,
    body: {
      channel: 'web', external_id: id, currency: 'EUR', customer: { name: 'Load Test' },
      lines: [{ sku, quantity, unit_price: '9.90' }],
      shipping_address: { name: 'Load Test', line1: '1 Bench Road', city: 'Perf', postal_code: '12345', country: 'DE' },
    },
  };
}

export function stockEvents(n) {
  const events = [];
  for (let i = 0; i < n; i++) {
    events.push({
      id: `k6-${__VU}-${__ITER}-${i}-${Date.now()}`, type: 'stock.adjusted', source: 'k6',
      occurred_at: new Date().toISOString(),
      data: { sku: loadSku(), location: 'WH-MAIN', delta: i % 2 === 0 ? 1 : -1, bucket: 'on_hand', reason: 'cycle count' },
    });
  }
  return { events };
}
