// The playground: an editor for the policy bundle and four views over policy-core (wasm).
// All decisions come from the wasm module; this file only reads forms and renders results.
import init, * as aap from './pkg/aapkit_wasm.js';
import { encodeState, decodeState } from './lib/share.mjs';
import { parseHeaderText, decodeBody, formatHeaders, toHex } from './lib/headers.mjs';
import { addNetworkRule, addPolicy, addAap, names, splitList } from './lib/bundle-edit.mjs';
import { SDK_VECTOR, SHARED_GATEWAY_VECTOR } from './lib/sdk-vector.mjs';
import {
  describeExample,
  describeOperation,
  describeOutcome,
  describePrincipal,
  describeResource,
  describeTime,
  VERDICTS,
  widens,
} from './lib/impact.mjs';

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** Creates an element: el('td', {class: 'x'}, 'text', child...). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const state = {
  handle: null, // the compiled bundle (aap.PolicyHandle), reused by every decision
  names: names({}),
  view: 'decide',
  catalogue: [],
};

// ---------------------------------------------------------------- time helpers

/** Seconds since the epoch from an ISO 8601 / RFC 1123 text; empty means "now". */
function parseTime(text) {
  const t = String(text ?? '').trim();
  if (!t) return { now: Math.floor(Date.now() / 1000) };
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) return { error: `cannot read the time ${JSON.stringify(t)}; use 2025-06-01T12:00:00Z` };
  return { now: Math.floor(ms / 1000) };
}

