// Unit tests of the page's small JS modules (no browser needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { encodeState, decodeState } from '../lib/share.mjs';
import { parseHeaderText, decodeBody, toHex } from '../lib/headers.mjs';
import { addNetworkRule, addPolicy, addAap, names, listOf } from '../lib/bundle-edit.mjs';
import { describeOutcome, describePrincipal, describeResource, describeTime, describeExample, widens } from '../lib/impact.mjs';
import { resolvePath } from '../serve.mjs';

test('the share fragment round-trips, compressed and plain', async () => {
  const s = { bundle: '{"a": "ünïcode ✓"}', request: { api: 'Encrypt' }, big: 'x'.repeat(5000) };
  const z = await encodeState(s);
  assert.match(z, /^z=[A-Za-z0-9_-]+$/);
  assert.ok(z.length < 200, 'compression works');
  assert.deepEqual(await decodeState('#' + z), s);
  const u = await encodeState(s, { compress: false });
  assert.match(u, /^u=/);
  assert.deepEqual(await decodeState(u), s);
  assert.equal(await decodeState('#z=!!!'), null);
  assert.equal(await decodeState(''), null);
  assert.equal(await decodeState('#u=' + Buffer.from('[1]').toString('base64url')), null);
});

test('header text parsing', () => {
  const r = parseHeaderText('POST / HTTP/1.1\nContent-Type: application/x-protobuf\nx-kms-apiname:Encrypt  \n\nbad line\nauthorization: Bearer a:b');
  assert.equal(r.method, 'POST');
  assert.deepEqual(r.headers, [
    ['content-type', 'application/x-protobuf'],
    ['x-kms-apiname', 'Encrypt'],
    ['authorization', 'Bearer a:b'],
  ]);
  assert.equal(r.problems.length, 1);
  assert.match(r.problems[0], /line 5/);
});

test('body decoding in hex and base64, with clear errors', () => {
  assert.equal(toHex(decodeBody('0a08 6b65', 'hex')), '0a086b65');
  assert.equal(toHex(decodeBody('Cghr', 'base64')), '0a086b');
  assert.equal(decodeBody('', 'hex').length, 0);
  assert.throws(() => decodeBody('abc', 'hex'), /odd number/);
  assert.throws(() => decodeBody('zz', 'hex'), /not a hex digit/);
  assert.throws(() => decodeBody('@@@@', 'base64'), /base64/);
});

test('the add forms write bundle-format objects', async () => {
  const doc = JSON.parse(await readFile(new URL('../example-bundle.json', import.meta.url), 'utf8'));
  assert.equal(addNetworkRule(doc, { name: 'office', ips: '10.1.0.0/16, 10.2.0.1' }), 'added');
  assert.deepEqual(doc.NetworkRules.at(-1), { Name: 'office', Type: 'Private', SourcePrivateIp: ['10.1.0.0/16', '10.2.0.1'] });
  addPolicy(doc, { name: 'p', scope: 'shared', permissions: ['SecretUser'], resources: 'secret/a/*', networkRules: ['office'] });
  assert.deepEqual(doc.Policies.at(-1), {
    Name: 'p',
    Permissions: ['RbacPermission/Template/SecretUser'],
    Resources: ['secret/a/*'],
    KmsInstance: 'shared',
    AccessControlRules: { NetworkRules: ['office'] },
  });
  assert.equal(addAap(doc, { name: 'payments-app', policies: ['p'] }), 'replaced');
  assert.throws(() => addAap(doc, { name: ' ' }), /needs a name/);
  const n = names(doc);
  assert.ok(n.networkRules.includes('office'));
  assert.ok(n.aaps.includes('payments-app'));
  assert.ok(n.clientKeys.some((c) => c.id === 'key_for_unit_test' && c.aap === 'sdk-test'));
  assert.deepEqual(listOf('["a","b"]'), ['a', 'b']);
  assert.deepEqual(names(null).aaps, []);
});

