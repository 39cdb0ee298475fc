#!/usr/bin/env python3
"""Sorts `perf script -F comm,period,ip,sym,dso` samples (with call chains) into the buckets of the
gateway's request path, for scripts/perf-breakdown.sh.

A sample goes to the first rule that matches:
  1. its thread: the audit writer thread (`aapkit-audit`) -> audit;
  2. its leaf frame: the filter's JIT-compiled guest code (named when the gateway writes a perf map,
     `AAPKIT_WASM_PERFMAP=1` with the `wasm-profiling` build feature; `[unknown]` in anonymous
     memory otherwise), the kernel (split by what the chain does there), the allocator (mimalloc),
     RSA big-number code (aws-lc's Montgomery multiplication), libc outside memcpy/memset;
  3. walking from the leaf towards the root, the first frame that names a component (rustls, hyper,
     wasmtime or proxy-wasm-host, policy-core, the kms crate, audit, metrics, quota, the work pool,
     the server's own request path);
  4. generic frames (tokio's scheduler, std) -> async runtime; anything else -> other.

Usage:
  perf script ... | perf-buckets.py --cpu-us 54.2 --label native-1 --json out.json
  perf-buckets.py --summarize buckets-*.json
"""

import argparse
import collections
import json
import re
import statistics
import sys

BUCKETS = [
    "TLS (rustls, aws-lc AES-GCM of records)",
    "HTTP (hyper, http headers)",
    "RSA verify (aws-lc, with its mallocs)",
    "enforcer: wasm, guest code (the filter's JIT code)",
    "enforcer: wasm, host side (wasmtime, proxy-wasm-host)",
    "enforcer: policy-core",
    "handler (kms crate, AES-GCM)",
    "server request path (aapkit_host::server)",
    "audit (row, queue, writer thread, SQLite)",
    "metrics (prometheus-client)",
    "quota / pre-auth",
    "work pool hand-off (spawn_blocking, user side)",
    "allocator (mimalloc; glibc malloc of C code)",
    "async runtime (tokio scheduler, timers, I/O driver)",
    "kernel: TCP send/recv over loopback",
    "kernel: futex (thread hand-offs, locks)",
    "kernel: epoll_wait, scheduling",
    "kernel: other (page faults, timers, irq)",
    "libc (syscall wrappers)",
    "other",
]

NET_SYSCALL = re.compile(r"__x64_sys_(write|writev|sendto|sendmsg|read|readv|recvfrom|recvmsg)\b")
NET_FRAME = re.compile(r"^(tcp_|__tcp_|ip_|__ip_|sock_|__sock_|sk_|__sk_|skb_|__skb_|__netif|net_rx|inet_|"
                       r"__dev_queue|loopback_|process_backlog)")
FUTEX = re.compile(r"__x64_sys_futex\b")
SCHED_FRAME = re.compile(r"^(__x64_sys_epoll|do_epoll|ep_poll|schedule|__schedule|finish_task_switch|"
                         r"__x64_sys_sched_yield|do_nanosleep|hrtimer_nanosleep)")
RSA_CHAIN = re.compile(r"rsa_verify|RSA_verify|verify_pkcs1v15|EVP_DigestVerify|aws_lc_rs::rsa::|"
                       r"foreign::verify_signature|VerifySignature")
ALLOC_LEAF = re.compile(r"^(_?mi_|__rust_alloc|__rust_dealloc|__rust_realloc|malloc$|free$|realloc$|calloc$|cfree$|"
                        r"__GI___libc_(malloc|free|realloc|calloc)|_int_(malloc|free|realloc)|tcache_|"
                        r"malloc_consolidate|unlink_chunk|__libc_(malloc|free|calloc|realloc))")
MEM_LIBC = re.compile(r"^(__)?mem(cpy|move|set|cmp)|^__mem|^bcmp|^__nss")