function isoOf(secs) {
  return new Date(secs * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

// ---------------------------------------------------------------- bundle editor

const bundleArea = () => $('#bundle');

function renderGutter(errorLines) {
  const n = bundleArea().value.split('\n').length;
  const g = $('#gutter');
  g.textContent = '';
  for (let i = 1; i <= n; i++) {
    g.append(errorLines.has(i) ? el('span', { class: 'bad', title: errorLines.get(i) }, String(i)) : String(i), '\n');
  }
  g.scrollTop = bundleArea().scrollTop;
}

/** Index in the text of a 1-based line and column (columns count characters, as policy-core's do). */
function offsetOf(lines, line, column) {
  const start = lines.slice(0, line - 1).reduce((a, l) => a + l.length + 1, 0);
  return start + [...(lines[line - 1] ?? '')].slice(0, Math.max(0, column - 1)).join('').length;
}

/** Selects the offending value (policy-core's span), or the whole line when it has no extent. */
function goToError(e) {
  const ta = bundleArea();
  const lines = ta.value.split('\n');
  const s = e.span;
  let from = offsetOf(lines, e.line, 1);
  let to = from + (lines[e.line - 1]?.length ?? 0);
  if (s && (s.EndLine > s.Line || s.EndColumn > s.Column)) {
    from = offsetOf(lines, s.Line, s.Column);
    to = offsetOf(lines, s.EndLine, s.EndColumn);
  }
  ta.focus();
  ta.setSelectionRange(from, to);
  const lh = parseFloat(getComputedStyle(ta).lineHeight) || 18;
  ta.scrollTop = Math.max(0, (e.line - 5) * lh);
}

function setBundleStatus(kind, text) {
  const p = $('#bundle-status');
  p.dataset.state = kind;
  p.textContent = text;
}

function onBundleChange() {
  const text = bundleArea().value;
  let result;
  try {
    result = aap.validateBundle(text);
  } catch (e) {
    result = { ok: false, errors: [{ path: '$', value: '', message: String(e?.message ?? e) }] };
  }
  // Each error carries the line and column policy-core found for its value.
  const errors = result.ok ? [] : (result.errors ?? []);
  const list = $('#bundle-errors');
  list.textContent = '';
  const errorLines = new Map();
  for (const e of errors) {
    if (e.line) errorLines.set(e.line, e.message);
    const li = el(
      'li',
      { dataset: { path: e.path, line: e.line ?? '', column: e.column ?? '' } },
      el('span', { class: 'where' }, `${e.path}${e.line ? ` · line ${e.line}, column ${e.column}` : ''}`),
      ' ',
      e.message,
      e.value ? el('div', { class: 'value' }, `value: ${e.value}`) : null,
    );
    if (e.line) li.addEventListener('click', () => goToError(e));
    list.append(li);
  }
  renderGutter(errorLines);

  if (!result.ok) {
    setBundleStatus('error', `${errors.length} error${errors.length === 1 ? '' : 's'}`);
    dropHandle();
    refreshView();
    document.body.dataset.bundleGen = String(Number(document.body.dataset.bundleGen ?? 0) + 1);
    return;
  }
  try {
    const h = aap.compileBundle(text);
    dropHandle();
    state.handle = h;
    setBundleStatus('ok', 'valid');
  } catch (e) {
    dropHandle();
    setBundleStatus('error', 'does not compile');
    list.append(el('li', {}, String(e?.message ?? e)));
  }
  try {
    state.names = names(JSON.parse(text));
  } catch {
    state.names = names({});
  }
  refreshNames();
  refreshView();
  document.body.dataset.bundleGen = String(Number(document.body.dataset.bundleGen ?? 0) + 1);
}

function dropHandle() {
  if (state.handle) {
    state.handle.free();
    state.handle = null;
  }
}

// Fills the datalists, selects and form checkboxes from the bundle's names.
function refreshNames() {
  const n = state.names;
  const fill = (sel, values) => {
    const dl = $(sel);
    dl.textContent = '';
    for (const v of values) dl.append(el('option', { value: v.value ?? v }, v.label ?? null));
  };
  fill('#client-keys', n.clientKeys.map((c) => ({ value: c.id, label: c.aap ? `AAP ${c.aap}` : '' })));
  fill('#resources', [...n.keys.flatMap((k) => [k.id, ...k.aliases]), ...n.secrets]);

  const checks = (box, name, values, keep) => {
    const before = new Set($$(`input[name="${name}"]:checked`, box).map((i) => i.value));
    box.textContent = '';
    if (values.length === 0) box.append(el('span', { class: 'muted' }, 'none in the bundle yet'));
    for (const v of values) {
      box.append(el('label', { class: 'inline' }, el('input', { type: 'checkbox', name, value: v, checked: keep && before.has(v) }), v));
    }
  };
  checks($('#policy-rules'), 'rule', n.networkRules, true);
  checks($('#aap-policies'), 'policy', n.policies, true);

  const sel = $('#matrix-aap');
  const cur = sel.value;
  sel.textContent = '';
  for (const a of n.aaps) sel.append(el('option', { value: a }, a));
  if (n.aaps.includes(cur)) sel.value = cur;
}

// ---------------------------------------------------------------- forms that add to the bundle

function editBundle(fn) {
  const status = $('#form-status');
  let doc;
  try {
    doc = JSON.parse(bundleArea().value);
  } catch {
    status.textContent = 'Fix the JSON syntax first: the forms edit the parsed document.';
    return false;
  }
  try {
    const what = fn(doc);
    bundleArea().value = JSON.stringify(doc, null, 2);
    status.textContent = what;
    onBundleChange();
    scheduleShare();
    return true;
  } catch (e) {
    status.textContent = String(e?.message ?? e);
    return false;
  }
}

function wireForms() {
  $$('.form-tabs button').forEach((b) =>
    b.addEventListener('click', () => {
      $$('.form-tabs button').forEach((x) => x.setAttribute('aria-selected', String(x === b)));
      $$('.mini-form').forEach((f) => (f.hidden = f.id !== b.dataset.form));
    }),
  );
  $('#form-rule').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    editBundle((doc) => `Network rule ${addNetworkRule(doc, { name: f.get('name'), ips: f.get('ips'), description: f.get('description') })}.`);
  });
  $('#form-policy').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    editBundle(
      (doc) =>
        `Policy ${addPolicy(doc, {
          name: f.get('name'),
          scope: f.get('scope'),
          permissions: f.getAll('perm'),
          resources: f.get('resources'),
          networkRules: f.getAll('rule'),
        })}.`,
    );
  });
  $('#form-aap').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    editBundle((doc) => `Access point ${addAap(doc, { name: f.get('name'), policies: f.getAll('policy'), description: f.get('description') })}.`);
  });
}

// ---------------------------------------------------------------- rendering decisions

/** The checks of one policy, in the order policy-core evaluates them. */
const CHECKS = ['Scope', 'Role', 'Resource', 'Network'];

function banner(report) {
  const allowed = report.Allowed === true;
  return el(
    'div',
    {
      class: `banner ${allowed ? 'allow' : 'deny'}`,
      dataset: { allowed: String(allowed), code: report.ErrorCode ?? '', status: String(report.HttpStatus), policy: report.Policy ?? '' },
    },
    el('span', { class: 'verdict' }, allowed ? 'ALLOW' : 'DENY'),
    el('span', { class: 'code' }, allowed ? '200' : `${report.HttpStatus ?? ''} ${report.ErrorCode ?? ''}`.trim()),
    allowed && report.Policy ? el('span', {}, `by policy ${report.Policy}${report.Aap ? ` of access point ${report.Aap}` : ''}`) : null,
  );
}

