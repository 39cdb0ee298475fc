//! Issue 10 §2 and §6: a real `aapkit serve` under hostile connections. Slowloris variants are
//! closed within their timeouts, the connection cap holds, stalled near-limit uploads keep the
//! process's RSS bounded while signed traffic keeps working, and an oversize body gets a clean
//! 413 with a protobuf `Error`.

use crate::cli_support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{s, Env};

const INSTANCE: &str = "kst-limits0000000000001";
const PASSWORD: &str = "Limits-passw0rd";

struct Setup {
    env: Env,
    key_id: String,
}

/// A data directory with an AES key and a client key allowed to use it from loopback.
fn setup() -> Setup {
    let env = Env::bare();
    env.ok(&["init", "--instance-id", INSTANCE]);
    let key_id = env.ok(&["key", "create", "--key-spec", "Aliyun_AES_256"])["KeyId"].as_str().unwrap().to_owned();
    env.ok(&["network-rule", "create", "--name", "lo", "--source-private-ip", r#"["127.0.0.1/32"]"#]);
    env.ok(&[
        "policy",
        "create",
        "--name",
        "p",
        "--permissions",
        r#"["RbacPermission/Template/CryptoServiceKeyUser"]"#,
        "--resources",
        &format!(r#"["key/{key_id}"]"#),
        "--kms-instance",
        INSTANCE,
        "--access-control-rules",
        r#"{"NetworkRules":["lo"]}"#,
    ]);
    env.ok(&["aap", "create", "--name", "app", "--policies", r#"["p"]"#]);
    let pw = env.write("pw", PASSWORD.as_bytes());
    let ck = env.path("ck.json");
    env.ok(&["client-key", "create", "--aap", "app", "--password-file", s(&pw), "--output", s(&ck)]);
    Setup { env, key_id }
}

struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start(setup: &Setup, plain: bool, extra: &[&str]) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut cmd = setup.env.command();
        cmd.args(["serve", "--listen", &addr.to_string(), "--enforcer", "native"]);
        if plain {
            cmd.arg("--plain-http");
        }
        cmd.args(extra).stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let t0 = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(child.try_wait().unwrap().is_none(), "aapkit serve exited");
            assert!(t0.elapsed() < Duration::from_secs(30), "aapkit serve did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Serve { child, addr }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Signed Encrypt calls (`aapkit loadgen`, signed like the SDKs) for `secs` seconds: (requests, errors).
    fn legit_traffic(&self, setup: &Setup, secs: u64) -> (u64, u64) {
        let out = Command::new(env!("CARGO_BIN_EXE_aapkit"))
            .args(["--json", "loadgen", "--plain-http", "--target", &self.addr.to_string()])
            .args(["--client-key-file", s(&setup.env.path("ck.json")), "--password-file", s(&setup.env.path("pw"))])
            .args(["--key-id", &setup.key_id, "--concurrency", "2", "--pool", "8", "--seconds", &secs.to_string()])
            .output()
            .unwrap();
        assert!(out.status.success(), "loadgen: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (v["Requests"].as_u64().unwrap(), v["Errors"].as_u64().unwrap())
    }
}

/// Reads until the server closes the connection; how long that took (`None`: still open at `limit`).
/// `poke` runs between reads (e.g. trickling one more header byte).
fn closed_within(stream: &mut TcpStream, limit: Duration, mut poke: impl FnMut(&mut TcpStream)) -> Option<Duration> {
    let t0 = Instant::now();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut buf = [0u8; 4096];
    while t0.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return Some(t0.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => poke(stream),
            Err(_) => return Some(t0.elapsed()), // reset
        }
    }
    None
}

fn request_head(content_length: usize) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nx-kms-apiname: Encrypt\r\ncontent-type: application/x-protobuf\r\n\
         content-length: {content_length}\r\n\r\n"
    )
}

/// Trickles `bytes` one every 200 ms until the server closes; how long that took.
fn trickle(c: &mut TcpStream, bytes: &[u8], limit: Duration) -> Option<Duration> {
    let mut next = 0;
    closed_within(c, limit, |c| {
        if let Some(b) = bytes.get(next) {
            let _ = c.write_all(&[*b]);
            next += 1;
        }
    })
}

/// Sends one complete (unauthenticated) request and reads the start of its answer.
fn one_exchange(c: &mut TcpStream) {
    c.write_all(request_head(0).as_bytes()).unwrap();
    let mut first = [0u8; 12];
    c.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"HTTP/1.1 "), "{first:?}");
}

#[test]
fn slowloris_headers_body_idle_and_silent_tls_are_closed_in_time() {
    let setup = setup();
    let headers =
        Serve::start(&setup, true, &["--header-read-timeout", "1", "--idle-timeout", "5", "--body-timeout", "1"]);
    let idle = Serve::start(&setup, true, &["--header-read-timeout", "5", "--idle-timeout", "1"]);
    let tls = Serve::start(&setup, false, &["--tls-handshake-timeout", "1"]);
    let limit = Duration::from_secs(8);
    let quick = |took: Option<Duration>| took.is_some_and(|t| t < Duration::from_secs(3));
    let head = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nx-kms-apiname: Encrypt\r\nx-padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    // Headers trickled one byte every 200 ms: cut off by the header timeout.
    let mut c = TcpStream::connect(headers.addr).unwrap();
    let took = trickle(&mut c, head, limit);
    assert!(quick(took), "trickled headers still open: {took:?}");

    // The same on a keep-alive connection after a complete exchange (the clock starts at the first byte).
    let mut c = TcpStream::connect(headers.addr).unwrap();
    one_exchange(&mut c);
    let took = trickle(&mut c, head, limit);
    assert!(quick(took), "trickled second request still open: {took:?}");

    // A body stalled mid-way: cut off by the body deadline.
    let mut c = TcpStream::connect(headers.addr).unwrap();
    c.write_all(request_head(1000).as_bytes()).unwrap();
    c.write_all(&[0u8; 100]).unwrap();
    let took = closed_within(&mut c, limit, |_| {});
    assert!(quick(took), "stalled body still open: {took:?}");

    // An idle keep-alive connection after a complete exchange.
    let mut c = TcpStream::connect(idle.addr).unwrap();
    one_exchange(&mut c);
    let took = closed_within(&mut c, limit, |_| {});
    assert!(quick(took), "idle keep-alive still open: {took:?}");

    // A TLS client that never sends its ClientHello.
    let mut c = TcpStream::connect(tls.addr).unwrap();
    let took = closed_within(&mut c, limit, |_| {});
    assert!(quick(took), "silent TLS connection still open: {took:?}");

    // Meanwhile signed traffic is served.
    let (n, errors) = headers.legit_traffic(&setup, 1);
    assert!(n > 0 && errors == 0, "legitimate traffic: {n} requests, {errors} errors");
}

#[test]
fn connection_cap_refuses_the_excess_and_recovers() {
    let setup = setup();
    let plain = Serve::start(&setup, true, &["--max-connections", "3", "--header-read-timeout", "30"]);
    std::thread::sleep(Duration::from_millis(500)); // the start-up probe's connection is gone
                                                    // Three served keep-alive connections (each proves it was accepted).
    let held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut c = TcpStream::connect(plain.addr).unwrap();
            one_exchange(&mut c);
            c
        })
        .collect();
    let mut excess = TcpStream::connect(plain.addr).unwrap();
    let took = closed_within(&mut excess, Duration::from_secs(3), |_| {});
    assert!(took.is_some_and(|t| t < Duration::from_secs(1)), "a 4th connection was kept: {took:?}");
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let (n, errors) = plain.legit_traffic(&setup, 1);
    assert!(n > 0 && errors == 0, "after the cap freed: {n} requests, {errors} errors");
}

