// Runs a wasm32-wasip1 command module under node's WASI, e.g.
//   node --experimental-wasi-unstable-preview1 policy-core/examples/run-wasi.mjs verify_bench.wasm 2000
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import process from 'node:process';

const [file, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: [file, ...args], env: {} });
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
