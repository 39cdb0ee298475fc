// Change-impact timing on policy-core's benchmark bundle (policy-core/benches/decide.rs, rebuilt
// here as JSON): one AAP with 3 policies, 40 network rules × 20 /28 blocks, 1,000 keys with an
// alias each, 200 secrets, 3 client keys; the second version moves one block of one rule.
//
//   node web-demo/tests/impact-bench.mjs [--scale 10] [--runs 7]
//
// Times diffBundles (parse + compile both bundles + diff) in Node (wasm-module/bindings/pkg-node)
// and in headless chromium (web-demo/pkg, the page's own module), and prints the medians.
// Also imported by the browser tests for the bundle pair.
import { readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const demo = resolve(here, '..');
const repo = resolve(demo, '..');

const ipv4 = (n) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

/**
 * The benchmark bundle; `scale` multiplies keys and secrets (the rules are at the bundle's limits
 * already: 40 per policy, 3 client keys per AAP). `moved`: the rule whose first block moves out
 * of 10.0.0.0/8.
 */
export function benchBundle({ scale = 1, moved = null } = {}) {
  const example = JSON.parse(readFileSync(join(demo, 'example-bundle.json'), 'utf8'));
  const pem = example.ClientKeys[0].PublicKeyData;
  const nRules = 40;
  const rules = Array.from({ length: nRules }, (_, r) => ({
    Name: `rule-${r}`,
    Type: 'Private',
    SourcePrivateIp: Array.from({ length: 20 }, (_, c) =>
      r === moved && c === 0 ? '172.31.0.0/28' : `${ipv4((0x0a000000 + ((r * 20 + c) << 12 >>> 0)) >>> 0)}/28`,
    ),
  }));
  const ruleNames = rules.map((r) => r.Name);
  const policy = (name, perms, resources) => ({
    Name: name,
    Permissions: perms.map((p) => `RbacPermission/Template/${p}`),
    Resources: resources,
    KmsInstance: 'kst-bench',
    AccessControlRules: { NetworkRules: ruleNames },
  });
  const nKeys = 1000 * scale;
  const keyRes = Array.from({ length: 200 }, (_, i) => `key/key-${String(i).padStart(4, '0')}`);
  keyRes.push('key/key-09*');
  return {
    NetworkRules: rules,
    Policies: [
      policy('p-other', ['CryptoServiceKeyUser'], ['key/other-*']),
      policy('p-keys', ['CryptoServiceKeyUser'], keyRes),
      policy('p-secrets', ['CryptoServiceSecretUser', 'CryptoServiceKeyUser'], ['secret/app/*', 'key/key-0999']),
    ],
    ApplicationAccessPoints: [{ Name: 'aap', Policies: ['p-other', 'p-keys', 'p-secrets'], AuthenticationMethod: 'ClientKey' }],
    // A bundle allows at most 3 client keys per AAP, whatever the scale.
    ClientKeys: Array.from({ length: 3 }, (_, i) => ({
      ClientKeyId: `KAAP.00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
      AapName: 'aap',
      KeyAlgorithm: 'RSA_2048',
      PublicKeyData: pem,
      NotBefore: '1970-01-01T00:00:00Z',
      NotAfter: '2096-10-02T07:06:40Z',
    })),
    Keys: Array.from({ length: nKeys }, (_, i) => ({
      KeyId: `key-${String(i).padStart(4, '0')}`,
      Aliases: [`alias/k${i}`],
      KeySpec: 'Aliyun_AES_256',
      KeyState: 'Enabled',
      KeyVersions: [`00000000-0000-4000-8000-${String(i).padStart(12, '0')}`],
    })),
    Secrets: Array.from({ length: 200 * scale }, (_, i) => ({ SecretName: `app/secret-${i}`, EncryptionKeyId: 'key-0999' })),
    Gateway: { Scope: 'kst-bench', TrustedProxies: [], MaxSkewSeconds: 900 },
  };
}

/** The pair of bundle texts: as generated, and with one block of rule-7 moved. */
export function benchPair(scale = 1) {
  return [JSON.stringify(benchBundle({ scale })), JSON.stringify(benchBundle({ scale, moved: 7 }))];
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const scale = arg('--scale', 1);
  const runs = arg('--runs', 7);
  const [oldText, newText] = benchPair(scale);
  console.log(`bundle: ${(oldText.length / 1024).toFixed(0)} KiB of JSON, scale ${scale}; ${runs} runs each`);

  const nodePkg = join(repo, 'wasm-module/bindings/pkg-node/aapkit_wasm.js');
  if (existsSync(nodePkg)) {
    const aap = createRequire(import.meta.url)(nodePkg);
    const times = [];
    let report;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      report = aap.diffBundles(oldText, newText);
      times.push(performance.now() - t0);
    }
    const c0 = performance.now();
    for (let i = 0; i < runs; i++) aap.compileBundle(oldText).free();
    const compile = (performance.now() - c0) / runs;
    console.log(
      `node ${process.version}: diffBundles median ${median(times).toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}), ` +
        `of which compiling one bundle ~${compile.toFixed(1)} ms; ${report.Verdict}, ${report.Changes.length} regions`,
    );
  }

  const { chromium } = await import('playwright-core');
  const { serve } = await import('../serve.mjs');
  const { server, url } = await serve({ port: 0 });
  const profile = mkdtempSync(join(tmpdir(), 'aapkit-bench-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.AAPKIT_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
  try {
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForSelector('body[data-ready]');
    const r = await page.evaluate(
      async ([o, n, runs]) => {
        const aap = await import('/pkg/aapkit_wasm.js');
        await aap.default();
        const times = [];
        let report;
        for (let i = 0; i < runs; i++) {
          const t0 = performance.now();
          report = aap.diffBundles(o, n);
          times.push(performance.now() - t0);
        }
        return { times, verdict: report.Verdict, regions: report.Changes.length, ua: navigator.userAgent };
      },
      [oldText, newText, runs],
    );
    const browser = r.ua.match(/(HeadlessChrome|Chrome)\/[\d.]+/)?.[0] ?? 'chromium';
    console.log(
      `${browser}: diffBundles median ${median(r.times).toFixed(1)} ms (min ${Math.min(...r.times).toFixed(1)}); ${r.verdict}, ${r.regions} regions`,
    );
  } finally {
    await context.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