/// 40 uploads of just under 3 MiB, each stalled 4 KiB before its end, against the default
/// limits (32 MiB of body budget): RSS grows by less than 64 MiB (on the old code: +173 MiB), and
/// signed requests keep succeeding meanwhile.
#[test]
fn stalled_near_limit_uploads_keep_rss_bounded() {
    const UPLOADS: usize = 40;
    const BODY: usize = (3 << 20) - 64;
    let setup = setup();
    let plain = Serve::start(&setup, true, &[]);
    let _ = plain.legit_traffic(&setup, 1); // warm allocator and caches
    let before = plain.rss_kib();
    let mut writers = Vec::new();
    for _ in 0..UPLOADS {
        let addr = plain.addr;
        writers.push(std::thread::spawn(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            c.set_write_timeout(Some(Duration::from_secs(4))).unwrap();
            let _ = c.write_all(request_head(BODY).as_bytes());
            let chunk = vec![0x41u8; 64 << 10];
            let mut sent = 0;
            while sent + chunk.len() < BODY - 4096 {
                if c.write_all(&chunk).is_err() {
                    break;
                }
                sent += chunk.len();
            }
            c // stalled, held open
        }));
    }
    let (n, errors) = plain.legit_traffic(&setup, 2);
    let conns: Vec<TcpStream> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let after = plain.rss_kib();
    let grown_mib = after.saturating_sub(before) / 1024;
    eprintln!("RSS grew by {grown_mib} MiB ({before} KiB -> {after} KiB)");
    assert!(grown_mib < 64, "RSS grew by {grown_mib} MiB ({before} KiB -> {after} KiB)");
    assert!(n > 0 && errors == 0, "legitimate traffic under stalled uploads: {n} requests, {errors} errors");
    drop(conns);
}

fn read_response(c: &mut TcpStream) -> (u16, String, Vec<u8>) {
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("no response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = head.get(9..12).unwrap().parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

#[test]
fn oversize_body_gets_a_clean_413_with_an_error_body() {
    let setup = setup();
    let plain = Serve::start(&setup, true, &[]);
    // Announced, and sent whole: the client finishes writing and reads the 413.
    for (head, body) in [
        (request_head((3 << 20) + 1), vec![0u8; (3 << 20) + 1]),
        // Unannounced (chunked): found out while reading.
        (
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nx-kms-apiname: Encrypt\r\ntransfer-encoding: chunked\r\n\r\n".into(),
            {
                let mut b = Vec::new();
                for _ in 0..4 {
                    b.extend_from_slice(format!("{:x}\r\n", 1 << 20).as_bytes());
                    b.extend(std::iter::repeat_n(0u8, 1 << 20));
                    b.extend_from_slice(b"\r\n");
                }
                b.extend_from_slice(b"0\r\n\r\n");
                b
            },
        ),
    ] {
        let mut c = TcpStream::connect(plain.addr).unwrap();
        let mut w = c.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            w.write_all(head.as_bytes())?;
            w.write_all(&body)
        });
        let (status, head, body) = read_response(&mut c);
        assert!(writer.join().unwrap().is_ok(), "the server stopped reading the body (the client meets a reset)");
        assert_eq!(status, 413, "{head}");
        assert!(head.contains("content-type: application/x-protobuf"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        let err = policy_core::wire::decode_error(&body).unwrap();
        assert_eq!(err.error_code, "RequestEntityTooLarge");
        assert_eq!(err.status_code, 413);
    }
}