function traceTable(report) {
  const trace = report.Trace ?? [];
  if (trace.length === 0) return null;
  const head = el('tr', {}, el('th', {}, 'Policy'), CHECKS.map((c) => el('th', {}, c)));
  const rows = trace.map((t) =>
    el(
      'tr',
      { dataset: { policy: t.Policy } },
      el('td', {}, t.Policy),
      CHECKS.map((c) => {
        const outcome = t[c]; // "Pass" | "Fail" | "NotEvaluated"
        const cls = outcome === 'Pass' ? 'pass' : outcome === 'Fail' ? 'fail' : 'skip';
        const label = outcome === 'Pass' ? '✓ pass' : outcome === 'Fail' ? '✗ fails' : '–';
        return el('td', { class: cls, dataset: { check: c, outcome: String(outcome ?? '') } }, label);
      }),
    ),
  );
  return el('table', { class: 'trace' }, el('thead', {}, head), el('tbody', {}, rows));
}

function renderDecision(target, report, extraFacts = []) {
  target.textContent = '';
  target.append(banner(report));
  if (report.Message) target.append(el('p', { class: 'message' }, report.Message));
  // The caller hears less than the operator sees (no AAP, policy or check names).
  if (report.WireMessage && report.WireMessage !== report.Message) {
    target.append(el('p', { class: 'wire-message' }, `The caller is told: ${report.WireMessage}`));
  }
  const facts = [
    ['Access point', report.Aap],
    ['Policy', report.Policy],
    ...extraFacts,
  ].filter(([, v]) => v !== undefined && v !== null && v !== '');
  if (facts.length) target.append(el('dl', { class: 'facts' }, facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])));
  const table = traceTable(report);
  if (table) {
    target.append(el('h3', { class: 'muted' }, report.Allowed ? 'Policies of the access point' : 'Why each policy of the access point does not allow it'));
    target.append(table);
  }
}

function pending(target, text) {
  target.textContent = '';
  target.append(el('div', { class: 'banner pending' }, el('span', { class: 'verdict' }, '…'), el('span', {}, text)));
}

// ---------------------------------------------------------------- decision view

function readRequest() {
  const f = new FormData($('#request'));
  const t = parseTime(f.get('time'));
  return {
    doc: {
      ClientKeyId: String(f.get('clientKey') ?? '').trim(),
      Api: String(f.get('api') ?? ''),
      Resource: String(f.get('resource') ?? '').trim() || null,
      SourceIp: String(f.get('sourceIp') ?? '').trim(),
      Scope: String(f.get('scope') ?? '').trim() || null,
      Time: t.error ? null : isoOf(t.now),
    },
    timeError: t.error,
  };
}

function refreshDecision() {
  const out = $('#decision');
  if (!state.handle) return pending(out, 'Fix the bundle to see decisions.');
  const { doc, timeError } = readRequest();
  if (timeError) return pending(out, timeError);
  let report;
  try {
    report = state.handle.explain(doc);
  } catch (e) {
    return pending(out, String(e?.message ?? e));
  }
  renderDecision(out, report);
}

// ---------------------------------------------------------------- signed-request view

/** Shows the inputs of the chosen door (Instance API headers, or an RPC query string). */
function syncWire() {
  const rpc = new FormData($('#signed')).get('wire') === 'rpc';
  $$('#signed .wire-instance').forEach((e) => (e.hidden = rpc));
  $$('#signed .wire-rpc').forEach((e) => (e.hidden = !rpc));
}

const checkItem = (ok, name, detail, key) =>
  el(
    'li',
    { class: ok === true ? 'ok' : ok === false ? 'bad' : 'na', dataset: { check: key, ok: String(ok) } },
    el('span', {}, ok === true ? '✓' : ok === false ? '✗' : '–'),
    el('strong', {}, name),
    el('span', { class: 'detail' }, detail),
  );

