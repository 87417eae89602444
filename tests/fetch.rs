//! A git fetch against a host that accepts the connection and then sends
//! nothing ends, with an error, soon after the silence timeout.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use precis::app::queue::RepoRef;
use precis::app::repos::{GitHost, RepoCache, SILENCE_TIMEOUT};
use precis::github::{RepoName, Token};

#[test]
fn a_fetch_from_a_silent_host_ends_after_the_silence_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = GitHost::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    // Accepts every connection and never answers (the sockets stay open until the test ends).
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let data = tempfile::tempdir().unwrap();
    let cache = RepoCache::new(data.path().join("repos"), host);
    let repo = RepoRef { repo: RepoName { owner: "octo".into(), name: "demo".into() }, installation_id: None };
    let (done, outcome) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let fetched = cache.fetch(&repo, Some(&Token::new("t")), &["+refs/heads/*:refs/precis/heads/*".into()]);
        let _ = done.send(fetched.map_err(|e| format!("{e:#}")));
    });
    let limit = SILENCE_TIMEOUT + Duration::from_secs(15);
    let fetched = outcome.recv_timeout(limit).unwrap_or_else(|_| panic!("the fetch still ran after {limit:?}"));
    let error = fetched.expect_err("a silent host cannot give a fetch");
    assert!(started.elapsed() >= SILENCE_TIMEOUT - Duration::from_secs(1), "{error}");
    assert!(error.contains("timed out"), "{error}");
}