COMPONENT_RULES = [
    (re.compile(r"rustls"), "TLS (rustls, aws-lc AES-GCM of records)"),
    (re.compile(r"proxy_wasm_host|wasmtime|cranelift|aapkit_host::server::filter_enforcer|aapkit_host::server::foreign"),
     "enforcer: wasm, host side (wasmtime, proxy-wasm-host)"),
    (re.compile(r"policy_core|aapkit_host::server::native"), "enforcer: policy-core"),
    (re.compile(r"aapkit_kms"), "handler (kms crate, AES-GCM)"),
    (re.compile(r"audit|aapkit_store|sqlite|rusqlite"), "audit (row, queue, writer thread, SQLite)"),
    (re.compile(r"prometheus_client|aapkit_host::ops::metrics"), "metrics (prometheus-client)"),
    (re.compile(r"aapkit_host::server::quota|aapkit_host::server::preauth"), "quota / pre-auth"),
    (re.compile(r"aapkit_host::server::pool|spawn_blocking|blocking::pool::Spawner|blocking::pool::Inner::run"),
     "work pool hand-off (spawn_blocking, user side)"),
    (re.compile(r"hyper|httparse|^http::|<http::|h2::"), "HTTP (hyper, http headers)"),
    (re.compile(r"aapkit_host|uuid"), "server request path (aapkit_host::server)"),
]
GENERIC_FRAME = re.compile(r"^(alloc::|core::|<alloc::|<core::|std::|<std::|hashbrown|__rust|mi_|_mi_)")
ASYNC_WORKER = re.compile(r"tokio::runtime::scheduler::|tokio::runtime::io::driver|tokio::runtime::time::")
GENERIC_RULES = [
    (re.compile(r"tokio|mio::|parking_lot|std::"), "async runtime (tokio scheduler, timers, I/O driver)"),
]


def is_kernel(dso):
    return "kernel" in dso or dso.startswith("[k") or dso == "[vdso]"


PERF_MAP = re.compile(r"(^|/)perf-\d+\.map$")


def is_guest(sym, dso):
    """A frame of JIT code: named through the gateway's perf map, or unnamed in anonymous memory."""
    if PERF_MAP.search(dso):
        return True
    return sym == "[unknown]" and ("anon" in dso or "JIT" in dso or "jitted" in dso)


def classify(comm, frames):
    """frames: list of (sym, dso), leaf first."""
    if comm.startswith("aapkit-audit"):
        return "audit (row, queue, writer thread, SQLite)"
    if not frames:
        return "other"
    leaf_sym, leaf_dso = frames[0]
    if is_guest(leaf_sym, leaf_dso):
        return "enforcer: wasm, guest code (the filter's JIT code)"
    if is_kernel(leaf_dso):
        ksyms = [s for s, d in frames if is_kernel(d)]
        joined = " ".join(ksyms)
        if NET_SYSCALL.search(joined) or any(NET_FRAME.match(s) for s in ksyms):
            return "kernel: TCP send/recv over loopback"
        if FUTEX.search(joined):
            return "kernel: futex (thread hand-offs, locks)"
        if any(SCHED_FRAME.match(s) for s in ksyms):
            return "kernel: epoll_wait, scheduling"
        return "kernel: other (page faults, timers, irq)"
    if any(RSA_CHAIN.search(s) for s, _ in frames):
        return "RSA verify (aws-lc, with its mallocs)"
    if ALLOC_LEAF.search(leaf_sym):
        return "allocator (mimalloc; glibc malloc of C code)"
    if "libc" in leaf_dso and not MEM_LIBC.search(leaf_sym):
        return "libc (syscall wrappers)"
    for sym, dso in frames:
        # An async worker's own loop (tokio starts its workers on the blocking pool, so this
        # comes before the pool's rule): nothing more specific was found below it.
        if ASYNC_WORKER.search(sym):
            return "async runtime (tokio scheduler, timers, I/O driver)"
        if is_guest(sym, dso):
            return "enforcer: wasm, guest code (the filter's JIT code)"
        for pat, bucket in COMPONENT_RULES:
            if pat.search(sym):
                return bucket
    for sym, _ in frames:
        for pat, bucket in GENERIC_RULES:
            if pat.search(sym):
                return bucket
    return "other"


FRAME = re.compile(r"^\s+([0-9a-f]+)\s+(.*?)\s+\(([^()]*)\)\s*$")


def samples(lines):
    """Yields (comm, period, frames) from perf script output with call chains."""
    comm, period, frames = None, 1, []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if comm is not None:
                yield comm, period, frames
            comm, period, frames = None, 1, []
            continue
        if not line[0].isspace():
            if comm is not None:
                yield comm, period, frames
            parts = line.split()
            # `comm period` (the comm may contain spaces; the period is the last field)
            try:
                period = int(parts[-1])
                comm = " ".join(parts[:-1])
            except (ValueError, IndexError):
                comm, period = line.strip(), 1
            frames = []
            continue
        m = FRAME.match(line)
        if m:
            sym = re.sub(r"\+0x[0-9a-f]+$", "", m.group(2))
            frames.append((sym, m.group(3)))
    if comm is not None:
        yield comm, period, frames