/** The KMS endpoint: a client-key RPC request (SHA256withRSA), decided by policy-core's shared gateway. */
function refreshRpc(out, f) {
  const query = String(f.get('query') ?? '').trim();
  if (!query) return pending(out, 'Paste the URL or query string of a signed request (or load the Secrets Manager client example).');
  let now;
  const nowText = String(f.get('now') ?? '').trim();
  if (nowText) {
    const t = parseTime(nowText);
    if (t.error) return pending(out, t.error);
    now = t.now;
  }
  const input = {
    method: String(f.get('method') ?? '').trim() || 'POST',
    query,
    formBody: String(f.get('formBody') ?? ''),
    now,
    sourceIp: String(f.get('sourceIp') ?? '').trim() || null,
  };
  let r;
  try {
    r = state.handle ? aap.verifyRpcRequest(input, state.handle) : aap.inspectRpcRequest(input);
  } catch (e) {
    return pending(out, String(e?.message ?? e));
  }
  out.textContent = '';
  if (r.decision) renderDecision(out, r.decision);
  else if (!state.handle) out.append(el('div', { class: 'banner pending' }, 'No valid bundle: only the signature-independent checks are shown.'));
  const list = el('ul', { class: 'checks-list' });
  list.append(
    checkItem(
      r.clientKeyRequest,
      'client key',
      r.clientKeyRequest
        ? 'a client-key request (SHA256withRSA, PRIVATEKEY or a KAAP. id): decided by policy-core on the shared gateway'
        : 'an AccessKey request: the gateway passes it to the host, which verifies the AccessKey',
      'client-key',
    ),
    checkItem(r.timestampOk, 'Timestamp', r.timestampDetail, 'timestamp'),
    checkItem(r.signatureOk, 'signature', r.signatureDetail, 'signature'),
  );
  out.append(list);
  out.append(el('h3', { class: 'muted' }, 'String to sign (rebuilt from the decoded parameters)'));
  out.append(el('pre', { class: 'sts', id: 'string-to-sign' }, r.stringToSign));
  if (r.errorBody) {
    out.append(el('h3', { class: 'muted' }, 'The JSON error the KMS endpoint answers'));
    out.append(el('pre', { class: 'sts', id: 'rpc-error-body' }, JSON.stringify(JSON.parse(r.errorBody), null, 2)));
  }
  const rows = r.parameters.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v)));
  out.append(el('h3', { class: 'muted' }, 'Parameters (query, then form body, decoded)'), el('table', { id: 'rpc-params' }, el('tbody', {}, rows)));
}

function refreshSigned() {
  const out = $('#signed-result');
  const f = new FormData($('#signed'));
  syncWire();
  if (f.get('wire') === 'rpc') return refreshRpc(out, f);
  const parsed = parseHeaderText(f.get('headers'));
  if (!String(f.get('headers') ?? '').trim()) return pending(out, 'Paste the headers of a signed request (or load the SDK example).');
  let body;
  try {
    body = decodeBody(f.get('body'), f.get('enc'));
  } catch (e) {
    return pending(out, String(e.message));
  }
  const method = String(f.get('method') ?? '').trim() || parsed.method || 'POST';
  let now;
  const nowText = String(f.get('now') ?? '').trim();
  if (nowText) {
    const t = parseTime(nowText);
    if (t.error) return pending(out, t.error);
    now = t.now;
  } else {
    now = Math.floor(Date.now() / 1000);
  }
  const input = { method, headers: parsed.headers, bodyHex: toHex(body), now, sourceIp: String(f.get('sourceIp') ?? '').trim() || null };
  let r;
  try {
    r = state.handle ? aap.verifySignedRequest(input, state.handle) : aap.inspectSignedRequest(input);
  } catch (e) {
    return pending(out, String(e?.message ?? e));
  }
  out.textContent = '';
  if (parsed.problems.length) out.append(el('div', { class: 'banner pending' }, parsed.problems.join('; ')));
  if (r.decision) renderDecision(out, r.decision);
  else if (!state.handle) out.append(el('div', { class: 'banner pending' }, 'No valid bundle: only the signature-independent checks are shown.'));

  const item = checkItem;
  const list = el('ul', { class: 'checks-list' });
  list.append(
    item(
      r.contentSha256Ok,
      'content-sha256',
      r.contentSha256Ok
        ? `${r.expectedContentSha256} = SHA-256 of the body`
        : `SHA-256 of the body is ${r.expectedContentSha256}, the header says ${r.givenContentSha256 ?? '(no content-sha256 header)'}`,
      'content-sha256',
    ),
    item(r.dateOk, 'date', r.dateDetail, 'date'),
    item(r.signatureOk, 'signature', r.signatureDetail, 'signature'),
  );
  out.append(list);
  out.append(el('h3', { class: 'muted' }, 'String to sign (rebuilt from the headers)'));
  out.append(el('pre', { class: 'sts', id: 'string-to-sign' }, r.stringToSign));
}

