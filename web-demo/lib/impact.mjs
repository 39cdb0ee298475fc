// Words for the rows of a change-impact report (policy-core's ImpactReport, from diffBundles).
// Pure functions, so they are tested without a browser; the same wording as `aapkit diff`.

/** `allow`, or `deny <code>` without the `Forbidden.` prefix every Instance API deny shares. */
export function describeOutcome(o) {
  if (o?.Decision === 'Allow') return 'allow';
  return `deny ${String(o?.Code ?? '').replace(/^Forbidden\./, '')}`.trim();
}

/** Who the region is about, and (for the tooltip) every client key of it. */
export function describePrincipal(p) {
  if (p?.Kind === 'RamRoleAap') return { text: `RAM-role sessions (AAP ${p.Aap})`, all: [] };
  const ids = p?.Ids ?? [];
  const keys = ids.length === 1 ? `client key ${ids[0]}` : `client keys ${ids[0]} and ${ids.length - 1} more`;
  const [a, b] = [p?.AapBefore, p?.AapAfter];
  let aap = '';
  if (a && b) aap = a === b ? `AAP ${a}` : `AAP ${a} → ${b}`;
  else if (a) aap = `AAP ${a}, removed`;
  else if (b) aap = `new, AAP ${b}`;
  return { text: aap ? `${keys} (${aap})` : keys, all: ids };
}

const OPERATIONS = {
  KeyOperation: 'key operations',
  KeyByVersion: 'Decrypt of a blob',
  GetSecretValue: 'GetSecretValue',
  GenerateRandom: 'GenerateRandom',
  Any: 'any operation',
};

export function describeOperation(op) {
  return OPERATIONS[op] ?? String(op);
}

/** The resource class of a region, as policy-core's text report words it. */
export function describeResource(op, r) {
  const kind = op === 'KeyOperation' || op === 'KeyByVersion' ? 'key' : op === 'GetSecretValue' ? 'secret' : '';
  switch (r?.Kind) {
    case 'None':
      return '–';
    case 'Named':
      return `${kind} ${r.Name}`;
    case 'Alias':
      return r.Name;
    case 'Prefix':
      return r.Name ? `other ${kind} names starting with ${r.Name}` : `other ${kind} names`;
    case 'Unmatched':
      return `${kind} names no policy lists`;
    case 'AnyKey':
      return 'any key';
    case 'Any':
      return 'any resource';
    case 'KeyVersion':
      return `key version ${r.Name}`;
    case 'UnknownVersion':
      return 'key versions no bundle has';
    default:
      return JSON.stringify(r);
  }
}

function iso(secs) {
  return new Date(secs * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/** The request times `[from, until)` of a region; "always" when open at both ends. */
export function describeTime(t) {
  const from = t?.From ?? null;
  const until = t?.Until ?? null;
  if (from === null && until === null) return 'always';
  if (until === null) return `from ${iso(from)}`;
  if (from === null) return `before ${iso(until)}`;
  return `${iso(from)} to ${iso(until)}`;
}

/** The example request of a region in one line. */
export function describeExample(e) {
  return `${e.Caller} ${e.Api}${e.Resource ? ` ${e.Resource}` : ''} from ${e.SourceIp} at ${e.Time} (scope ${e.Scope})`;
}

/** True when a deny becomes an allow. */
export function widens(c) {
  return c.After?.Decision === 'Allow' && c.Before?.Decision !== 'Allow';
}

export const VERDICTS = {
  NoChange: 'no decision changes',
  Narrowing: 'narrowing only: nothing is granted that was not before',
  Widening: 'widening: some requests that were denied are allowed',
};
