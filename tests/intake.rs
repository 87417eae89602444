//! The App's intake under attack, on loopback: idle sockets and half-sent
//! requests do not keep /healthz from answering, nor does one source
//! holding sockets keep others out; a body without a well-formed signature
//! is refused before it is read, and bodies with a fake one stay within a
//! memory budget. Sources other than 127.0.0.1 are other loopback
//! addresses (127.0.0.0/8 is all loopback on Linux).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use precis::app::queue::{JobQueue, SqliteQueue};
use precis::app::repos::GitHost;
use precis::app::{http::serve_connections, router, App, AppState, Role, ServeSettings};

struct Server {
    address: std::net::SocketAddr,
    _data: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The webhook side as `precis serve --role web` builds it (its secret `secret`).
fn web_app(queue: Arc<dyn JobQueue>, data: &std::path::Path) -> AppState {
    let api = "https://api.github.com";
    let mut settings = ServeSettings::new(queue, data.to_path_buf(), api, GitHost::for_api(api).unwrap());
    settings.role = Role::Web;
    settings.secret = b"secret".to_vec();
    App::build(settings, None).unwrap().state
}

async fn start() -> Server {
    let data = tempfile::tempdir().unwrap();
    let queue: Arc<dyn JobQueue> = Arc::new(SqliteQueue::open(&data.path().join("jobs.db")).unwrap());
    let state = web_app(queue, data.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_connections(listener, router(state), async move {
        let _ = stopped.await;
    }));
    Server { address, _data: data, _stop: stop }
}

/// One request on a fresh connection; the answer's text, if one came within `wait`.
fn request(address: std::net::SocketAddr, text: &str, wait: Duration) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&address, wait).ok()?;
    stream.set_read_timeout(Some(wait)).ok()?;
    stream.write_all(text.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer).filter(|a| !a.is_empty())
}