function loadRpcVector() {
  const v = SHARED_GATEWAY_VECTOR;
  const form = $('#signed');
  form.elements.wire.value = 'rpc';
  form.elements.method.value = v.method;
  form.elements.query.value = v.url;
  form.elements.formBody.value = '';
  form.elements.now.value = v.timestamp;
  form.elements.sourceIp.value = v.sourceIp;
  refreshSigned();
  scheduleShare();
}

function loadVector() {
  const v = SDK_VECTOR;
  const form = $('#signed');
  form.elements.wire.value = 'instance';
  form.elements.method.value = v.method;
  form.elements.headers.value = formatHeaders(v.headers);
  form.elements.body.value = v.bodyHex;
  form.elements.enc.value = 'hex';
  form.elements.now.value = v.headers.date;
  form.elements.sourceIp.value = v.sourceIp;
  refreshSigned();
  scheduleShare();
}

// ---------------------------------------------------------------- matrix view

function refreshMatrix() {
  const out = $('#matrix');
  out.textContent = '';
  if (!state.handle) return pending(out, 'Fix the bundle to see the matrix.');
  const f = new FormData($('#matrix-form'));
  const aapName = String(f.get('aap') ?? '');
  const key = state.names.clientKeys.find((c) => c.aap === aapName);
  if (!key) return pending(out, `Access point ${JSON.stringify(aapName)} has no client key in the bundle; add one to ClientKeys.`);
  const t = parseTime(f.get('time'));
  if (t.error) return pending(out, t.error);
  const resources = splitList(f.get('resources'));
  const ips = splitList(f.get('ips'));
  if (!resources.length || !ips.length) return pending(out, 'List some resources and source addresses.');
  out.append(el('p', { class: 'muted' }, `Requests signed with client key ${key.id} at ${isoOf(t.now)}. ✓ = allowed; otherwise the error code.`));
  for (const ip of ips) {
    const head = el('tr', {}, el('th', {}, 'API'), resources.map((r) => el('th', {}, r)));
    const rows = state.catalogue.map((api) =>
      el(
        'tr',
        {},
        el('th', {}, api.name),
        resources.map((res) => {
          const needsResource = api.resourceKind !== 'None';
          let rep;
          try {
            rep = state.handle.decide({
            ClientKeyId: key.id,
            Api: api.name,
            Resource: needsResource ? res : null,
            SourceIp: ip,
            Scope: String(f.get('scope') ?? '').trim() || null,
            Time: isoOf(t.now),
            });
          } catch (e) {
            return el('td', { class: 'no', title: String(e?.message ?? e) }, 'bad input');
          }
          return rep.Allowed
            ? el('td', { class: 'yes', title: `by ${rep.Policy}` }, '✓')
            : el('td', { class: 'no', title: `${rep.HttpStatus} ${rep.ErrorCode}: ${rep.Message ?? ''}` }, String(rep.ErrorCode ?? 'deny').replace(/^Forbidden\./, ''));
        }),
      ),
    );
    out.append(el('h3', {}, `from ${ip}`), el('table', {}, el('thead', {}, head), el('tbody', {}, rows)));
  }
}

// ---------------------------------------------------------------- compare view

const beforeArea = () => $('#before');

// A big diff is still readable as text (formatImpact); the table shows this many rows.
const MAX_IMPACT_ROWS = 500;

function setBeforeStatus(kind, text) {
  const p = $('#before-status');
  p.dataset.state = kind;
  p.textContent = text;
}

/** The errors of the bundle that does not compile, as the editor lists them. */
function bundleErrorList(e) {
  return el(
    'ol',
    { class: 'errors' },
    (e.errors ?? []).map((x) =>
      el('li', {}, el('span', { class: 'where' }, `${x.path}${x.line ? ` · line ${x.line}, column ${x.column}` : ''}`), ' ', x.message),
    ),
  );
}