test('the static server serves only the page files', () => {
  assert.ok(resolvePath('/')?.endsWith('index.html'));
  assert.ok(resolvePath('/pkg/aapkit_wasm.js?x=1')?.endsWith('aapkit_wasm.js'));
  assert.equal(resolvePath('/../package.json'), null);
  assert.equal(resolvePath('/%2e%2e/%2e%2e/etc/passwd'), null);
  assert.equal(resolvePath('/node_modules/x.js'), null);
  assert.equal(resolvePath('/tests/lib.test.mjs'), null);
  assert.equal(resolvePath('/%E0%A4%A'), null);
});

test('change-impact rows are worded as aapkit diff words them', () => {
  assert.equal(describeOutcome({ Decision: 'Allow' }), 'allow');
  assert.equal(describeOutcome({ Decision: 'Deny', Code: 'Forbidden.NoPermission' }), 'deny NoPermission');
  assert.equal(describeOutcome({ Decision: 'Deny', Code: 'Forbidden.KeyNotFound' }), 'deny KeyNotFound');
  assert.deepEqual(describePrincipal({ Kind: 'ClientKeys', Ids: ['k1'], AapBefore: 'a', AapAfter: 'a' }), { text: 'client key k1 (AAP a)', all: ['k1'] });
  assert.equal(describePrincipal({ Kind: 'ClientKeys', Ids: ['k1', 'k2', 'k3'], AapBefore: 'a', AapAfter: 'b' }).text, 'client keys k1 and 2 more (AAP a → b)');
  assert.equal(describePrincipal({ Kind: 'ClientKeys', Ids: ['k1'], AapBefore: 'a', AapAfter: null }).text, 'client key k1 (AAP a, removed)');
  assert.equal(describePrincipal({ Kind: 'ClientKeys', Ids: ['k1'], AapBefore: null, AapAfter: 'b' }).text, 'client key k1 (new, AAP b)');
  assert.equal(describePrincipal({ Kind: 'RamRoleAap', Aap: 'r' }).text, 'RAM-role sessions (AAP r)');
  assert.equal(describeResource('KeyOperation', { Kind: 'Named', Name: 'key-1' }), 'key key-1');
  assert.equal(describeResource('GetSecretValue', { Kind: 'Prefix', Name: 'app/' }), 'other secret names starting with app/');
  assert.equal(describeResource('GetSecretValue', { Kind: 'Prefix', Name: '' }), 'other secret names');
  assert.equal(describeResource('KeyOperation', { Kind: 'Unmatched' }), 'key names no policy lists');
  assert.equal(describeResource('KeyOperation', { Kind: 'Alias', Name: 'alias/p' }), 'alias/p');
  assert.equal(describeResource('GenerateRandom', { Kind: 'None' }), '–');
  assert.equal(describeTime({ From: null, Until: null }), 'always');
  assert.equal(describeTime({ From: 1735689600, Until: null }), 'from 2025-01-01T00:00:00Z');
  assert.equal(describeTime({ From: null, Until: 1735689600 }), 'before 2025-01-01T00:00:00Z');
  assert.equal(describeTime({ From: 0, Until: 1735689600 }), '1970-01-01T00:00:00Z to 2025-01-01T00:00:00Z');
  assert.equal(
    describeExample({ Caller: 'k1', Api: 'GenerateRandom', Resource: null, SourceIp: '10.0.0.1', Scope: 'shared', Time: '2025-01-01T00:00:00Z' }),
    'k1 GenerateRandom from 10.0.0.1 at 2025-01-01T00:00:00Z (scope shared)',
  );
  assert.equal(widens({ Before: { Decision: 'Deny', Code: 'x' }, After: { Decision: 'Allow' } }), true);
  assert.equal(widens({ Before: { Decision: 'Allow' }, After: { Decision: 'Deny', Code: 'x' } }), false);
  assert.equal(widens({ Before: { Decision: 'Deny', Code: 'x' }, After: { Decision: 'Deny', Code: 'y' } }), false);
});
