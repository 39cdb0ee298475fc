// Node tests of the aapkit-wasm package (wasm-pack --target nodejs, built by scripts/build-wasm.sh
// into wasm-module/bindings/pkg-node): the shared decision fixtures and the SDK-signed vector.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');
const pkgPath = join(here, '../pkg-node/aapkit_wasm.js');
if (!existsSync(pkgPath)) throw new Error(`${pkgPath} is missing: run scripts/build-wasm.sh first`);
const aap = createRequire(import.meta.url)(pkgPath);

const fixtureDir = join(repo, 'tests/fixtures/decisions');
const fixtures = readdirSync(fixtureDir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: f, ...JSON.parse(readFileSync(join(fixtureDir, f), 'utf8')) }));
// The request the Alibaba Cloud KMS Python SDK signs in its unit test (policy-core's test data).
const vector = JSON.parse(readFileSync(join(repo, 'policy-core/tests/data/sdk-signed-encrypt.json'), 'utf8'));
const exampleBundle = readFileSync(join(repo, 'web-demo/example-bundle.json'), 'utf8');

/** Compares the fields a fixture expects with a DecisionReport. */
function assertExpected(report, expect, name) {
  for (const [k, v] of Object.entries(expect)) {
    assert.deepEqual(report[k], v, `${name}: ${k}`);
  }
}

test('there are decision fixtures', () => {
  assert.ok(fixtures.length > 0);
  assert.ok(fixtures.reduce((n, f) => n + f.cases.length, 0) >= 10);
});

for (const fx of fixtures) {
  test(`decision fixtures ${fx.file} (${fx.cases.length} cases)`, () => {
    const json = readFileSync(join(repo, fx.bundle), 'utf8');
    assert.deepEqual(aap.validateBundle(json), { ok: true, errors: [] });
    const h = aap.compileBundle(json);
    try {
      for (const c of fx.cases) {
        const full = h.explain(c.request);
        assertExpected(full, c.expect, c.name);
        const lean = h.decide(c.request);
        assert.deepEqual(lean.Trace, [], 'decide() leaves the trace out');
        assert.deepEqual({ ...lean, Trace: full.Trace }, full, `${c.name}: decide == explain but the trace`);
        if (!full.Allowed && (c.expect.FailedChecks ?? []).length > 0) {
          // every failed check in the summary is the first "Fail" of that policy's trace
          for (const fc of full.FailedChecks) {
            const t = full.Trace.find((x) => x.Policy === fc.Policy);
            assert.equal(t?.[fc.Check], 'Fail', `${c.name}: trace of ${fc.Policy}`);
          }
        }
      }
    } finally {
      h.free();
    }
  });
}

test('validateBundle reports every mistake with its JSON path', () => {
  const doc = JSON.parse(exampleBundle);
  doc.Policies[1].Resources = ['key/a*b'];
  doc.NetworkRules[0].SourcePrivateIp = ['10.0.0.300'];
  const r = aap.validateBundle(JSON.stringify(doc, null, 2));
  assert.equal(r.ok, false);
  const paths = r.errors.map((e) => e.path);
  assert.ok(paths.includes('$.Policies[1].Resources[0]'), paths.join(', '));
  assert.ok(paths.some((p) => p.startsWith('$.NetworkRules[0].SourcePrivateIp')), paths.join(', '));
  for (const e of r.errors) {
    assert.equal(typeof e.message, 'string');
    assert.equal(typeof e.value, 'string');
  }
  const syntax = aap.validateBundle('{"NetworkRules": [}');
  assert.equal(syntax.ok, false);
  assert.ok(syntax.errors.length >= 1);
});