const HEALTH: &str = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn idle_sockets_and_half_sent_requests_do_not_stop_healthz() {
    let server = start().await;
    let address = server.address;
    tokio::task::spawn_blocking(move || {
        // 1,500 sockets that never finish their headers, far over the connection cap.
        let mut held = Vec::new();
        for i in 0..1_500 {
            let Ok(mut stream) = TcpStream::connect(address) else { continue };
            if i % 2 == 0 {
                let _ = stream.write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Hub-Sig");
            }
            held.push(stream);
        }
        // Within a few header timeouts /healthz answers again, while they are still open.
        let start = Instant::now();
        let answer = loop {
            if let Some(answer) = request(address, HEALTH, Duration::from_secs(2)) {
                break answer;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "/healthz did not answer within 30 s");
            std::thread::sleep(Duration::from_millis(200));
        };
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer}");
        drop(held);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsigned_body_is_refused_before_it_is_read() {
    let server = start().await;
    let address = server.address;
    tokio::task::spawn_blocking(move || {
        // Announces 25 MB, sends none of it: the answer comes at once.
        let head = "POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: ping\r\nX-GitHub-Delivery: d\r\nContent-Type: application/json\r\nContent-Length: 26214400\r\n\r\n";
        let answer = request(address, head, Duration::from_secs(5)).expect("an answer without the body");
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    })
    .await
    .unwrap();
}

/// A connection to `address` from the loopback address `source`.
async fn connect_from(source: IpAddr, address: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(address).await
}

/// One request from `source` on a fresh connection; the answer, if one came within `wait`.
async fn request_from(source: IpAddr, address: SocketAddr, text: &[u8], wait: Duration) -> Option<String> {
    let exchange = async {
        let mut stream = connect_from(source, address).await.ok()?;
        stream.write_all(text).await.ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        Some(String::from_utf8_lossy(&answer).into_owned()).filter(|a| !a.is_empty())
    };
    tokio::time::timeout(wait, exchange).await.ok().flatten()
}

fn signed_ping(delivery: &str) -> Vec<u8> {
    let body = r#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let signature = precis::github::signature::sign(b"secret", body.as_bytes());
    format!(
        "POST /webhook HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-GitHub-Event: ping\r\nX-GitHub-Delivery: {delivery}\r\nX-Hub-Signature-256: {signature}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_source_holding_sockets_does_not_keep_others_out() {
    let server = start().await;
    let address = server.address;
    // 700 idle sockets from 127.0.0.1, each opened again 0.1 s after the server closes it.
    let stop = Arc::new(AtomicBool::new(false));
    let holders: Vec<_> = (0..700)
        .map(|_| {
            let stop = stop.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(mut stream) = connect_from(IpAddr::from([127, 0, 0, 1]), address).await {
                        let mut byte = [0u8; 1];
                        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte)).await;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Another source gets every probe and its delivery through, at once.
    let prober = IpAddr::from([127, 0, 0, 2]);
    for probe in 0..20 {
        let answer = request_from(prober, address, HEALTH.as_bytes(), Duration::from_secs(2)).await;
        let answer = answer.unwrap_or_else(|| panic!("/healthz probe {probe} got no answer within 2 s"));
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = request_from(prober, address, &signed_ping("held-1"), Duration::from_secs(2)).await;
    assert!(answer.as_deref().is_some_and(|a| a.starts_with("HTTP/1.1 202")), "{answer:?}");
    stop.store(true, Ordering::Relaxed);
    for holder in holders {
        let _ = holder.await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_connection_is_closed_within_seconds() {
    let server = start().await;
    let mut stream = connect_from(IpAddr::from([127, 0, 0, 3]), server.address).await.unwrap();
    let opened = Instant::now();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the server did not close an idle connection: {read:?}");
    assert!(opened.elapsed() < Duration::from_secs(3), "closed only after {:?}", opened.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_signature_is_refused_before_the_body_is_read() {
    let server = start().await;
    let address = server.address;
    for signature in ["sha256=", "sha256=abc", "sha256=zz", &format!("sha256={}", "0".repeat(66))] {
        let head = format!(
            "POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: ping\r\nX-GitHub-Delivery: d\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: 26214400\r\n\r\n"
        );
        let answer =
            tokio::task::spawn_blocking(move || request(address, &head, Duration::from_secs(5))).await.unwrap();
        assert!(answer.as_deref().is_some_and(|a| a.starts_with("HTTP/1.1 401")), "{signature}: {answer:?}");
    }
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_with_a_fake_signature_stay_within_a_memory_budget() {
    const CLIENTS: u8 = 120;
    const BODY: usize = 8 * 1024 * 1024;
    static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
    let server = start().await;
    let address = server.address;
    let before = rss_bytes();
    let peak = Arc::new(AtomicU64::new(before));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = std::thread::spawn({
        let (peak, sampling) = (peak.clone(), sampling.clone());
        move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    // 120 sources (no per-source cap applies), each with an 8 MB body and a well-formed, wrong signature.
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            tokio::spawn(async move {
                let exchange = async {
                    let mut stream = connect_from(IpAddr::from([127, 0, 1, i + 1]), address).await.ok()?;
                    let head = format!(
                        "POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: ping\r\nX-GitHub-Delivery: fake-{i}\r\nX-Hub-Signature-256: sha256={}\r\nContent-Length: {BODY}\r\n\r\n",
                        "0".repeat(64)
                    );
                    stream.write_all(head.as_bytes()).await.ok()?;
                    for _ in 0..BODY / ZEROS.len() {
                        if stream.write_all(&ZEROS).await.is_err() {
                            break;
                        }
                    }
                    let mut answer = Vec::new();
                    let _ = stream.read_to_end(&mut answer).await;
                    Some(String::from_utf8_lossy(&answer).lines().next().unwrap_or("").to_string())
                };
                tokio::time::timeout(Duration::from_secs(60), exchange).await.ok().flatten()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for client in clients {
        statuses.push(client.await.unwrap().unwrap_or_default());
    }
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let added = peak.load(Ordering::Relaxed).saturating_sub(before);
    // None is accepted; some were read whole and refused (the budget was used, not bypassed).
    assert!(!statuses.iter().any(|s| s.starts_with("HTTP/1.1 2")), "{statuses:?}");
    assert!(statuses.iter().any(|s| s.starts_with("HTTP/1.1 401")), "{statuses:?}");
    eprintln!("120 fake-signed 8 MB bodies added {} MB RSS", added / 1_000_000);
    assert!(added < 200_000_000, "120 fake-signed bodies added {} MB RSS", added / 1_000_000);
}