def analyse(args):
    per_bucket = collections.Counter()
    leaf = collections.Counter()
    callers = collections.Counter()
    total = 0
    for comm, period, frames in samples(sys.stdin):
        b = classify(comm, frames)
        per_bucket[b] += period
        total += period
        if frames:
            leaf[(b, frames[0][0][:90])] += period
        if args.detail and b.startswith(args.detail):
            # The nearest frame that is not the allocator, the kernel, libc or a generic helper.
            for sym, dso in frames[1:]:
                if is_kernel(dso) or "libc" in dso or ALLOC_LEAF.search(sym) or GENERIC_FRAME.search(sym):
                    continue
                callers[sym[:110]] += period
                break
    if total == 0:
        print("no samples", file=sys.stderr)
        sys.exit(1)
    pct = {b: 100.0 * per_bucket[b] / total for b in BUCKETS}
    cpu = args.cpu_us
    print(f"{'bucket':58} {'%':>6} {'us/req':>7}")
    for b in BUCKETS:
        print(f"{b:58} {pct[b]:6.1f} {pct[b] * cpu / 100:7.2f}")
    print(f"{'total':58} {100.0:6.1f} {cpu:7.2f}")
    print("top leaf symbols (self time):")
    for (b, sym), n in leaf.most_common(args.top):
        print(f"  {100.0 * n / total:5.1f}%  {sym}  [{b.split(' (')[0]}]")
    if args.detail:
        print(f"nearest callers in buckets starting {args.detail!r}:")
        for sym, n in callers.most_common(args.top):
            print(f"  {100.0 * n / total:5.1f}%  {sym}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"label": args.label, "cpu_us": cpu, "pct": pct,
                       "top": [[b, s, 100.0 * n / total] for (b, s), n in leaf.most_common(60)]}, f)


def summarize(paths):
    """Medians per group (`<enforcer>-<build>`), the bucket table of each profiled group, and the
    ratios: wasm / native per build, and each build against the first one, round by round."""
    runs = collections.defaultdict(dict)
    for p in paths:
        with open(p) as f:
            r = json.load(f)
        group, rnd = r["label"].rsplit("-", 1)
        runs[group][rnd] = r
    order = sorted(runs, key=lambda g: (g.split("-", 1)[0] != "native", g))
    cpu = {}
    for g in order:
        each = [runs[g][k]["cpu_us"] for k in sorted(runs[g])]
        cpu[g] = statistics.median(each)
        print(f"{g}: server CPU per request {', '.join(f'{x:.1f}' for x in each)} us -> median {cpu[g]:.1f} us")
    profiled = [g for g in order if all(runs[g][k]["pct"] for k in runs[g])]
    if profiled:
        print(f"\n| bucket | {' | '.join(f'{g} us/req | %' for g in profiled)} |")
        print("|---|" + "---:|" * (2 * len(profiled)))
        for b in BUCKETS:
            cells = []
            for g in profiled:
                rs = list(runs[g].values())
                us = statistics.median(r["pct"].get(b, 0.0) * r["cpu_us"] / 100 for r in rs)
                pct = statistics.median(r["pct"].get(b, 0.0) for r in rs)
                cells.append(f"{us:.1f} | {pct:.1f}")
            print(f"| {b} | {' | '.join(cells)} |")
        print(f"| **server CPU per request (median)** | {' | '.join(f'**{cpu[g]:.1f}** | 100' for g in profiled)} |")
        print("(each cell: the median over rounds of share x that round's CPU; cells need not add up exactly)")

    def ratios(a, b):
        common = sorted(set(runs[a]) & set(runs[b]))
        return [runs[a][k]["cpu_us"] / runs[b][k]["cpu_us"] for k in common]

    builds = sorted({g.split("-", 1)[1] for g in order if "-" in g}, key=lambda x: order.index(f"native-{x}")
                    if f"native-{x}" in order else 99)
    print()
    for bld in builds:
        if f"wasm-{bld}" in runs and f"native-{bld}" in runs:
            xs = ratios(f"wasm-{bld}", f"native-{bld}")
            print(f"[{bld}] wasm / native CPU per request by round: {', '.join(f'{x:.3f}' for x in xs)}; "
                  f"median {statistics.median(xs):.3f} (wasm overhead {statistics.median(xs) - 1:+.1%})")
    for bld in builds[1:]:
        for enf in ("native", "wasm"):
            if f"{enf}-{bld}" in runs and f"{enf}-{builds[0]}" in runs:
                xs = ratios(f"{enf}-{bld}", f"{enf}-{builds[0]}")
                print(f"[{enf}] {bld} / {builds[0]} CPU per request by round: {', '.join(f'{x:.3f}' for x in xs)}; "
                      f"median {statistics.median(xs):.3f} ({statistics.median(xs) - 1:+.1%})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpu-us", type=float, default=100.0)
    ap.add_argument("--label", default="run")
    ap.add_argument("--json")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--summarize", nargs="*")
    ap.add_argument("--detail", help="also list the nearest callers of the samples in buckets starting so")
    args = ap.parse_args()
    if args.summarize is not None:
        summarize(args.summarize)
    else:
        analyse(args)


if __name__ == "__main__":
    main()