test('every bundle error carries the line and column policy-core found', () => {
  const text = '{\n  "Policies": [\n    {\n      "Name": "p",\n      "Resources": ["key/a",\n        "key/b*c"]\n    }\n  ]\n}';
  const r = aap.validateBundle(text);
  const bad = r.errors.find((e) => e.path === '$.Policies[0].Resources[1]');
  assert.ok(bad, JSON.stringify(r.errors));
  assert.equal(bad.line, 6);
  assert.equal(bad.column, 9);
  assert.deepEqual(bad.span, { Line: 6, Column: 9, EndLine: 6, EndColumn: 18 });
  // a missing field is placed at its object
  const missing = r.errors.find((e) => e.path === '$.Policies[0]' && /missing field `Permissions`/.test(e.message));
  assert.equal(missing?.line, 3);
  // a syntax error at the place serde_json stopped
  const syntax = aap.validateBundle('{\n  "Keys": [}\n}');
  assert.equal(syntax.errors[0].path, '$');
  assert.equal(syntax.errors[0].line, 2);
  assert.equal(syntax.errors[0].column, 12);
  // compileBundle's Error carries the same list
  assert.throws(
    () => aap.compileBundle(text),
    (e) => e.errors.some((x) => x.path === '$.Policies[0].Resources[1]' && x.line === 6),
  );
});

test('compileBundle throws an Error carrying the errors', () => {
  assert.throws(
    () => aap.compileBundle('{"Policies": 3}'),
    (e) => e instanceof Error && Array.isArray(e.errors) && e.errors.length > 0 && e.errors[0].path.startsWith('$'),
  );
});

test('a malformed access request throws naming the field', () => {
  const h = aap.compileBundle(exampleBundle);
  const base = { ClientKeyId: 'key_for_unit_test', Api: 'Encrypt', Resource: 'key-test', SourceIp: '172.16.8.20', Time: '2020-02-06T07:32:54Z' };
  assert.equal(h.decide(base).Allowed, true);
  assert.throws(() => h.decide({ ...base, Api: 'encrypt' }), /Api/);
  assert.throws(() => h.decide({ ...base, SourceIp: '1.2.3' }), /SourceIp/);
  assert.throws(() => h.decide({ ...base, Time: 'yesterday' }), /Time/);
  assert.throws(() => h.decide({ ...base, Extra: 1 }), /unknown field/);
  h.free();
});

test('the example bundle of the playground is valid and decides as documented', () => {
  const h = aap.compileBundle(exampleBundle);
  const req = {
    ClientKeyId: 'KAAP.8ad07158-93be-4a62-9075-0e777805ba5f',
    Api: 'Encrypt',
    Resource: 'alias/payments',
    SourceIp: '10.20.3.41',
    Time: '2025-06-01T12:00:00Z',
  };
  const ok = h.explain(req);
  assert.equal(ok.Allowed, true);
  assert.equal(ok.Policy, 'payments-keys');
  assert.equal(ok.Resource, 'key-hzz62f1cb66fs5en5kzqh');
  const denied = h.explain({ ...req, SourceIp: '192.168.10.5' });
  assert.equal(denied.Allowed, false);
  assert.equal(denied.ErrorCode, 'Forbidden.NoPermission');
  assert.equal(denied.HttpStatus, 403);
  assert.deepEqual(denied.FailedChecks.find((f) => f.Policy === 'payments-keys'), { Policy: 'payments-keys', Check: 'Network' });
  h.free();
});

const vreq = () => ({
  method: vector.request.method,
  headers: Object.entries(vector.request.headers),
  bodyHex: vector.request.body_hex,
  sourceIp: '172.16.8.20',
});

test('stringToSign rebuilds the SDK string to sign', () => {
  assert.equal(aap.stringToSign(vreq()), vector.string_to_sign);
  assert.equal(aap.stringToSign({ ...vreq(), headers: vector.request.headers }), vector.string_to_sign);
});

test('the SDK-signed request verifies at its date', () => {
  const h = aap.compileBundle(exampleBundle);
  const r = aap.verifySignedRequest(vreq(), h);
  assert.equal(r.stringToSign, vector.string_to_sign);
  assert.equal(r.contentSha256Ok, true);
  assert.equal(r.dateOk, true);
  assert.equal(r.signatureOk, true);
  assert.equal(r.allowed, true, JSON.stringify(r.decision));
  assert.equal(r.decision.Policy, 'sdk-unit-test');
  // the same with the body in base64 and an explicit server time
  const b64 = Buffer.from(vector.request.body_hex, 'hex').toString('base64');
  const r2 = aap.verifySignedRequest({ ...vreq(), bodyHex: undefined, bodyBase64: b64, now: Date.parse(vector.request.headers.date) / 1000 + 60 }, h);
  assert.equal(r2.allowed, true);
  h.free();
});

