// The "add without writing JSON" forms: each adds one object to the bundle document, in the
// bundle's own field names. No policy logic here: the wasm module validates the result.

/** A list field: a JSON array, or a JSON array inside a string (the management API form). */
export function listOf(v) {
  if (Array.isArray(v)) return v;
  if (typeof v === 'string') {
    try {
      const p = JSON.parse(v);
      return Array.isArray(p) ? p : [];
    } catch {
      return [];
    }
  }
  return [];
}

/** Splits a form field on commas, spaces and new lines, dropping empties. */
export function splitList(text) {
  return String(text ?? '')
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

function section(doc, name) {
  if (!Array.isArray(doc[name])) doc[name] = listOf(doc[name]);
  return doc[name];
}

function requireName(name, what) {
  const n = String(name ?? '').trim();
  if (!n) throw new Error(`the ${what} needs a name`);
  return n;
}

function replaceOrPush(list, key, obj) {
  const i = list.findIndex((x) => x && x[key] === obj[key]);
  if (i >= 0) list[i] = obj;
  else list.push(obj);
  return i >= 0 ? 'replaced' : 'added';
}

/** Adds (or replaces, by name) a network rule. */
export function addNetworkRule(doc, { name, ips, description }) {
  const rule = { Name: requireName(name, 'network rule'), Type: 'Private', SourcePrivateIp: splitList(ips) };
  if (description) rule.Description = description;
  return replaceOrPush(section(doc, 'NetworkRules'), 'Name', rule);
}

export const PERMISSIONS = {
  CryptoServiceKeyUser: 'RbacPermission/Template/CryptoServiceKeyUser',
  CryptoServiceSecretUser: 'RbacPermission/Template/CryptoServiceSecretUser',
  SecretUser: 'RbacPermission/Template/SecretUser',
};

/** Adds (or replaces, by name) a policy. `permissions` are short names (CryptoServiceKeyUser...). */
export function addPolicy(doc, { name, scope, permissions, resources, networkRules, description }) {
  const p = {
    Name: requireName(name, 'policy'),
    Permissions: (permissions ?? []).map((x) => PERMISSIONS[x] ?? x),
    Resources: splitList(resources),
    KmsInstance: String(scope ?? '').trim(),
    AccessControlRules: { NetworkRules: Array.isArray(networkRules) ? networkRules : splitList(networkRules) },
  };
  if (description) p.Description = description;
  return replaceOrPush(section(doc, 'Policies'), 'Name', p);
}

/** Adds (or replaces, by name) an application access point. */
export function addAap(doc, { name, policies, description }) {
  const a = {
    Name: requireName(name, 'application access point'),
    Policies: Array.isArray(policies) ? policies : splitList(policies),
    AuthenticationMethod: 'ClientKey',
  };
  if (description) a.Description = description;
  return replaceOrPush(section(doc, 'ApplicationAccessPoints'), 'Name', a);
}

/** Names the forms and selects offer, read leniently from a possibly half-valid document. */
export function names(doc) {
  const d = doc && typeof doc === 'object' ? doc : {};
  const pick = (list, key) => listOf(list).map((x) => (x && typeof x === 'object' ? x[key] : undefined)).filter((x) => typeof x === 'string');
  return {
    networkRules: pick(d.NetworkRules, 'Name'),
    policies: pick(d.Policies, 'Name'),
    aaps: pick(d.ApplicationAccessPoints, 'Name'),
    clientKeys: listOf(d.ClientKeys)
      .filter((c) => c && typeof c.ClientKeyId === 'string')
      .map((c) => ({ id: c.ClientKeyId, aap: c.AapName, notBefore: c.NotBefore, notAfter: c.NotAfter })),
    keys: listOf(d.Keys).filter((k) => k && typeof k.KeyId === 'string').map((k) => ({ id: k.KeyId, aliases: listOf(k.Aliases) })),
    secrets: pick(d.Secrets, 'SecretName'),
    scope: d.Gateway && typeof d.Gateway.Scope === 'string' ? d.Gateway.Scope : undefined,
  };
}
