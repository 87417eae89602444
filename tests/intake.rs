//! The App's intake under attack, on loopback: idle sockets and half-sent
//! requests do not keep /healthz from answering; a body without a
//! signature is refused before it is read.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use precis::app::queue::{JobQueue, SqliteQueue};
use precis::app::{http::serve_connections, router, AppState, Metrics};

struct Server {
    address: std::net::SocketAddr,
    _data: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Server {
    let data = tempfile::tempdir().unwrap();
    let queue: Arc<dyn JobQueue> = Arc::new(SqliteQueue::open(&data.path().join("jobs.db")).unwrap());
    let state = AppState {
        secret: Arc::new(b"secret".to_vec()),
        queue,
        metrics: Arc::new(Metrics::default()),
        wake: Default::default(),
        metrics_token: None,
    };
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