test('the SDK-signed request fails when anything signed is altered', () => {
  const h = aap.compileBundle(exampleBundle);
  const alter = (name, value) => vreq().headers.map(([k, v]) => [k, k === name ? value : v]);
  // every x-kms-* header and the signed standard headers
  for (const [name, value, code] of [
    ['x-kms-apiname', 'Decrypt', 'SignatureNotMatch'],
    // another client key of the bundle, not valid in 2020: the request is not signed with it, so
    // the caller learns nothing about its validity window, only that the signature does not match
    ['x-kms-acccesskeyid', 'KAAP.8ad07158-93be-4a62-9075-0e777805ba5f', 'SignatureNotMatch'],
    ['date', 'Thu, 06 Feb 2020 07:32:55 GMT', 'SignatureNotMatch'],
    ['content-type', 'application/x-protobuf; charset=utf-8', 'InvalidContentType'],
  ]) {
    const r = aap.verifySignedRequest({ ...vreq(), headers: alter(name, value) }, h);
    assert.equal(r.allowed, false, name);
    assert.equal(r.code, code, name);
    if (code === 'SignatureNotMatch') {
      assert.equal(r.signatureOk, false, name);
      assert.equal(r.httpStatus, 401);
    }
  }
  // an added x-kms-* header is part of the string to sign
  const extra = aap.verifySignedRequest({ ...vreq(), headers: [...vreq().headers, ['x-kms-migrationkeyversionid', 'x']] }, h);
  assert.equal(extra.code, 'SignatureNotMatch');
  assert.match(extra.stringToSign, /x-kms-migrationkeyversionid:x\n/);
  // the body: content-sha256 no longer matches; the report says what was expected
  const body = aap.verifySignedRequest({ ...vreq(), bodyHex: vector.request.body_hex.replace(/6f$/, '70') }, h);
  assert.equal(body.contentSha256Ok, false);
  assert.equal(body.givenContentSha256, vector.request.headers['content-sha256']);
  assert.match(body.expectedContentSha256, /^[0-9A-F]{64}$/);
  assert.notEqual(body.expectedContentSha256, body.givenContentSha256);
  assert.equal(body.code, 'InvalidParam');
  assert.equal(body.message, 'The Param Content-SHA256 is invalid.');
  // the signature itself
  const sig = aap.verifySignedRequest({ ...vreq(), headers: alter('authorization', vector.request.headers.authorization.replace('LQ0G', 'LQ0H')) }, h);
  assert.equal(sig.signatureOk, false);
  assert.equal(sig.code, 'SignatureNotMatch');
  // an hour later the date is out of the window
  const late = aap.verifySignedRequest({ ...vreq(), now: Date.parse(vector.request.headers.date) / 1000 + 3600 }, h);
  assert.equal(late.dateOk, false);
  assert.equal(late.code, 'RequestTimeTooSkewed');
  assert.equal(late.signatureOk, true, 'the other checks are still reported on their own');
  // an unlisted source address is a policy deny after a good signature
  const net = aap.verifySignedRequest({ ...vreq(), sourceIp: '192.168.10.5' }, h);
  assert.equal(net.signatureOk, true);
  assert.equal(net.code, 'Forbidden.NoPermission');
  h.free();
});

test('inspectSignedRequest works without a bundle', () => {
  const r = aap.inspectSignedRequest(vreq());
  assert.equal(r.stringToSign, vector.string_to_sign);
  assert.equal(r.contentSha256Ok, true);
  assert.equal(r.dateOk, true);
  assert.equal(r.signatureOk, null);
  assert.equal(r.decision, null);
  assert.throws(() => aap.inspectSignedRequest({ ...vreq(), bodyHex: 'abc' }), /odd number/);
  assert.throws(() => aap.inspectSignedRequest({ ...vreq(), sourceIp: 'nope' }), /sourceIp/);
});

