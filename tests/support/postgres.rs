//! A fresh PostgreSQL database per test, dropped afterwards (even when the
//! test fails). The server is the one the development and CI machines run
//! at 127.0.0.1:5432 (trust authentication); PRECIS_TEST_POSTGRES names
//! another (`postgres://USER@HOST:PORT`). An unreachable server fails the
//! test at once with one line saying so.
#![allow(dead_code)]

use std::time::Duration;

use tokio_postgres::NoTls;

pub struct TestDatabase {
    pub name: String,
    pub url: String,
    server: String,
}

fn server() -> String {
    std::env::var("PRECIS_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Runs one statement on the server's `postgres` database.
fn admin(server: &str, sql: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut config: tokio_postgres::Config = format!("{server}/postgres").parse().map_err(|e| format!("{e}"))?;
        config.connect_timeout(Duration::from_secs(5));
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| format!("{e:#}: {}", e.source().map(|s| s.to_string()).unwrap_or_default()))?;
        let connection = tokio::spawn(connection);
        let result = client.batch_execute(sql).await.map_err(|e| format!("{e}"));
        drop(client);
        let _ = connection.await;
        result
    })
}

use std::error::Error as _;

impl TestDatabase {
    pub fn create() -> TestDatabase {
        let server = server();
        let name = format!("precis_test_{:016x}", rand::random::<u64>());
        if let Err(e) = admin(&server, &format!("CREATE DATABASE {name}")) {
            panic!("PostgreSQL is not reachable at {server} ({e}); start it, or name another server in PRECIS_TEST_POSTGRES");
        }
        TestDatabase { url: format!("{server}/{name}"), name, server }
    }

    /// The database's URL with another host and port (a proxy in front of the server).
    pub fn url_via(&self, address: std::net::SocketAddr) -> String {
        let user = self.server.trim_start_matches("postgres://").split('@').next().unwrap_or("postgres");
        format!("postgres://{user}@{address}/{}", self.name)
    }

    /// Runs SQL in this database (for checks the queue API does not offer).
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await.expect("the test database");
            let connection = tokio::spawn(connection);
            let mut rows = Vec::new();
            for message in client.simple_query(sql).await.expect(sql) {
                if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                    rows.push((0..row.len()).map(|i| row.get(i).map(str::to_string)).collect());
                }
            }
            drop(client);
            let _ = connection.await;
            rows
        })
    }

    /// One number from SQL.
    pub fn count(&self, sql: &str) -> i64 {
        self.query(sql)[0][0].as_deref().unwrap_or("0").parse().unwrap()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Err(e) = admin(&self.server, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)) {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

/// The server's address (for a proxy in front of it).
pub fn server_address() -> std::net::SocketAddr {
    let server = server();
    let hostport =
        server.rsplit('@').next().unwrap().trim_start_matches("postgres://").split('/').next().unwrap().to_string();
    let hostport = if hostport.contains(':') { hostport } else { format!("{hostport}:5432") };
    std::net::ToSocketAddrs::to_socket_addrs(&hostport).unwrap().next().unwrap()
}