function impactRow(c) {
  const who = describePrincipal(c.Principal);
  const grows = widens(c);
  const decideButton = el('button', { type: 'button', class: 'quiet', title: 'Decide this request with the bundle on the left (after)' }, 'Decide it');
  decideButton.addEventListener('click', () => {
    const e = c.Example;
    setFormValues($('#request'), { clientKey: e.Caller, api: e.Api, resource: e.Resource ?? '', sourceIp: e.SourceIp, scope: e.Scope, time: e.Time });
    showView('decide');
    scheduleShare();
  });
  return el(
    'tr',
    {
      class: grows ? 'widens' : 'narrows',
      dataset: {
        before: describeOutcome(c.Before),
        after: describeOutcome(c.After),
        operation: c.Operation,
        resource: c.Resource.Name ?? c.Resource.Kind,
        addresses: c.Addresses.Summary,
      },
    },
    el('td', { class: 'change' }, el('span', {}, describeOutcome(c.Before)), ' → ', el('span', {}, describeOutcome(c.After))),
    el('td', { title: who.all.length > 1 ? who.all.join('\n') : null }, who.text, el('div', { class: 'sub' }, `scope ${c.Scope}`)),
    el(
      'td',
      {},
      describeOperation(c.Operation),
      c.Resource.Kind === 'None' ? null : el('div', { class: 'sub' }, `on ${describeResource(c.Operation, c.Resource)}`),
    ),
    el(
      'td',
      { class: 'addr', title: c.Addresses.Cidrs.join('\n') },
      c.Addresses.Summary,
      el('div', { class: 'sub time' }, describeTime(c.Time)),
    ),
    // A RAM-role example's caller is the AAP, not a client key the Decision view can use.
    el('td', { class: 'example' }, describeExample(c.Example),
      // The decision view takes a key id, not the key version a blob names.
      c.Principal.Kind === 'ClientKeys' && c.Operation !== 'KeyByVersion' && c.Operation !== 'Any' ? [el('br'), decideButton] : null),
  );
}

// The diff runs in a worker (lib/impact-worker.mjs); `seq` numbers the requests so that only the
// newest result is shown, and a busy worker is terminated rather than left computing a stale diff.
const impactJob = { worker: null, seq: 0, busy: false, noWorker: false };

function refreshCompare() {
  $('#bundle-role').hidden = state.view !== 'compare';
  const before = beforeArea().value;
  const after = bundleArea().value;
  const id = ++impactJob.seq;
  if (!before.trim()) {
    setBeforeStatus('pending', 'empty');
    pending($('#impact'), 'Paste the bundle as it was before the edit, or use the current one.');
    return showImpact({ id, where: 'none' }, false);
  }
  if (impactJob.noWorker) return showImpact(diffHere(id, before, after));
  if (impactJob.busy && impactJob.worker) {
    impactJob.worker.terminate();
    impactJob.worker = null;
  }
  if (!impactJob.worker) {
    try {
      impactJob.worker = new Worker(new URL('./lib/impact-worker.mjs', import.meta.url), { type: 'module' });
    } catch {
      impactJob.noWorker = true;
      return showImpact(diffHere(id, before, after));
    }
    impactJob.worker.onmessage = ({ data }) => {
      if (data.id !== impactJob.seq) return;
      impactJob.busy = false;
      // A worker that cannot load the module: compute here from now on.
      if (data.failed) {
        impactJob.noWorker = true;
        impactJob.worker.terminate();
        impactJob.worker = null;
        return showImpact(diffHere(data.id, beforeArea().value, bundleArea().value));
      }
      showImpact(data);
    };
    impactJob.worker.onerror = (ev) => {
      ev.preventDefault();
      impactJob.noWorker = true;
      impactJob.worker?.terminate();
      impactJob.worker = null;
      impactJob.busy = false;
      showImpact(diffHere(impactJob.seq, beforeArea().value, bundleArea().value));
    };
  }
  impactJob.busy = true;
  document.body.dataset.impact = 'busy';
  $('#impact').classList.add('stale');
  impactJob.worker.postMessage({ id, before, after });
}

/** The same computation on the page's thread (no module workers). */
function diffHere(id, before, after) {
  const t0 = performance.now();
  try {
    return { id, report: aap.diffBundles(before, after), ms: performance.now() - t0, where: 'page' };
  } catch (e) {
    return { id, where: 'page', error: { message: String(e?.message ?? e), bundle: e?.bundle ?? null, errors: e?.errors ?? [] } };
  }
}

