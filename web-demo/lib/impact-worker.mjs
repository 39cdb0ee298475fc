// Runs diffBundles off the page's thread: two unrelated big bundles can take seconds to compare,
// and the editor must stay responsive meanwhile. The page terminates this worker when a newer
// comparison is asked for before this one ends.
import init, { diffBundles } from '../pkg/aapkit_wasm.js';

const ready = init();

self.onmessage = async ({ data }) => {
  const { id, before, after } = data;
  try {
    await ready;
  } catch (e) {
    self.postMessage({ id, failed: `the wasm module did not load in the worker: ${e?.message ?? e}` });
    return;
  }
  const t0 = performance.now();
  try {
    const report = diffBundles(before, after);
    self.postMessage({ id, report, ms: performance.now() - t0, where: 'worker' });
  } catch (e) {
    // An Error does not cross postMessage with its extra properties: copy them.
    self.postMessage({ id, where: 'worker', error: { message: String(e?.message ?? e), bundle: e?.bundle ?? null, errors: e?.errors ?? [] } });
  }
};