test('the signed-request input refuses unknown fields', () => {
  // A misspelt field (bodyhex for bodyHex) must not be ignored: the body would silently be empty.
  for (const f of [aap.inspectSignedRequest, aap.stringToSign]) {
    assert.throws(
      () => f({ ...vreq(), bodyHex: undefined, bodyhex: vector.request.body_hex }),
      (e) => e instanceof Error && /^the signed request: unknown field `bodyhex`, expected one of/.test(e.message),
    );
  }
  const h = aap.compileBundle(exampleBundle);
  assert.throws(() => aap.verifySignedRequest({ ...vreq(), extra: 1 }, h), /unknown field `extra`/);
  h.free();
  // and a request that is not an object is refused with a message, too
  assert.throws(() => aap.inspectSignedRequest(undefined), /the signed request: expected an object/);
});

test('apiCatalogue lists the Instance API operations', () => {
  const c = aap.apiCatalogue();
  const byName = Object.fromEntries(c.map((a) => [a.name, a]));
  assert.equal(byName.Encrypt.permission, 'CryptoServiceKeyUser');
  assert.equal(byName.GetSecretValue.resourceKind, 'Secret');
  assert.equal(byName.GenerateRandom.resourceKind, 'None');
  assert.ok(c.length >= 15);
});

// ---- the KMS endpoint (shared gateway): client-key RPC requests --------------------------------

const signedDir = join(repo, 'tests/fixtures/shared-gateway');
const signedFixtures = readdirSync(signedDir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: f, ...JSON.parse(readFileSync(join(signedDir, f), 'utf8')) }));

for (const fx of signedFixtures) {
  test(`signed shared-gateway requests ${fx.file} (${fx.cases.length} cases)`, () => {
    const h = aap.compileBundle(readFileSync(join(repo, fx.bundle), 'utf8'));
    try {
      for (const c of fx.cases) {
        const q = c.request;
        const r = aap.verifyRpcRequest(
          {
            method: q.Method,
            query: q.Path,
            formBody: q.ContentType ? q.Body : undefined,
            now: Date.parse(q.Time) / 1000,
            sourceIp: q.SourceIp,
          },
          h,
        );
        assertExpected(r.decision, c.expect, c.name);
        assert.equal(r.allowed, c.expect.Allowed, c.name);
        assert.equal(r.clientKeyRequest, true, c.name);
        if (!r.allowed) {
          const body = JSON.parse(r.errorBody);
          assert.equal(body.Code, c.expect.ErrorCode, c.name);
          assert.equal(body.Message, r.decision.WireMessage, c.name);
        } else {
          assert.equal(r.errorBody, null, c.name);
          assert.equal(r.signatureOk, true, c.name);
        }
        if (c.expect.ErrorCode === 'SignatureDoesNotMatch') {
          assert.equal(r.signatureOk, false, c.name);
          assert.equal(r.decision.WireMessage.split(':')[1], r.stringToSign, c.name);
        }
      }
    } finally {
      h.free();
    }
  });
}

test('the Secrets Manager client request (reference vector 1) explains itself', () => {
  const doc = JSON.parse(readFileSync(join(repo, 'policy-core/tests/vectors/openapi-signatures.json'), 'utf8'));
  const v = doc.rpc_v1.find((x) => x.access_key_id === 'key_for_unit_test');
  const query = `https://kms.cn-hangzhou.aliyuncs.com/?${v.wire_query}&Signature=${encodeURIComponent(v.signature)}`;
  // Without a bundle: the StringToSign and the timestamp at the request's own time.
  const r = aap.inspectRpcRequest({ query });
  assert.equal(r.stringToSign, v.string_to_sign);
  assert.equal(r.timestampOk, true);
  assert.equal(r.signatureOk, null);
  assert.equal(r.decision, null);
  assert.ok(r.parameters.some(([k, val]) => k === 'SecretName' && val === 'my/secret 1'));
  // The playground's bundle binds key_for_unit_test to an AAP with instance policies only: the
  // signature verifies, and the scope rule refuses it on the KMS endpoint.
  const h = aap.compileBundle(exampleBundle);
  const d = aap.verifyRpcRequest({ query, sourceIp: '172.16.8.20' }, h);
  assert.equal(d.signatureOk, true);
  assert.equal(d.code, 'Forbidden.NoPermission');
  assert.deepEqual(d.decision.FailedChecks, [{ Policy: 'sdk-unit-test', Check: 'Scope' }]);
  const late = aap.verifyRpcRequest({ query, sourceIp: '172.16.8.20', now: Date.parse('2020-02-06T08:00:00Z') / 1000 }, h);
  assert.equal(late.timestampOk, false);
  assert.equal(late.code, 'InvalidTimeStamp.Expired');
  assert.throws(() => aap.inspectRpcRequest({ query: 'a=%zz' }), /query/);
  assert.throws(() => aap.inspectRpcRequest({ query: 'a=b', extra: 1 }), /unknown field `extra`/);
  h.free();
});