function showImpact(result, render = true) {
  if (render) renderCompare(result);
  $('#impact').classList.remove('stale');
  document.body.dataset.impact = 'done';
  document.body.dataset.impactWhere = result.where;
  // Lets the browser tests wait for a recomputation.
  document.body.dataset.impactGen = String(Number(document.body.dataset.impactGen ?? 0) + 1);
}

function renderCompare({ report, ms, error: e }) {
  const out = $('#impact');
  if (e) {
    out.textContent = '';
    if (e.bundle === 'old') {
      setBeforeStatus('error', `${e.errors.length} error${e.errors.length === 1 ? '' : 's'}`);
      pending(out, 'The “before” bundle does not compile:');
      out.append(bundleErrorList(e));
    } else {
      setBeforeStatus('ok', 'valid');
      pending(out, e.bundle === 'new' ? 'Fix the bundle on the left (“after”) to compare.' : e.message);
    }
    return;
  }
  setBeforeStatus('ok', 'valid');
  out.textContent = '';
  const kind = { NoChange: 'allow', Narrowing: 'pending', Widening: 'deny' }[report.Verdict];
  const n = report.Changes.length;
  out.append(
    el(
      'div',
      { class: `banner ${kind}`, dataset: { verdict: report.Verdict, changes: String(n) } },
      el('span', { class: 'verdict' }, report.Verdict === 'NoChange' ? 'NO CHANGE' : report.Verdict.toUpperCase()),
      el('span', {}, VERDICTS[report.Verdict]),
      el('span', { class: 'muted' }, `${n} changed region${n === 1 ? '' : 's'} · ${ms.toFixed(1)} ms`),
    ),
  );
  if (report.Notes.length) out.append(el('ul', { class: 'notes' }, report.Notes.map((x) => el('li', {}, x))));
  if (n === 0) return;
  const head = el(
    'tr',
    {},
    ['Change', 'Who', 'Operation', 'Source addresses, time', 'Example request'].map((h) => el('th', {}, h)),
  );
  const rows = report.Changes.slice(0, MAX_IMPACT_ROWS).map(impactRow);
  out.append(el('table', { id: 'impact-table' }, el('thead', {}, head), el('tbody', {}, rows)));
  if (n > MAX_IMPACT_ROWS) out.append(el('p', { class: 'muted' }, `… and ${n - MAX_IMPACT_ROWS} more regions (aapkit diff lists them all).`));
}

/** Opens Compare with "before" = the current bundle, unless one is already there. */
function ensureBefore() {
  if (!beforeArea().value.trim()) beforeArea().value = bundleArea().value;
}

// ---------------------------------------------------------------- views, sharing, start-up

function refreshView() {
  if (state.view === 'decide') refreshDecision();
  else if (state.view === 'signed') refreshSigned();
  else if (state.view === 'compare') refreshCompare();
  else refreshMatrix();
}

function showView(v) {
  state.view = v;
  document.body.dataset.activeView = v;
  $('#bundle-role').hidden = v !== 'compare';
  if (v === 'compare') ensureBefore();
  $$('.tabs button').forEach((b) => b.setAttribute('aria-selected', String(b.dataset.view === v)));
  $$('.view').forEach((x) => (x.hidden = x.id !== `view-${v}`));
  refreshView();
}

function formValues(form) {
  const o = {};
  for (const e of form.elements) {
    if (!e.name || e.type === 'submit' || e.type === 'button') continue;
    if (e.type === 'radio') {
      if (e.checked) o[e.name] = e.value;
    } else o[e.name] = e.value;
  }
  return o;
}

function setFormValues(form, values) {
  for (const [k, v] of Object.entries(values ?? {})) {
    const e = form.elements[k];
    if (e && typeof v === 'string') e.value = v;
  }
}

function snapshot() {
  return {
    v: 1,
    view: state.view,
    bundle: bundleArea().value,
    request: formValues($('#request')),
    signed: formValues($('#signed')),
    matrix: formValues($('#matrix-form')),
    // "before" only when it differs: an unchanged one is the bundle again (ensureBefore).
    compare: beforeArea().value && beforeArea().value !== bundleArea().value ? { before: beforeArea().value } : undefined,
  };
}

let shareTimer;
function scheduleShare() {
  clearTimeout(shareTimer);
  shareTimer = setTimeout(async () => {
    const frag = await encodeState(snapshot());
    history.replaceState(null, '', `#${frag}`);
  }, 400);
}

