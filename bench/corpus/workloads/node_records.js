// node_records: a Node.js process holding JSON records, a Map and Float64Arrays (an
// in-memory service cache), for the compression corpus. Builds --mb MiB of heap
// (process.memoryUsage().heapUsed growth plus array buffers), deterministic for a seed,
// prints "<pid> ready" and waits until stdin reaches end of file.
//
// Usage: node node_records.js [--mb 300] [--seed 1]
'use strict';

const args = process.argv.slice(2);
function flag(name, fallback) {
  const at = args.indexOf('--' + name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
}
const mb = flag('mb', 300);
let seed = flag('seed', 1) >>> 0;
function random() {  // mulberry32
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];
const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel',
  'india', 'juliet', 'kilo', 'lima', 'mike', 'november', 'oscar', 'papa', 'quebec'];
const SKUS = Array.from({length: 500}, (_, i) => `SKU-${(i * 7919) % 100000}`);
const STATES = ['created', 'paid', 'packed', 'shipped', 'delivered', 'returned'];

const orders = new Map();
const sessions = [];
const series = [];
let n = 0;
const used = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
const baseline = used();
while (used() - baseline < mb * 1048576) {
  for (let k = 0; k < 2000; ++k, ++n) {
    const lines = [];
    const count = 1 + Math.floor(random() * 5);
    for (let i = 0; i < count; ++i) {
      lines.push({sku: pick(SKUS), qty: 1 + Math.floor(random() * 4),
        price: Math.round(random() * 10000) / 100});
    }
    // Records arrive as JSON text, as from a queue or an HTTP body.
    const text = JSON.stringify({
      orderId: `ord_${n.toString(36)}`, customer: `${pick(WORDS)}.${pick(WORDS)}@example.org`,
      state: pick(STATES), lines, note: random() < 0.3 ? `${pick(WORDS)} ${pick(WORDS)} ${pick(WORDS)}` : '',
      createdAt: new Date(1700000000000 + n * 1000).toISOString()});
    orders.set(`ord_${n.toString(36)}`, JSON.parse(text));
    if (n % 10 === 0) sessions.push({id: n, token: Math.floor(random() * 2 ** 52).toString(16), pages: [pick(WORDS), pick(WORDS)]});
  }
  const samples = new Float64Array(16384);
  let value = random() * 100;
  for (let i = 0; i < samples.length; ++i) {
    value += (random() - 0.5);
    samples[i] = Math.round(value * 100) / 100;
  }
  series.push(samples);
}
if (global.gc) global.gc();
process.stderr.write(`node_records: ${n} orders, ${series.length} series, heap ${Math.round(used() / 1048576)} MiB\n`);
process.stdout.write(`${process.pid} ready\n`);
process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
