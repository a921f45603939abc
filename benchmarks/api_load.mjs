// A load generator for `stackledger serve`: N concurrent keep-alive clients request one URL a fixed
// number of times each, after a warm-up; prints one JSON object with the latencies and the
// generator's own CPU time.
//
// Usage: node benchmarks/api_load.mjs URL --token T --clients 20 --requests 40 [--warmup 3]
//
// Why Node and not Python: on this 2-core machine the load generator shares the cores with the
// server it measures. httpx spends ~4.6 ms of CPU per request (measured), more than the server's
// ~2 ms, so a Python generator measures mostly itself. Node's built-in http client spends a tenth
// of that. It needs nothing from npm.
import http from "node:http";
import { performance } from "node:perf_hooks";

function parse(argv) {
  const options = { clients: 20, requests: 40, warmup: 3, token: "" };
  const rest = [];
  for (let i = 0; i < argv.length; i += 1) {
    const name = argv[i];
    if (name.startsWith("--")) {
      options[name.slice(2)] = argv[i + 1];
      i += 1;
    } else {
      rest.push(name);
    }
  }
  if (rest.length !== 1 || !options.token) {
    throw new Error("usage: api_load.mjs URL --token T [--clients N] [--requests N] [--warmup N]");
  }
  return {
    url: new URL(rest[0]),
    token: options.token,
    clients: Number(options.clients),
    requests: Number(options.requests),
    warmup: Number(options.warmup),
  };
}

function get(agent, url, token) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent, headers: { "X-Auth-Token": token } }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("end", () => {
        if (response.statusCode !== 200) {
          const body = Buffer.concat(chunks).toString("utf8").slice(0, 300);
          reject(new Error(`${url.pathname}: HTTP ${response.statusCode}: ${body}`));
        } else {
          resolve();
        }
      });
    });
    request.on("error", reject);
  });
}

async function client(agent, options, count, out) {
  for (let n = 0; n < count; n += 1) {
    const started = performance.now();
    await get(agent, options.url, options.token);
    out.push(performance.now() - started);
  }
}

function percentile(sorted, fraction) {
  return sorted[Math.floor(fraction * (sorted.length - 1))];
}

async function main() {
  const options = parse(process.argv.slice(2));
  // One connection per client, kept alive, as a browser or a CLI session would.
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.clients });
  const all = Array.from({ length: options.clients });
  await Promise.all(all.map(() => client(agent, options, options.warmup, [])));
  const latencies = [];
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(all.map(() => client(agent, options, options.requests, latencies)));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const middle = latencies.length / 2;
  const median =
    latencies.length % 2 ? latencies[Math.floor(middle)] : (latencies[middle - 1] + latencies[middle]) / 2;
  console.log(
    JSON.stringify({
      requests: latencies.length,
      seconds,
      requests_per_second: latencies.length / seconds,
      p50_ms: median,
      p95_ms: percentile(latencies, 0.95),
      p99_ms: percentile(latencies, 0.99),
      max_ms: latencies[latencies.length - 1],
      client_cpu_seconds: (cpu.user + cpu.system) / 1e6,
    }),
  );
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