// ---------------------------------------------------------------- change impact (diffBundles)

const PAYMENTS_KEY = 'KAAP.8ad07158-93be-4a62-9075-0e777805ba5f';
const edited = (fn) => {
  const doc = JSON.parse(exampleBundle);
  fn(doc);
  return JSON.stringify(doc, null, 2);
};

test('diffBundles: a widened CIDR is Widening, only for the added addresses', () => {
  const widened = edited((d) => d.NetworkRules.find((r) => r.Name === 'app-vpc').SourcePrivateIp.push('10.30.0.0/16'));
  const r = aap.diffBundles(exampleBundle, widened);
  assert.equal(r.Verdict, 'Widening');
  assert.ok(r.Changes.length > 0);
  for (const c of r.Changes) {
    assert.deepEqual(c.Addresses, { Summary: '10.30.0.0/16', Cidrs: ['10.30.0.0/16'] }, JSON.stringify(c));
    assert.equal(c.Before.Decision, 'Deny');
  }
  // the payments key, named by id and by alias, is now usable from the new range
  const key = r.Changes.filter((c) => c.Operation === 'KeyOperation' && c.Principal.Ids?.includes(PAYMENTS_KEY));
  const classes = key.map((c) => `${c.Resource.Kind}:${c.Resource.Name}`).sort();
  assert.deepEqual(classes, ['Alias:alias/payments', 'Named:key-hzz62f1cb66fs5en5kzqh']);
  for (const c of key) assert.deepEqual(c.After, { Decision: 'Allow' });
  // every example request really changes decision, as the compiled bundles say
  const before = aap.compileBundle(exampleBundle);
  const after = aap.compileBundle(widened);
  try {
    // (Decrypts naming a key version are decided on the version's key; the Rust property test covers them.)
    for (const c of r.Changes.filter((c) => c.Operation !== 'KeyByVersion')) {
      const req = { ClientKeyId: c.Example.Caller, Api: c.Example.Api, Resource: c.Example.Resource, SourceIp: c.Example.SourceIp, Scope: c.Example.Scope, Time: c.Example.Time };
      const [b, a] = [before.decide(req), after.decide(req)];
      assert.equal(b.Allowed, c.Before.Decision === 'Allow', JSON.stringify(c.Example));
      assert.equal(a.Allowed, c.After.Decision === 'Allow', JSON.stringify(c.Example));
    }
  } finally {
    before.free();
    after.free();
  }
  const text = aap.formatImpact(exampleBundle, widened);
  assert.match(text, /deny Forbidden\.NoPermission → allow: client key KAAP\.8ad0.*from 10\.30\.0\.0\/16/);
  assert.match(text, /WIDENING/);
});

test('diffBundles: identical bundles are NoChange, whitespace aside', () => {
  assert.deepEqual(aap.diffBundles(exampleBundle, exampleBundle), { Verdict: 'NoChange', Changes: [], Notes: [] });
  const compact = JSON.stringify(JSON.parse(exampleBundle));
  assert.equal(aap.diffBundles(exampleBundle, compact).Verdict, 'NoChange');
  assert.match(aap.formatImpact(exampleBundle, compact), /^no decision changes\n/);
});

test('diffBundles: a removed policy is Narrowing, for that AAP and that policy only', () => {
  const removed = edited((d) => {
    d.Policies = d.Policies.filter((p) => p.Name !== 'payments-secrets');
    d.ApplicationAccessPoints.find((a) => a.Name === 'payments-app').Policies = ['payments-keys'];
  });
  const r = aap.diffBundles(exampleBundle, removed);
  assert.equal(r.Verdict, 'Narrowing');
  assert.ok(r.Changes.length > 0);
  assert.ok(r.Changes.some((c) => c.Resource.Name === 'payments/db-password' && c.Before.Decision === 'Allow'));
  for (const c of r.Changes) {
    assert.equal(c.Principal.Kind, 'ClientKeys');
    assert.deepEqual(c.Principal.Ids, [PAYMENTS_KEY]);
    assert.equal(c.Operation, 'GetSecretValue');
    assert.notEqual(c.After.Decision, 'Allow');
    // the policy applied to the app VPC: nothing else changes
    assert.equal(c.Addresses.Summary, '10.20.0.0/16, 10.21.4.0/24');
  }
  // the other direction grants it back
  assert.equal(aap.diffBundles(removed, exampleBundle).Verdict, 'Widening');
});