async function copyShareLink() {
  clearTimeout(shareTimer);
  const url = `${location.origin}${location.pathname}#${await encodeState(snapshot())}`;
  history.replaceState(null, '', url);
  const status = $('#share-status');
  try {
    await navigator.clipboard.writeText(url);
    status.textContent = `Link copied (${url.length} characters).`;
  } catch {
    status.textContent = 'The link is in the address bar.';
  }
}

const DEFAULT_REQUEST = {
  clientKey: 'KAAP.8ad07158-93be-4a62-9075-0e777805ba5f',
  api: 'Encrypt',
  resource: 'key-hzz62f1cb66fs5en5kzqh',
  sourceIp: '10.20.3.41',
  scope: 'kst-hzz65f1e2c9d8b7a6x0q1',
  time: '2025-06-01T12:00:00Z',
};
const DEFAULT_MATRIX = {
  scope: 'kst-hzz65f1e2c9d8b7a6x0q1',
  time: '2025-06-01T12:00:00Z',
  resources: 'key-hzz62f1cb66fs5en5kzqh\nalias/payments\npayments/db-password\nkey-hzz63a7e9b1c0d2s4gnq8',
  ips: '10.20.3.41\n192.168.10.5',
};

async function loadExample() {
  const res = await fetch('example-bundle.json');
  if (!res.ok) throw new Error(`example-bundle.json: HTTP ${res.status}`);
  return res.text();
}

async function applyState(s) {
  bundleArea().value = s?.bundle ?? (await loadExample());
  setFormValues($('#request'), { ...DEFAULT_REQUEST, ...(s?.request ?? {}) });
  setFormValues($('#matrix-form'), { ...DEFAULT_MATRIX, ...(s?.matrix ?? {}) });
  setFormValues($('#signed'), s?.signed ?? {});
  beforeArea().value = typeof s?.compare?.before === 'string' ? s.compare.before : '';
  onBundleChange();
  if (s?.matrix?.aap) $('#matrix-aap').value = s.matrix.aap;
  showView(['decide', 'signed', 'matrix', 'compare'].includes(s?.view) ? s.view : 'decide');
}

async function main() {
  await init();
  state.catalogue = aap.apiCatalogue();
  const apiSel = $('#api-select');
  for (const a of state.catalogue) apiSel.append(el('option', { value: a.name }, a.name));

  let debounce;
  bundleArea().addEventListener('input', () => {
    renderGutter(new Map());
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      onBundleChange();
      scheduleShare();
    }, 120);
  });
  bundleArea().addEventListener('scroll', () => ($('#gutter').scrollTop = bundleArea().scrollTop));
  bundleArea().addEventListener('keydown', (ev) => {
    if (ev.key === 'Tab' && !ev.shiftKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      document.execCommand('insertText', false, '  ');
    }
  });
  for (const [form, fn] of [
    ['#request', refreshDecision],
    ['#signed', refreshSigned],
    ['#matrix-form', refreshMatrix],
  ]) {
    $(form).addEventListener('input', () => {
      fn();
      scheduleShare();
    });
    $(form).addEventListener('change', () => {
      fn();
      scheduleShare();
    });
    $(form).addEventListener('submit', (ev) => ev.preventDefault());
  }
  $$('.tabs button').forEach((b) =>
    b.addEventListener('click', () => {
      showView(b.dataset.view);
      scheduleShare();
    }),
  );
  let beforeDebounce;
  beforeArea().addEventListener('input', () => {
    clearTimeout(beforeDebounce);
    beforeDebounce = setTimeout(() => {
      refreshCompare();
      scheduleShare();
    }, 120);
  });
  $('#before-from-current').addEventListener('click', () => {
    beforeArea().value = bundleArea().value;
    refreshCompare();
    scheduleShare();
  });
  wireForms();
  $('#load-vector').addEventListener('click', loadVector);
  $('#load-rpc-vector').addEventListener('click', loadRpcVector);
  $('#share').addEventListener('click', copyShareLink);
  $('#reset').addEventListener('click', async () => {
    history.replaceState(null, '', location.pathname);
    await applyState(null);
  });
  window.addEventListener('hashchange', async () => {
    const s = await decodeState(location.hash);
    if (s) await applyState(s);
  });

  await applyState(await decodeState(location.hash));
  document.body.dataset.ready = 'true';
}

main().catch((e) => {
  const b = $('#load-error');
  b.hidden = false;
  b.textContent = `The playground could not start: ${e?.message ?? e}. Build the wasm package with scripts/build-wasm.sh.`;
  document.body.dataset.ready = 'error';
});