test('diffBundles: a bundle that does not compile throws the bundle errors, saying which', () => {
  const broken = edited((d) => (d.Policies[0].Resources = ['key/a*b']));
  for (const [args, which] of [
    [[broken, exampleBundle], 'old'],
    [[exampleBundle, broken], 'new'],
    [[exampleBundle, '{"Policies": ['], 'new'],
  ]) {
    for (const fn of [aap.diffBundles, aap.formatImpact]) {
      assert.throws(
        () => fn(...args),
        (e) => e instanceof Error && e.bundle === which && e.message.startsWith(`${which} bundle: `) && Array.isArray(e.errors) && e.errors.length > 0,
      );
    }
  }
  const e = (() => {
    try {
      aap.diffBundles(exampleBundle, broken);
    } catch (err) {
      return err;
    }
  })();
  assert.ok(e.errors.some((x) => x.path === '$.Policies[0].Resources[0]' && x.line > 0), JSON.stringify(e.errors));
  // compileBundle's Error is unchanged: no `bundle` property
  assert.throws(() => aap.compileBundle(broken), (err) => err.bundle === undefined && /^1 error/.test(err.message));
});

test('the ImpactReport declaration in the .d.ts names the fields a report has', () => {
  const dts = readFileSync(join(here, '../pkg-node/aapkit_wasm.d.ts'), 'utf8');
  const fields = (name) => {
    const m = dts.match(new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`));
    assert.ok(m, `${name} is declared`);
    return m[1].split('\n').map((l) => l.match(/^\s*(\w+):/)?.[1]).filter(Boolean).sort();
  };
  assert.match(dts, /export function diffBundles\(oldJson: string, newJson: string\): ImpactReport;/);
  const widened = edited((d) => d.NetworkRules[0].SourcePrivateIp.push('10.30.0.0/16'));
  const r = aap.diffBundles(exampleBundle, widened);
  assert.deepEqual(Object.keys(r).sort(), fields('ImpactReport'));
  assert.deepEqual(Object.keys(r.Changes[0]).sort(), fields('ImpactRegion'));
  assert.deepEqual(Object.keys(r.Changes[0].Example).sort(), ['Api', 'Caller', 'Resource', 'Scope', 'SourceIp', 'Time']);
  assert.deepEqual(Object.keys(r.Changes[0].Principal).sort(), ['AapAfter', 'AapBefore', 'Ids', 'Kind']);
});

// The fixture pairs of tests/fixtures/impact, with the rows `aapkit diff` is reviewed to print:
// the wasm build must print the same, byte for byte.
const impactDir = join(repo, 'tests/fixtures/impact');
const impactFixtures = existsSync(impactDir) ? readdirSync(impactDir).filter((f) => f.endsWith('.json')).sort() : [];

test('there are change-impact fixture pairs', () => assert.ok(impactFixtures.length >= 5, impactFixtures.join(', ')));

for (const f of impactFixtures) {
  test(`formatImpact and diffBundles on ${f} give the reviewed rows`, () => {
    const fx = JSON.parse(readFileSync(join(impactDir, f), 'utf8'));
    const oldText = readFileSync(join(repo, fx.Old), 'utf8');
    const newText = JSON.stringify(fx.New);
    const expected = readFileSync(join(impactDir, f.replace(/\.json$/, '.expected.txt')), 'utf8');
    assert.equal(aap.formatImpact(oldText, newText), expected, fx.Comment);
    const r = aap.diffBundles(oldText, newText);
    assert.equal(r.Changes.length, Number(expected.match(/^(\d+) changed region/m)[1]));
    assert.equal(r.Verdict === 'Widening', /WIDENING/.test(expected));
  });
}
